import { test } from "node:test";
import assert from "node:assert/strict";
import { fromWebRequest } from "../../../core/http/web.ts";
import type { ClientRequest } from "../../../core/http/message.ts";
import { createRateLimiters, MAX_KEY_LENGTH, type RateLimitVerdict } from "../../../core/rules/rate-limit.ts";
import { type RateLimitsConfig } from "../../../core/rules/rate-limit-schema.ts";
import { LEASE_TIMEOUT_MS, type RateLimitMessage, RateLimitSharing } from "../../../core/rules/rate-limit-sharing.ts";
import { IN_FLIGHT_TIMEOUT_MS } from "../../../core/rules/rate-limit-in-flight.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { MemoryBroadcastHub } from "../../support/memory-broadcast.ts";

function request(headers: Record<string, string> = {}): ClientRequest {
  const parsed = fromWebRequest(new Request("http://shop.example/", { headers }));
  if (!("method" in parsed)) throw new Error("not a request");
  return parsed;
}

const limit = (settings: Partial<RateLimitsConfig[string]>): RateLimitsConfig[string] => ({ key: "ip", per: 1_000, size: 1_000, ...settings });

test("keys: the client address by default, else a header's or a cookie's value; none when absent; one key for over-long values", () => {
  const limiters = createRateLimiters({
    ip: limit({ requests: 1 }),
    header: limit({ key: { header: "X-Api-Key" }, requests: 1 }),
    cookie: limit({ key: { cookie: "JSESSIONID" }, requests: 1 }),
  }, { clock: new FakeClock() });
  assert.equal(limiters.get("ip")!.keyOf(request(), "192.0.2.7"), "192.0.2.7");
  assert.equal(limiters.get("header")!.keyOf(request({ "x-api-key": "k1" }), "192.0.2.7"), "k1");
  assert.equal(limiters.get("header")!.keyOf(request(), "192.0.2.7"), null);
  assert.equal(limiters.get("cookie")!.keyOf(request({ cookie: "a=1; JSESSIONID=s9.node1" }), "192.0.2.7"), "s9.node1");
  assert.equal(limiters.get("cookie")!.keyOf(request({ cookie: "a=1" }), "192.0.2.7"), null);
  const long = (tail: string) => limiters.get("header")!.keyOf(request({ "x-api-key": "x".repeat(MAX_KEY_LENGTH) + tail }), "192.0.2.7");
  assert.equal(long("1"), long("2"));
  assert.notEqual(long("1"), "x".repeat(MAX_KEY_LENGTH) + "1");
});

test("admit: the budget, then refusals with Retry-After in whole seconds; another key has its own", () => {
  const clock = new FakeClock(10_000);
  const limiter = createRateLimiters({ perClient: limit({ requests: 3, per: 10_000 }) }, { clock }).get("perClient")!;
  const verdicts = Array.from({ length: 5 }, () => limiter.admit("a") as RateLimitVerdict);
  assert.deepEqual(verdicts.map((verdict) => verdict.admitted), [true, true, true, false, false]);
  // Next window at 20 s; 3 × (1 − f) ≤ 2 from f = 1/3: 23.33 s, 13.33 s from now.
  assert.equal(verdicts[3].retryAfterSeconds, 14);
  assert.equal((limiter.admit("b") as RateLimitVerdict).admitted, true);
  clock.advance(13_334);
  assert.equal((limiter.admit("a") as RateLimitVerdict).admitted, true);
});

test("concurrent: a key's requests in flight are capped until one is released; release twice frees one", () => {
  const limiter = createRateLimiters({ inFlight: limit({ concurrent: 2 }) }, { clock: new FakeClock() }).get("inFlight")!;
  const first = limiter.admit("a") as RateLimitVerdict;
  const second = limiter.admit("a") as RateLimitVerdict;
  const third = limiter.admit("a") as RateLimitVerdict;
  assert.deepEqual([first.admitted, second.admitted, third.admitted], [true, true, false]);
  assert.equal(third.retryAfterSeconds, 1);
  third.release();
  assert.equal((limiter.admit("a") as RateLimitVerdict).admitted, false);
  first.release();
  first.release();
  assert.equal((limiter.admit("a") as RateLimitVerdict).admitted, true);
  assert.equal((limiter.admit("a") as RateLimitVerdict).admitted, false);
});

