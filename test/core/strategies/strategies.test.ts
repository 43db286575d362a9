import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Candidate, createStrategy, hash32, type Strategy } from "../../../core/strategies/index.ts";
import { seeded } from "../../support/seeded-random.ts";

type Member = { name: string; weight: number };

function candidates(members: readonly Member[], active: Record<string, number> = {}): Candidate[] {
  return members.map((m) => ({ name: m.name, weight: m.weight, active: active[m.name] ?? 0 }));
}

function equal(names: string[]): Member[] {
  return names.map((name) => ({ name, weight: 1 }));
}

function picks(strategy: Strategy, cands: readonly Candidate[], count: number): string[] {
  return Array.from({ length: count }, () => strategy.select(cands).name);
}

function countBy(names: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Largest |picks - weight| over every window of sum(weights) consecutive picks. */
function windowDrift(sequence: string[], members: readonly Member[]): number {
  const total = members.reduce((sum, m) => sum + m.weight, 0);
  let drift = 0;
  for (let start = 0; start + total <= sequence.length; start++) {
    const counts = countBy(sequence.slice(start, start + total));
    for (const m of members) drift = Math.max(drift, Math.abs((counts.get(m.name) ?? 0) - m.weight));
  }
  return drift;
}

/**
 * Routes `keys` one after another with none finishing; returns the final loads and, per step,
 * whether every member stayed within ceil(1.25 × average), the bound the hash tests check.
 */
function assignInFlight(strategy: Strategy, members: readonly Member[], keys: readonly (string | undefined)[]) {
  const active: Record<string, number> = {};
  const boundsHeld: boolean[] = [];
  for (const key of keys) {
    const chosen = strategy.select(candidates(members, active), key).name;
    active[chosen] = (active[chosen] ?? 0) + 1;
    const total = Object.values(active).reduce((a, b) => a + b, 0);
    boundsHeld.push(Math.max(...Object.values(active)) <= Math.ceil((1.25 * total) / members.length));
  }
  return { active, boundsHeld };
}

const weightSets = fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 6 })
  .map((weights) => weights.map((weight, i) => ({ name: `m${i}`, weight })));

describe("roundrobin", () => {
  test("weights 5,1,1 interleave like nginx: a a b a c a a", () => {
    const members = [{ name: "a", weight: 5 }, { name: "b", weight: 1 }, { name: "c", weight: 1 }];
    const sequence = picks(createStrategy("roundrobin", members), candidates(members), 70);
    assert.equal(sequence.slice(0, 7).join(""), "aabacaa");
    for (let i = 1; i < sequence.length; i++) {
      assert.ok(sequence[i - 1] === "a" || sequence[i] === "a", `light members adjacent at ${i}`);
    }
  });

  test("property: every window of sum(weights) picks gives each member exactly its weight", () => {
    fc.assert(
      fc.property(weightSets, (members) => {
        const total = members.reduce((sum, m) => sum + m.weight, 0);
        const sequence = picks(createStrategy("roundrobin", members), candidates(members), total * 4);
        assert.equal(windowDrift(sequence, members), 0);
      }),
      { numRuns: 300 },
    );
  });

  test("property: a member leaving and rejoining the candidates shifts shares by at most 2 per window", () => {
    fc.assert(
      fc.property(weightSets.filter((m) => m.length >= 2), fc.nat(30), fc.nat(), (members, warmup, which) => {
        const strategy = createStrategy("roundrobin", members);
        const remaining = members.filter((_, i) => i !== which % members.length);
        picks(strategy, candidates(members), warmup);
        const whileDown = picks(strategy, candidates(remaining), 120);
        assert.ok(!whileDown.includes(members[which % members.length].name));
        assert.ok(windowDrift(whileDown, remaining) <= 2);
        assert.ok(windowDrift(picks(strategy, candidates(members), 240), members) <= 2);
      }),
      { numRuns: 300 },
    );
  });

  test("follows effective weights given per call (slow start)", () => {
    const strategy = createStrategy("roundrobin", equal(["a", "b"]));
    const counts = countBy(picks(strategy, [{ name: "a", weight: 3, active: 0 }, { name: "b", weight: 1, active: 0 }], 400));
    assert.deepEqual([counts.get("a"), counts.get("b")], [300, 100]);
  });
});

