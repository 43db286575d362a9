import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ByteWriter,
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameError,
  FrameSplitter,
  MAX_FRAME_BYTES,
} from "../../../../core/cluster/replication/frames.ts";
import { deriveSessionKey, FROM_INITIATOR, FROM_RESPONDER, importClusterKey } from "../../../../core/cluster/replication/frame-auth.ts";
import { FramedConnection } from "../../../../core/cluster/replication/framed-connection.ts";
import { streamPair } from "../../../support/memory-stream.ts";

const KEY = "0123456789abcdef0123456789abcdef";

const frames: Frame[] = [
  {
    type: "hello",
    version: 1,
    cluster: "shop",
    node: "lb1",
    nonce: new Uint8Array(16).fill(7),
    bootId: "b00t",
    resumeBootId: "",
    resumeId: 2 ** 40 + 3,
  },
  {
    type: "updates",
    firstId: 17,
    records: [
      { kind: "stick", pool: "app", key: "SESSION-é", member: "a", expiresAt: 1_700_000_000_123.5, origin: "lb1" },
      { kind: "unstick", pool: "app", key: "k", at: 1_700_000_000_000, origin: "lb2" },
      { kind: "admin", pool: "app", member: "b", activation: "disabled", actor: "ops", at: 5, origin: "lb1" },
      { kind: "admin", pool: "app", member: "b", weight: 0, actor: "", at: 6, origin: "lb1" },
      { kind: "rate", limit: "per-client", key: "x".repeat(256) + "é", windowStart: 1_700_000_000_000.25, count: 2 ** 32 - 1, origin: "lb2" },
    ],
  },
  { type: "ack", id: 0 },
  { type: "heartbeat" },
  { type: "resync-request" },
  { type: "resync-chunk", records: [] },
  { type: "resync-end", id: 99 },
  { type: "refuse", reason: "unknown node" },
];

const malformed = (body: Uint8Array) =>
  assert.throws(() => decodeFrame(body), (error: unknown) => error instanceof FrameError && error.reason === "malformed");

describe("frame codec", () => {
  test("every frame type survives a round trip", () => {
    for (const frame of frames) assert.deepEqual(decodeFrame(encodeFrame(frame)), frame, frame.type);
  });

  test("a record names no fields beyond its schema, whatever the bytes say", () => {
    const decoded = decodeFrame(encodeFrame({
      type: "updates",
      firstId: 1,
      records: [{ kind: "stick", pool: "__proto__", key: "constructor", member: "prototype", expiresAt: 1, origin: "x" }],
    }));
    assert.equal(Object.getPrototypeOf({}).polluted, undefined);
    assert.deepEqual(Object.keys((decoded as { records: object[] }).records[0]), ["kind", "pool", "key", "member", "expiresAt", "origin"]);
  });

  test("truncated, extended, unknown and garbage bodies are malformed", () => {
    for (const frame of frames) {
      const body = encodeFrame(frame);
      for (let cut = 0; cut < body.length; cut++) malformed(body.subarray(0, cut));
      malformed(new Uint8Array([...body, 0]));
    }
    malformed(new Uint8Array([0]));
    malformed(new Uint8Array([200, 1, 2]));
    // A record count far beyond what the bytes can hold is refused before anything is allocated.
    malformed(new Uint8Array([6, 0xff, 0xff, 0xff, 0xff]));
    let seed = 1;
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(1 + (i % 40)).map(() => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff);
      try {
        decodeFrame(bytes);
      } catch (error) {
        assert.ok(error instanceof FrameError, String(error));
      }
    }
  });

  test("strings are length-limited and must be UTF-8; times must be finite", () => {
    assert.throws(() => encodeFrame({
      type: "updates",
      firstId: 1,
      records: [{ kind: "stick", pool: "p".repeat(65), key: "k", member: "m", expiresAt: 1, origin: "o" }],
    }), RangeError);
    const refuse = encodeFrame({ type: "refuse", reason: "ab" }).slice();
    refuse[3] = 0xff;
    malformed(refuse);
    const out = new ByteWriter();
    out.u8(3);
    out.f64(NaN);
    malformed(out.view());
  });
});

describe("frame splitter", () => {
  test("reassembles frames split anywhere and refuses a length over the cap", () => {
    const splitter = new FrameSplitter();
    const wire = new Uint8Array([0, 0, 0, 2, 9, 8, 0, 0, 0, 1, 7]);
    const out: number[][] = [];
    for (const byte of wire) {
      splitter.push(new Uint8Array([byte]));
      for (let frame = splitter.next(); frame; frame = splitter.next()) out.push([...frame]);
    }
    assert.deepEqual(out, [[9, 8], [7]]);
    const big = new FrameSplitter();
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
    big.push(prefix);
    assert.throws(() => big.next(), (error: unknown) => error instanceof FrameError && error.reason === "oversized");
  });
});

describe("framed connection with a key", () => {
  async function pair() {
    const key = await importClusterKey(KEY);
    const [a, b] = streamPair();
    return { key, a, b, sender: new FramedConnection(a, FROM_INITIATOR, key), receiver: new FramedConnection(b, FROM_RESPONDER, key) };
  }

  test("frames signed with the session key are read back in order", async () => {
    const { key, sender, receiver } = await pair();
    const session = await deriveSessionKey(key, new Uint8Array(16).fill(1), new Uint8Array(16).fill(2));
    sender.useKey(session);
    receiver.useKey(session);
    for (const frame of frames) void sender.send(frame);
    for (const frame of frames) assert.deepEqual(await receiver.read(), frame);
  });

  test("a replayed frame fails: the counter moved on", async () => {
    const { a, sender, receiver } = await pair();
    await sender.send({ type: "ack", id: 1 });
    const [spyA, spyB] = streamPair();
    const recorder = new FramedConnection(spyA, FROM_INITIATOR, await importClusterKey(KEY));
    await recorder.send({ type: "ack", id: 1 });
    const recorded = (await spyB.read())!;
    assert.deepEqual(await receiver.read(), { type: "ack", id: 1 });
    a.write(recorded);
    await assert.rejects(receiver.read(), (error: unknown) => error instanceof FrameError && error.reason === "bad-mac");
  });

  test("a frame signed with another key, or reflected back to its sender, fails", async () => {
    const captured = async (key: string, direction: typeof FROM_INITIATOR | typeof FROM_RESPONDER) => {
      const [x, y] = streamPair();
      await new FramedConnection(x, direction, await importClusterKey(key)).send({ type: "heartbeat" });
      return (await y.read())!;
    };
    const refusedBy = async (bytes: Uint8Array, direction: typeof FROM_INITIATOR | typeof FROM_RESPONDER) => {
      const [c, d] = streamPair();
      const victim = new FramedConnection(d, direction, await importClusterKey(KEY));
      c.write(bytes);
      await assert.rejects(victim.read(), (error: unknown) => error instanceof FrameError && error.reason === "bad-mac");
    };
    await refusedBy(await captured("another key of at least 32 chars!!", FROM_INITIATOR), FROM_RESPONDER);
    // A responder's own frame sent back to a responder carries the other direction's MAC.
    await refusedBy(await captured(KEY, FROM_RESPONDER), FROM_RESPONDER);
  });
});