test("a reload keeps the counts of a limit whose settings stayed, and starts afresh one that changed", () => {
  const clock = new FakeClock();
  const share = new RateLimitSharing({ clock });
  const before = createRateLimiters({ kept: limit({ requests: 1 }), changed: limit({ requests: 1 }) }, { clock, share });
  before.get("kept")!.admit("a");
  before.get("changed")!.admit("a");
  const after = createRateLimiters({ kept: limit({ requests: 1 }), changed: limit({ requests: 2 }) }, { clock, share });
  assert.equal((after.get("kept")!.admit("a") as RateLimitVerdict).admitted, false);
  assert.equal((after.get("changed")!.admit("a") as RateLimitVerdict).admitted, true);
  createRateLimiters({}, { clock, share });
  assert.equal(share.tables().size, 0);
});

/** A process of `count` workers on one in-memory channel, each with its own limiters over `config`. */
function workers(count: number, config: RateLimitsConfig, clock = new FakeClock()) {
  const hub = new MemoryBroadcastHub<RateLimitMessage>();
  return Array.from({ length: count }, (_, index) => {
    const channel = hub.open();
    const share = new RateLimitSharing({ clock, worker: { index, count }, channel });
    return { share, channel, limiters: createRateLimiters(config, { clock, share }) };
  });
}

test("workers: racing admissions on every worker never pass the lead's budget, and leases spend it to the last token", async () => {
  const process = workers(4, { perClient: limit({ requests: 100, per: 60_000 }) });
  // 4 workers × 60 requests at once, interleaved: 240 asks for a budget of 100.
  const pending: Promise<RateLimitVerdict>[] = [];
  for (let i = 0; i < 60; i++) {
    for (const { limiters } of process) pending.push(Promise.resolve(limiters.get("perClient")!.admit("a")));
  }
  const verdicts = await Promise.all(pending);
  const admitted = verdicts.filter((verdict) => verdict.admitted).length;
  assert.ok(admitted <= 100, `${admitted} admitted of a budget of 100`);
  // Control: the followers asked the lead, in batches rather than per request.
  const asks = process.slice(1).reduce((sum, { channel }) => sum + channel.sent, 0);
  assert.ok(asks > 0 && asks < 180, `${asks} asks for 180 follower requests`);
  // What a follower leased and did not spend yet it spends now, the lead has nothing left.
  let more = 0;
  for (let i = 0; i < 40; i++) {
    for (const { limiters } of process) more += (await limiters.get("perClient")!.admit("a")).admitted ? 1 : 0;
  }
  assert.equal(admitted + more, 100);
  const refused = verdicts.find((verdict) => !verdict.admitted)!;
  assert.ok(refused.retryAfterSeconds >= 1);
});

test("workers: a follower refused by the lead answers further requests itself until the retry time", async () => {
  const clock = new FakeClock();
  const [lead, follower] = workers(2, { perClient: limit({ requests: 1, per: 10_000 }) }, clock);
  assert.equal((lead.limiters.get("perClient")!.admit("a") as RateLimitVerdict).admitted, true);
  const limiter = follower.limiters.get("perClient")!;
  assert.equal((await limiter.admit("a")).admitted, false);
  const asked = follower.channel.sent;
  const again = limiter.admit("a");
  assert.equal((again as RateLimitVerdict).admitted, false, "answered without waiting");
  assert.equal(follower.channel.sent, asked);
  clock.advance(20_000);
  assert.equal((await limiter.admit("a")).admitted, true);
});

test("workers: when the lead does not answer, a follower lets requests through after the lease timeout", async () => {
  const clock = new FakeClock();
  const hub = new MemoryBroadcastHub<RateLimitMessage>();
  const share = new RateLimitSharing({ clock, worker: { index: 1, count: 2 }, channel: hub.open() });
  const limiter = createRateLimiters({ perClient: limit({ requests: 1 }) }, { clock, share }).get("perClient")!;
  let settled: RateLimitVerdict | undefined;
  void Promise.resolve(limiter.admit("a")).then((verdict) => (settled = verdict));
  // Read through a call: the checks between the awaits must not narrow what the promise sets.
  const verdict = () => settled;
  await Promise.resolve();
  clock.advance(LEASE_TIMEOUT_MS - 1);
  await Promise.resolve();
  assert.equal(verdict(), undefined, "still waiting for the lead");
  clock.advance(1);
  for (let i = 0; i < 3 && verdict() === undefined; i++) await Promise.resolve();
  assert.equal(verdict()?.admitted, true);
});