describe("leastconn", () => {
  test("picks the lowest active/weight", () => {
    const strategy = createStrategy("leastconn", []);
    const cands = [
      { name: "a", weight: 2, active: 5 }, // 2.5
      { name: "b", weight: 1, active: 3 }, // 3
      { name: "c", weight: 4, active: 8 }, // 2
    ];
    assert.equal(strategy.select(cands).name, "c");
  });

  test("equally loaded members take turns, also when only some of them tie", () => {
    const strategy = createStrategy("leastconn", equal(["a", "b", "c"]));
    assert.equal(picks(strategy, candidates(equal(["a", "b", "c"])), 9).join(""), "abcabcabc");
    const someTie = candidates(equal(["a", "b", "c"]), { a: 1, b: 1, c: 5 });
    assert.deepEqual(countBy(picks(strategy, someTie, 100)), new Map([["a", 50], ["b", 50]]));
  });

  test("requests that stay in flight end up proportional to weight", () => {
    const members = [{ name: "a", weight: 3 }, { name: "b", weight: 1 }, { name: "c", weight: 2 }];
    const { active } = assignInFlight(createStrategy("leastconn", members), members, new Array(600).fill(undefined));
    assert.deepEqual(active, { a: 300, b: 100, c: 200 });
  });
});

describe("p2c", () => {
  test("a single candidate is returned without drawing", () => {
    const strategy = createStrategy("p2c", equal(["a"]), { random: () => assert.fail("drew") });
    assert.equal(strategy.select(candidates(equal(["a"]))).name, "a");
  });

  // Properties that hold whichever two are sampled, so the test does not repeat the sampling code.
  test("property: of two candidates the less loaded one wins, whatever the draws", () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 5 }), fc.nat(20)),
        fc.tuple(fc.integer({ min: 1, max: 5 }), fc.nat(20)),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 2, maxLength: 2 }),
        ([w1, a1], [w2, a2], draws) => {
          const cands = [{ name: "m0", weight: w1, active: a1 }, { name: "m1", weight: w2, active: a2 }];
          const chosen = createStrategy("p2c", [], { random: () => draws.shift()! }).select(cands);
          const load = (member: { weight: number; active: number }) => member.active / member.weight;
          assert.ok(load(chosen) <= Math.min(load(cands[0]), load(cands[1])), `chose ${chosen.name} of ${JSON.stringify(cands)}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("property: a member more loaded than every other is never chosen, whatever the draws", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.nat(20)), { minLength: 2, maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 2, maxLength: 2 }),
        (spec, draws) => {
          const cands = spec.map(([weight, active], i) => ({ name: `m${i}`, weight, active }));
          const loads = cands.map((member) => member.active / member.weight);
          const top = Math.max(...loads);
          fc.pre(loads.filter((load) => load === top).length === 1);
          const chosen = createStrategy("p2c", [], { random: () => draws.shift()! }).select(cands);
          assert.ok(cands.includes(chosen));
          assert.notEqual(chosen.active / chosen.weight, top, `chose the most loaded ${chosen.name}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("never picks the single most loaded member", () => {
    const strategy = createStrategy("p2c", equal(["a", "b", "c"]), { random: seeded(1) });
    const cands = candidates(equal(["a", "b", "c"]), { a: 9, b: 1, c: 2 });
    assert.ok(!picks(strategy, cands, 500).includes("a"));
  });

  test("requests that stay in flight stay close to even", () => {
    const members = equal(["a", "b", "c", "d"]);
    const { active } = assignInFlight(createStrategy("p2c", members, { random: seeded(42) }), members, new Array(1000).fill(undefined));
    const loads = Object.values(active);
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 3, `loads ${loads}`);
  });

  test("works with the default Math.random", () => {
    const strategy = createStrategy("p2c", equal(["a", "b"]));
    assert.ok(["a", "b"].includes(strategy.select(candidates(equal(["a", "b"]))).name));
  });
});

