import { test } from "node:test";
import assert from "node:assert/strict";
import { Busiest } from "../../../core/rules/busiest.ts";

/** A seeded generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("the busiest keys are those a stable sort by rate, then in flight, would put first", () => {
  const next = random(23);
  for (let round = 0; round < 200; round++) {
    const n = Math.floor(next() * 300);
    const limit = [0, 1, 3, 10, 1000][round % 5];
    // Few distinct rates and in-flight counts: ties are frequent, and seen-first must win them.
    const offers = Array.from({ length: n }, (_, i) => ({ key: `k${i}`, rate: Math.floor(next() * 8) / 2, inFlight: Math.floor(next() * 3) }));
    const busiest = new Busiest(limit);
    for (const { key, rate, inFlight } of offers) busiest.offer(key, rate, inFlight);
    const expected = [...offers].sort((a, b) => b.rate - a.rate || b.inFlight - a.inFlight).slice(0, limit);
    assert.deepEqual(busiest.sorted(), expected, `round ${round}: ${n} offers, limit ${limit}`);
  }
});

test("fewer keys than the limit are all kept; none offered is none kept", () => {
  const busiest = new Busiest(10);
  assert.deepEqual(busiest.sorted(), []);
  busiest.offer("a", 1, 0);
  busiest.offer("b", 5, 0);
  busiest.offer("c", 5, 2);
  assert.deepEqual(busiest.sorted(), [{ key: "c", rate: 5, inFlight: 2 }, { key: "b", rate: 5, inFlight: 0 }, { key: "a", rate: 1, inFlight: 0 }]);
});