test("nodes: a client alternating between two nodes spends one budget once counts cross", () => {
  const clock = new FakeClock();
  const config = { perClient: limit({ requests: 10, per: 60_000 }) };
  const shares: RateLimitSharing[] = [];
  const node = (name: string, peer: () => RateLimitSharing) => {
    const share = new RateLimitSharing({ clock, publisher: () => (count) => peer().peerCount(name, count) });
    shares.push(share);
    return createRateLimiters(config, { clock, share }).get("perClient")!;
  };
  const a = node("lb1", () => shares[1]);
  const b = node("lb2", () => shares[0]);
  let admitted = 0;
  for (let i = 0; i < 30; i++) {
    admitted += ((i % 2 === 0 ? a : b).admit("client") as RateLimitVerdict).admitted ? 1 : 0;
    // Counts ship once per event-loop turn (a timer of 0 ms).
    clock.advance(0);
  }
  assert.equal(admitted, 10);
  // Control: unshared nodes give the client a budget each.
  const alone = [createRateLimiters(config, { clock }).get("perClient")!, createRateLimiters(config, { clock }).get("perClient")!];
  let unshared = 0;
  for (let i = 0; i < 30; i++) unshared += (alone[i % 2].admit("client") as RateLimitVerdict).admitted ? 1 : 0;
  assert.equal(unshared, 20);
});

test("workers: requests in flight are counted at worker 0 for every worker; a restarted worker's places come back", async () => {
  const clock = new FakeClock();
  const hub = new MemoryBroadcastHub<RateLimitMessage>();
  const config = { inFlight: limit({ concurrent: 2 }) };
  const start = (index: number) => createRateLimiters(config, { clock, share: new RateLimitSharing({ clock, worker: { index, count: 3 }, channel: hub.open() }) }).get("inFlight")!;
  const [lead, one, two] = [start(0), start(1), start(2)];
  const first = await one.admit("a");
  const second = await two.admit("a");
  assert.deepEqual([first.admitted, second.admitted], [true, true]);
  assert.equal((await lead.admit("a")).admitted, false);
  assert.equal((await one.admit("a")).admitted, false);
  first.release();
  first.release();
  const third = await lead.admit("a");
  assert.equal(third.admitted, true);
  assert.equal((await two.admit("a")).admitted, false);
  // Worker 2 dies holding its place; its successor says hello, and worker 0 frees what it held.
  start(2);
  assert.equal((await one.admit("a")).admitted, true);
  // A give-back worker 0 cannot match changes nothing.
  second.release();
  assert.equal((await lead.admit("a")).admitted, false);
});

test("workers: a worker keeps leases for at most the limit's size keys", async () => {
  const [, follower] = workers(2, { perClient: limit({ requests: 100, per: 60_000, size: 3 }) });
  const limiter = follower.limiters.get("perClient")!;
  for (const key of ["a", "b", "c", "d"]) assert.equal((await limiter.admit(key)).admitted, true);
  // "a" was leased first and is gone: its next request asks worker 0 again; "d" spends its lease.
  const asked = follower.channel.sent;
  await limiter.admit("d");
  assert.equal(follower.channel.sent, asked);
  await limiter.admit("a");
  assert.equal(follower.channel.sent, asked + 1);
});

test("workers: places asked of a worker 0 that does not answer are let through after the timeout, all on one timer", async () => {
  const clock = new FakeClock();
  const hub = new MemoryBroadcastHub<RateLimitMessage>();
  const share = new RateLimitSharing({ clock, worker: { index: 1, count: 2 }, channel: hub.open() });
  const limiter = createRateLimiters({ inFlight: limit({ concurrent: 1 }) }, { clock, share }).get("inFlight")!;
  const settled: RateLimitVerdict[] = [];
  for (let i = 0; i < 3; i++) {
    void Promise.resolve(limiter.admit(`k${i}`)).then((verdict) => settled.push(verdict));
    clock.advance(100);
  }
  assert.equal(clock.pending, 1);
  clock.advance(IN_FLIGHT_TIMEOUT_MS - 300);
  for (let i = 0; i < 3; i++) await Promise.resolve();
  assert.equal(settled.length, 1, "the first ask is due, the others not yet");
  clock.advance(200);
  for (let i = 0; i < 3; i++) await Promise.resolve();
  assert.deepEqual(settled.map((verdict) => verdict.admitted), [true, true, true]);
  assert.equal(clock.pending, 0);
});