describe("hash", () => {
  const four = equal(["s1", "s2", "s3", "s4"]);
  const keys = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);
  const route = (strategy: Strategy, members: readonly Member[]) =>
    keys.map((key) => strategy.select(candidates(members), key).name);

  test("hash32 spreads keys that differ only at the end", () => {
    const buckets = new Array(16).fill(0);
    for (let i = 0; i < 4096; i++) buckets[hash32(`10.0.${i >> 8}.${i & 255}`) >>> 28]++;
    for (const count of buckets) assert.ok(Math.abs(count / 256 - 1) < 0.25, `bucket ${count}`);
  });

  test("4 equal members each get 25% ± 15% of 10k keys", () => {
    for (const names of [["s1", "s2", "s3", "s4"], ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"]]) {
      const members = equal(names);
      const counts = countBy(route(createStrategy("hash", members), members));
      for (const name of names) {
        const share = counts.get(name)! / keys.length;
        assert.ok(Math.abs(share / 0.25 - 1) <= 0.15, `${name}: ${share}`);
      }
    }
  });

  test("shares follow weights", () => {
    const members = [{ name: "big", weight: 2 }, { name: "s1", weight: 1 }, { name: "s2", weight: 1 }];
    const share = countBy(route(createStrategy("hash", members), members)).get("big")! / keys.length;
    assert.ok(share > 0.43 && share < 0.57, `big: ${share}`);
  });

  test("same key, same member: independent of call, candidate order and member order", () => {
    const strategy = createStrategy("hash", four);
    const reordered = createStrategy("hash", [...four].reverse());
    const reversed = candidates(four).reverse();
    for (const key of keys.slice(0, 500)) {
      const chosen = strategy.select(candidates(four), key).name;
      assert.equal(strategy.select(candidates(four), key).name, chosen);
      assert.equal(strategy.select(reversed, key).name, chosen);
      assert.equal(reordered.select(candidates(four), key).name, chosen);
    }
  });

  test("adding a 5th member moves about 1/5 of the keys, all of them to the new member", () => {
    const strategy = createStrategy("hash", four);
    const before = route(strategy, four);
    const five = [...four, { name: "s5", weight: 1 }];
    strategy.update(five);
    const after = route(strategy, five);
    const moved = after.filter((name, i) => name !== before[i]);
    const fraction = moved.length / keys.length;
    assert.ok(fraction > 0.12 && fraction < 0.28, `moved ${fraction}`);
    assert.ok(moved.every((name) => name === "s5"));
  });

  test("removing a member, or it going down, moves only that member's keys", () => {
    const strategy = createStrategy("hash", four);
    const before = route(strategy, four);
    const three = four.filter((m) => m.name !== "s2");
    const downRoutes = route(strategy, three);
    strategy.update(three);
    const removedRoutes = route(strategy, three);
    keys.forEach((_, i) => {
      if (before[i] !== "s2") assert.equal(removedRoutes[i], before[i]);
      assert.equal(downRoutes[i], removedRoutes[i]);
    });
    strategy.update(four);
    assert.deepEqual(route(strategy, four), before);
  });

  test("without a key falls back to smooth weighted round robin", () => {
    const members = [{ name: "a", weight: 5 }, { name: "b", weight: 1 }, { name: "c", weight: 1 }];
    assert.equal(picks(createStrategy("hash", members), candidates(members), 7).join(""), "aabacaa");
  });

  test("bounded load 1.25 caps in-flight requests for skewed keys near the average", () => {
    const members = equal(["s1", "s2", "s3", "s4", "s5"]);
    const random = seeded(7);
    // 80% of requests carry one of 3 hot keys.
    const skewed = Array.from({ length: 5000 }, (_, i) => random() < 0.8 ? `hot-${i % 3}` : `cold-${i}`);
    const bounded = assignInFlight(createStrategy("hash", members, { boundedLoad: 1.25 }), members, skewed);
    assert.ok(bounded.boundsHeld.every(Boolean));
    assert.ok(Math.max(...Object.values(bounded.active)) <= Math.ceil(1.25 * 5000 / 5));
    const unbounded = assignInFlight(createStrategy("hash", members), members, skewed);
    assert.ok(!unbounded.boundsHeld.every(Boolean), "the key set is skewed enough to need the bound");
  });

  test("property: bounded load holds for any key sequence and keeps an idle pool's mapping", () => {
    const bounded = createStrategy("hash", four, { boundedLoad: 1.25 });
    const plain = createStrategy("hash", four);
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 300, size: "max" }), (keys) => {
        assert.equal(bounded.select(candidates(four), keys[0]).name, plain.select(candidates(four), keys[0]).name);
        assert.ok(assignInFlight(bounded, four, keys).boundsHeld.every(Boolean));
      }),
      { numRuns: 200 },
    );
  });
});
