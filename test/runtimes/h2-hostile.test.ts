/**
 * Hostile HTTP/2 input against an h2 listener (README "HTTP/2 and HTTP/3", hostile input): what
 * each runtime's server stops by itself (rapid reset, CONTINUATION floods, header lists past its
 * advertised limit, streams past its concurrency limit), and the listener limits and timeouts
 * tandem applies on top (slow request bodies, answers not taken, heads that never end). Frames come from a raw client (test/support/h2-frames.ts) over h2c with prior knowledge,
 * which reaches the same HTTP/2 server code as TLS does.
 */
import { connect } from "node:net";
import { test } from "node:test";
import assert from "node:assert/strict";
import { startBackend } from "../support/backends.ts";
import { ERROR, H2Connection } from "../support/h2-frames.ts";
import { freePort } from "../support/ports.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";
import { printedSkip } from "../support/tools.ts";

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

/** What the member saw: request bodies it got whole or cut, and answers it could not finish writing. */
interface MemberView {
  uploads: Map<string, "complete" | "cut">;
  cutAnswers: string[];
}

const ANSWER_BYTES = 16 * 1024 * 1024;

/** A tandem with 1 s request and body timeouts on an h2 listener (keepAlive 60 s), its access log and admin plane on, and a member that reads uploads and writes a 16 MiB /big. */
async function withTimeouts(run: (port: number, tandem: TandemProcess, member: MemberView, admin: string) => Promise<void>): Promise<void> {
  const view: MemberView = { uploads: new Map(), cutAnswers: [] };
  const backend = await startBackend("m1", (incoming, response) => {
    const path = incoming.url ?? "";
    if (path === "/big") {
      const piece = new Uint8Array(64 * 1024).fill(120);
      let written = 0;
      response.on("close", () => void (response.writableFinished || view.cutAnswers.push(path)));
      const write = () => {
        while (written < ANSWER_BYTES && !response.destroyed) {
          written += piece.length;
          if (!response.write(piece)) return void response.once("drain", write);
        }
        if (!response.destroyed) response.end();
      };
      return write();
    }
    let ended = false;
    incoming.on("data", () => {});
    incoming.on("end", () => {
      ended = true;
      view.uploads.set(path, "complete");
      response.end("ok\n");
    });
    incoming.on("close", () => void (ended || view.uploads.set(path, "cut")));
  });
  const port = await freePort();
  const admin = `127.0.0.1:${await freePort()}`;
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem({
      listeners: [{ address: `127.0.0.1:${port}`, protocols: ["http/1.1", "h2"], timeouts: { request: "1s", keepAlive: "60s", body: "1s" } }],
      workers: 1,
      admin: { address: admin },
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
    });
    await run(port, tandem, view, admin);
  } finally {
    if (tandem) assert.equal(await tandem.stop(), 0, tandem.stderr());
    await backend.close();
  }
}

/** tandem_client_timeouts_total of the listener on `port` for `kind`. */
async function clientTimeouts(admin: string, port: number, kind: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const found = new RegExp(`^tandem_client_timeouts_total\\{listener="127\\.0\\.0\\.1:${port}",kind="${kind}"\\} (\\d+)$`, "m").exec(text);
  return Number(found?.[1] ?? 0);
}

const upload = (path: string, length: number): Fields => [[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "a.test"], ["content-length", `${length}`]];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test(`a request body trickled slower than timeouts.body on ${runtime}: the upload is cut (408 or reset, cD), one at a steady pace completes`, LIMIT, async () => {
  await withTimeouts(async (port, tandem, member, admin) => {
    // Control: five bytes 400 ms apart take 2 s in all, longer than the 1 s body timeout, never silent for it.
    const paced = await H2Connection.open(port);
    paced.send(paced.headers(1, upload("/paced", 5)));
    for (let i = 0; i < 5; i++) {
      await sleep(400);
      paced.send(paced.data(1, new Uint8Array([97 + i]), i === 4));
    }
    await paced.until(() => paced.received.ended.has(1), 15_000, "the paced upload's answer");
    assert.equal(paced.received.headers.get(1), 200);
    assert.equal(member.uploads.get("/paced"), "complete");
    paced.close();

    const stalled = await H2Connection.open(port);
    stalled.send(stalled.headers(1, upload("/stalled", 10)), stalled.data(1, new TextEncoder().encode("abc")));
    const line = await tandem.waitForLine((l) => l.path === "/stalled", 20_000);
    await stalled.until(() => stalled.received.ended.has(1) || stalled.received.resets.has(1) || stalled.received.closed, 15_000, "the stalled stream's end");
    console.log(`[${runtime}] stalled upload: access line ${line.status} ${line.termination}, client ${JSON.stringify(stalled.summary())}`);
    assert.deepEqual([line.status, line.termination], [408, "cD"]);
    assert.equal(await clientTimeouts(admin, port, "body"), 1);
    await stalled.until(() => member.uploads.get("/stalled") === "cut", 15_000, "the member to see the upload cut");
    stalled.close();
  });
});

