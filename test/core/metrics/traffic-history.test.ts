import { test } from "node:test";
import assert from "node:assert/strict";
import { HISTORY_INTERVAL_MS, HISTORY_SLOTS, LATENCY_BOUNDS_MS, mergeHistory, TrafficHistory } from "../../../core/metrics/traffic-history.ts";
import { FakeClock } from "../../support/fake-clock.ts";

/** A clock at the start of an interval, well past the epoch. */
const startClock = () => new FakeClock(1_700_000_000_000 - (1_700_000_000_000 % HISTORY_INTERVAL_MS));
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const historyOf = (history: TrafficHistory, clock: FakeClock, pools = ["shop"]) => mergeHistory(pools, clock.now(), [history.snapshot()]);

test("traffic history: one value per completed interval, oldest first; the running interval is not shown", () => {
  const clock = startClock();
  const history = new TrafficHistory(clock);
  for (let i = 0; i < 4; i++) history.record("shop", 200, 3);
  history.record("shop", 503, 3);
  let shop = historyOf(history, clock).pools[0];
  assert.equal(shop.requests.length, HISTORY_SLOTS);
  assert.equal(sum(shop.requests), 0, "nothing completed yet");

  clock.advance(HISTORY_INTERVAL_MS - 1);
  history.record("shop", 404, 3);
  clock.advance(1);
  history.record("shop", 200, 3);
  clock.advance(HISTORY_INTERVAL_MS);
  const document = historyOf(history, clock);
  shop = document.pools[0];
  assert.deepEqual(shop.requests.slice(-3), [0, 6, 1]);
  assert.deepEqual(shop.errors.slice(-3), [0, 1, 0], "only 5xx counts as an error");
  assert.equal(document.intervalMs, HISTORY_INTERVAL_MS);
  assert.equal(document.start + HISTORY_SLOTS * HISTORY_INTERVAL_MS, clock.now(), "the last point ends where the running interval begins");
  assert.equal(shop.p99Ms.at(-3), null, "no requests: no latency");
});

test("traffic history: 15 minutes and no more; a slot whose time comes round again starts empty", () => {
  const clock = startClock();
  const history = new TrafficHistory(clock);
  history.record("shop", 200, 1);
  clock.advance(HISTORY_INTERVAL_MS);
  assert.equal(historyOf(history, clock).pools[0].requests.at(-1), 1);
  clock.advance((HISTORY_SLOTS - 1) * HISTORY_INTERVAL_MS);
  assert.equal(historyOf(history, clock).pools[0].requests[0], 1, "still the oldest point");
  clock.advance(HISTORY_INTERVAL_MS);
  assert.equal(sum(historyOf(history, clock).pools[0].requests), 0, "15 minutes later it is gone");

  // The ring holds one slot more than it shows (the running one): slot s and s + 181 share a place.
  history.record("shop", 200, 1);
  history.record("shop", 200, 1);
  clock.advance((HISTORY_SLOTS + 1) * HISTORY_INTERVAL_MS);
  history.record("shop", 200, 1);
  clock.advance(HISTORY_INTERVAL_MS);
  const requests = historyOf(history, clock).pools[0].requests;
  assert.equal(requests.at(-1), 1, "the reused place does not keep the old slot's 2");
  assert.equal(sum(requests), 1);
});

test("traffic history: p99 per interval from latency buckets, within 20 % above the true value", () => {
  const clock = startClock();
  const history = new TrafficHistory(clock);
  for (let i = 0; i < 99; i++) history.record("shop", 200, 10);
  history.record("shop", 200, 900);
  clock.advance(HISTORY_INTERVAL_MS);
  for (let i = 0; i < 98; i++) history.record("shop", 200, 10);
  for (let i = 0; i < 2; i++) history.record("shop", 200, 900);
  clock.advance(HISTORY_INTERVAL_MS);
  history.record("shop", 200, 10 * 60_000);
  clock.advance(HISTORY_INTERVAL_MS);
  const [calm, slow, overflow] = historyOf(history, clock).pools[0].p99Ms.slice(-3) as number[];
  assert.ok(calm >= 10 && calm <= 12, `p99 ${calm} for 99 of 100 at 10 ms`);
  assert.ok(slow >= 900 && slow <= 1080, `p99 ${slow} with 2 of 100 at 900 ms`);
  assert.equal(overflow, LATENCY_BOUNDS_MS.at(-1), "past the last bound: the last bound");
});

test("traffic history: snapshots of several threads add up per pool and interval; pools without traffic show zeros", () => {
  const clock = startClock();
  const [a, b] = [new TrafficHistory(clock), new TrafficHistory(clock)];
  for (let i = 0; i < 3; i++) a.record("shop", 200, 5);
  for (let i = 0; i < 97; i++) b.record("shop", 500, 5);
  for (let i = 0; i < 2; i++) b.record("shop", 200, 400);
  b.record("gone", 200, 5);
  clock.advance(HISTORY_INTERVAL_MS);
  const document = mergeHistory(["shop", "api"], clock.now(), [a.snapshot(), b.snapshot()]);
  assert.deepEqual(document.pools.map((pool) => pool.name), ["shop", "api"], "the pools asked for, in order; a pool no longer configured is left out");
  const [shop, api] = document.pools;
  assert.deepEqual([shop.requests.at(-1), shop.errors.at(-1)], [102, 97]);
  assert.ok(shop.p99Ms.at(-1)! >= 400, "p99 over both threads' samples together");
  assert.deepEqual([sum(api.requests), api.p99Ms.every((p) => p === null)], [0, true]);
  // Each thread alone would say otherwise.
  assert.equal(mergeHistory(["shop"], clock.now(), [a.snapshot()]).pools[0].requests.at(-1), 3);
});

test("traffic history: a snapshot is plain data that survives a structured clone (it crosses threads)", () => {
  const clock = startClock();
  const history = new TrafficHistory(clock);
  history.record("shop", 200, 5);
  clock.advance(HISTORY_INTERVAL_MS);
  const cloned = structuredClone(history.snapshot());
  assert.deepEqual(mergeHistory(["shop"], clock.now(), [cloned]), historyOf(history, clock));
});
