/**
 * Hostile HTTP/2 input against an h2 listener (README "HTTP/2 and HTTP/3", hostile input): what
 * each runtime's server stops by itself (rapid reset, CONTINUATION floods, header lists past its
 * advertised limit, streams past its concurrency limit), and the listener limits tandem applies
 * on top. Frames come from a raw client (test/support/h2-frames.ts) over h2c with prior knowledge,
 * which reaches the same HTTP/2 server code as TLS does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startBackend } from "../support/backends.ts";
import { ERROR, H2Connection } from "../support/h2-frames.ts";
import { freePort } from "../support/ports.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";

const LIMIT = { timeout: 60_000 };

type Fields = [string, string][];
const request = (path: string, extra: Fields = []): Fields => [[":method", "GET"], [":scheme", "http"], [":path", path], [":authority", "a.test"], ...extra];

/** Runs `attack` against a fresh tandem with an h2 listener; checks after it that tandem still answers. */
async function withTandem(listener: Record<string, unknown>, attack: (port: number, memberRequests: (path: string) => number) => Promise<void>): Promise<void> {
  const seen = new Map<string, number>();
  const backend = await startBackend("m1", (incoming, response) => {
    const path = incoming.url ?? "";
    seen.set(path, (seen.get(path) ?? 0) + 1);
    response.end("ok\n");
  });
  const port = await freePort();
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem({
      listeners: [{ address: `127.0.0.1:${port}`, protocols: ["http/1.1", "h2"], ...listener }],
      workers: 1,
      accessLog: false,
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    });
    await attack(port, (path) => seen.get(path) ?? 0);
    const after = await H2Connection.open(port);
    after.send(after.headers(1, request("/after"), { endStream: true }));
    await after.until(() => after.received.headers.has(1), 10_000, "an answer after the attack");
    assert.equal(after.received.headers.get(1), 200);
    after.close();
  } finally {
    if (tandem) assert.equal(await tandem.stop(), 0, tandem.stderr());
    await backend.close();
  }
}

test(`rapid reset (CVE-2023-44487) on ${runtime}: the connection is closed before 10000 of 20000 streams, few reach the member`, LIMIT, async () => {
  await withTandem({}, async (port, memberRequests) => {
    const h2 = await H2Connection.open(port);
    let streams = 0;
    // Up to 20000 streams, in batches with a pause for the server's GOAWAY or close to be read.
    for (let batch = 0; batch < 200 && !h2.received.closed && !h2.received.goAway; batch++) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 100; i++, streams++) frames.push(h2.headers(2 * streams + 1, request("/reset"), { endStream: true }), h2.reset(2 * streams + 1));
      h2.send(...frames);
      await h2.drained(5_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await h2.until(() => h2.received.closed, 10_000, "the server to close the connection");
    // A GOAWAY names the last stream the server took; the client may have sent more meanwhile.
    const { goAway } = h2.received;
    const taken = goAway ? (goAway.lastStreamId + 1) / 2 : streams;
    console.log(`[${runtime}] rapid reset: ${streams} streams sent, the server took ${taken} and closed, ${memberRequests("/reset")} reached the member, ${JSON.stringify(h2.summary())}`);
    assert.ok(taken < 10_000, `the server took ${taken} streams before closing`);
    assert.ok(memberRequests("/reset") < 500, `${memberRequests("/reset")} reset streams reached the member`);
    h2.close();
  });
});

test(`CONTINUATION flood on ${runtime}: the connection is closed before 20 MB of header block; a short CONTINUATION sequence is answered`, LIMIT, async () => {
  await withTandem({}, async (port, memberRequests) => {
    // Control: HEADERS and three CONTINUATION frames make one ordinary request.
    const control = await H2Connection.open(port);
    control.send(control.headers(1, request("/continued"), { endStream: true, endHeaders: false }));
    for (let i = 0; i < 3; i++) control.send(control.continuation(1, [[`x-part-${i}`, "v".repeat(100)]], i === 2));
    await control.until(() => control.received.headers.has(1), 10_000, "the continued request's answer");
    assert.equal(control.received.headers.get(1), 200);
    control.close();

    const h2 = await H2Connection.open(port);
    h2.send(h2.headers(1, request("/flood"), { endStream: true, endHeaders: false }));
    const value = "x".repeat(1000);
    let frames = 0;
    for (; frames < 20_000 && !h2.received.closed && !h2.received.goAway; frames++) {
      h2.send(h2.continuation(1, [[`x-flood-${frames % 50}`, value]], false));
      if (frames % 100 === 0) await h2.drained(5_000);
    }
    await h2.until(() => h2.received.closed, 10_000, "the server to close the connection");
    console.log(`[${runtime}] CONTINUATION flood: closed after ${frames} frames of 1 kB, ${JSON.stringify(h2.summary())}`);
    assert.ok(frames < 20_000, `${frames} CONTINUATION frames taken`);
    assert.equal(memberRequests("/flood"), 0);
    h2.close();
  });
});