test(`a client that stops taking a large answer on ${runtime}: cut after timeouts.body (cD), the member connection closed; a reading client gets all of it`, LIMIT, async () => {
  await withTimeouts(async (port, tandem, member) => {
    // Control: a client that reads (WINDOW_UPDATE for every DATA frame) gets the whole answer.
    const reading = await H2Connection.open(port);
    reading.replenish = true;
    reading.send(reading.headers(1, request("/big"), { endStream: true }));
    await reading.until(() => reading.received.ended.has(1) || reading.received.resets.has(1) || reading.received.closed, 60_000, "the whole answer");
    assert.equal(reading.received.data.get(1), ANSWER_BYTES, JSON.stringify(reading.summary()));
    const readLine = await tandem.waitForLine((l) => l.path === "/big", 10_000);
    assert.equal(readLine.termination, "--");
    assert.deepEqual(member.cutAnswers, []);
    reading.close();

    const stuck = await H2Connection.open(port);
    stuck.send(stuck.headers(1, request("/big"), { endStream: true }));
    const line = await tandem.waitForLine((l) => l.path === "/big" && l !== readLine, 30_000);
    assert.equal(line.termination, "cD");
    // A member connection closed mid-answer is never pooled again.
    await stuck.until(() => member.cutAnswers.length === 1, 15_000, "the member's answer to be cut");
    // The runtime learns of the cut at its next pull, once the client opens its window again: the
    // stream must then end in a reset, never in an END_STREAM that would pass a shortened answer as whole.
    stuck.send(stuck.windowUpdate(0, 1 << 30), stuck.windowUpdate(1, 1 << 30));
    await stuck.until(() => stuck.received.resets.has(1) || stuck.received.ended.has(1) || stuck.received.closed, 15_000, "the stuck stream's end");
    console.log(`[${runtime}] answer not taken: access line ${line.status} ${line.termination} after ${line.bytesOut} bytes, client ${JSON.stringify(stuck.summary())}`);
    assert.ok(!stuck.received.ended.has(1), `a cut answer ended as if whole: ${JSON.stringify(stuck.summary())}`);
    assert.ok((stuck.received.data.get(1) ?? 0) < ANSWER_BYTES);
    stuck.close();
    assert.deepEqual(tandem.lines.filter((l) => l.event === "error"), [], "a cut answer is no internal error");
  });
});

test(`a connection that never completes its first request head on ${runtime}: closed after timeouts.request`, {
  ...LIMIT,
  skip: printedSkip("h2-hostile.test.ts: request timeout", runtime === "bun" && "Bun.serve shows tandem no connection before a complete request: its idleTimeout (the listener's keepAlive) bounds it, see README"),
}, async () => {
  await withTimeouts(async (port, _tandem, member, admin) => {
    const partial = await H2Connection.open(port);
    partial.send(partial.headers(1, request("/partial"), { endStream: true, endHeaders: false }));
    // keepAlive is 60 s: only the 1 s request timeout can close it within the wait.
    await partial.until(() => partial.received.closed || partial.received.goAway !== undefined, 20_000, "the connection to be closed");
    console.log(`[${runtime}] partial head: ${JSON.stringify(partial.summary())}`);
    partial.close();

    // The same for an HTTP/1.1 client on the listener (slowloris): its head never ends.
    const slow = connect({ port, host: "127.0.0.1" });
    let closed = false;
    slow.on("close", () => (closed = true)).on("error", () => (closed = true));
    slow.write("GET /slow HTTP/1.1\r\nHost: a.test\r\nX-Slow: 1\r\n");
    const deadline = Date.now() + 20_000;
    while (!closed && Date.now() < deadline) await sleep(20);
    slow.destroy();
    assert.ok(closed, "the HTTP/1.1 connection with an unfinished head was not closed within 20 s");
    assert.deepEqual(member.uploads, new Map());
    assert.equal(await clientTimeouts(admin, port, "request"), 2);
  });
});