test(`oversized header lists on ${runtime}: past the runtime's limit the connection goes; under it, tandem's limits answer 431`, LIMIT, async () => {
  await withTandem({ limits: { headBytes: 4096, fields: 50 } }, async (port, memberRequests) => {
    const huge = await H2Connection.open(port);
    // The server's advertised SETTINGS_MAX_HEADER_LIST_SIZE (6), when it sends one.
    const advertised = huge.received.settings.get(6);
    huge.send(huge.headers(1, request("/huge"), { endStream: true, endHeaders: false }));
    for (let i = 0; i < 10; i++) huge.send(huge.continuation(1, [[`x-huge-${i}`, "y".repeat(10_000)]], i === 9));
    await huge.until(() => huge.received.closed || huge.received.resets.has(1) || huge.received.headers.has(1), 10_000, "the 100 kB header list's fate");
    console.log(`[${runtime}] 100 kB header list: ${JSON.stringify(huge.summary())}, status ${huge.received.headers.get(1)}`);
    assert.notEqual(huge.received.headers.get(1), 200);
    assert.ok(advertised === undefined || advertised < 100_000, `advertised ${advertised}`);
    huge.close();

    // Each on its own connection: the first answer's status is the one the client can read
    // without a full HPACK decoder (later ones may refer to the dynamic table).
    const status = async (fields: Fields) => {
      const h2 = await H2Connection.open(port);
      h2.send(h2.headers(1, fields, { endStream: true }));
      await h2.until(() => h2.received.headers.has(1), 10_000, `the answer to ${fields[2][1]}`);
      h2.close();
      return h2.received.headers.get(1);
    };
    // 8 kB in 4 fields: under the runtimes' 16 kB, over the listener's 4096-byte headBytes.
    assert.equal(await status(request("/long", [["x-a", "a".repeat(2000)], ["x-b", "b".repeat(2000)], ["x-c", "c".repeat(2000)], ["x-d", "d".repeat(2000)]])), 431);
    // 60 short fields: over the listener's 50.
    assert.equal(await status(request("/many", Array.from({ length: 60 }, (_, i): [string, string] => [`x-field-${i}`, "1"]))), 431);
    // Control: a short request passes.
    assert.equal(await status(request("/short", [["x-a", "a"]])), 200);
    assert.deepEqual([memberRequests("/huge"), memberRequests("/long"), memberRequests("/many"), memberRequests("/short")], [0, 0, 0, 1]);
  });
});

test(`stream-count abuse on ${runtime}: streams past the advertised concurrency limit are refused`, LIMIT, async () => {
  await withTandem({}, async (port, memberRequests) => {
    const h2 = await H2Connection.open(port);
    const limit = h2.received.settings.get(3);
    assert.ok(limit !== undefined && limit <= 1000, `SETTINGS_MAX_CONCURRENT_STREAMS ${limit}`);
    // Requests whose bodies never come: every stream stays open.
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) frames.push(h2.headers(2 * i + 1, request("/open"), { endStream: false }));
    h2.send(...frames);
    await h2.until(() => h2.received.closed || h2.received.resets.size >= 2000 - limit - 50, 10_000, "refusals");
    const refused = [...h2.received.resets.values()].filter((code) => code === ERROR.REFUSED_STREAM).length;
    console.log(`[${runtime}] 2000 open streams: limit ${limit}, ${refused} refused, ${memberRequests("/open")} reached the member, ${JSON.stringify(h2.summary())}`);
    assert.ok(h2.received.closed || refused >= 2000 - limit - 50, `${refused} refused`);
    assert.ok(memberRequests("/open") <= 2000 - refused, `${memberRequests("/open")} streams reached the member`);
    h2.close();
  });
});
