/**
 * The contract every load-balancing strategy keeps, run against each of them with the same cases
 * (strategies.test.ts has what is particular to each: window shares, tie-breaks, ring movement).
 *
 * What `Strategy` promises (core/strategies/index.ts): `select` returns one of the candidates it
 * was given (the pool casts the result back to its Member, so the very object), candidates are a
 * non-empty subset of the members given to create/update. Empty candidate sets and weight 0 are
 * the pool's side of the contract: it never asks with no candidates (no usable member is a 503)
 * and never offers a member of weight 0 for a new session; the last describe checks that side
 * through a balancer configured with each strategy.
 *
 * A strategy added to the config's STRATEGIES has to be given a row in VARIANTS, or this fails.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { STRATEGIES } from "../../../core/config/schema.ts";
import { type Candidate, createStrategy, type Strategy, type StrategyName, type StrategyOptions } from "../../../core/strategies/index.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";
import { seeded } from "../../support/seeded-random.ts";

interface Variant {
  label: string;
  /** Fresh options per instance: two instances made from the same variant see the same random source. */
  options: () => StrategyOptions;
  /** Picks by a request key (hash); requests then carry varied keys, and some carry none. */
  keyed: boolean;
  /** The pool config that selects this strategy in a balancer. */
  pool: Record<string, unknown>;
}

const HASH_POOL = { strategy: "hash", hash: { key: "header", name: "x-client" } };

const VARIANTS: Record<StrategyName, Variant[]> = {
  roundrobin: [{ label: "roundrobin", options: () => ({}), keyed: false, pool: { strategy: "roundrobin" } }],
  leastconn: [{ label: "leastconn", options: () => ({}), keyed: false, pool: { strategy: "leastconn" } }],
  p2c: [{ label: "p2c", options: () => ({ random: seeded(0x7a9d) }), keyed: false, pool: { strategy: "p2c" } }],
  hash: [
    { label: "hash", options: () => ({}), keyed: true, pool: { ...HASH_POOL, hash: { ...HASH_POOL.hash, boundedLoad: 0 } } },
    { label: "hash, bounded load 1.25", options: () => ({ boundedLoad: 1.25 }), keyed: true, pool: HASH_POOL },
  ],
};

test("every strategy the config offers is run through the contract", () => {
  assert.deepEqual(Object.keys(VARIANTS).sort(), [...STRATEGIES].sort());
  for (const name of STRATEGIES) assert.ok(createStrategy(name, [{ name: "a", weight: 1 }]), name);
});

type Member = { name: string; weight: number };

/** One select call: which members are candidates (indexes into the phase's usable members), their load, the key. */
interface Pick {
  chosen: number[];
  factor: number;
  active: number[];
  key: string | undefined;
}

/** A config (update) followed by picks among its members of positive weight. */
interface Phase {
  members: Member[];
  picks: Pick[];
}

const UNIVERSE = ["m0", "m1", "m2", "m3", "m4", "m5"];

/** Members of a phase: a non-empty subset of UNIVERSE with weights 0..5, at least one positive. */
const membersArb = fc.subarray(UNIVERSE, { minLength: 1 })
  .chain((names) => fc.tuple(fc.constant(names), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: names.length, maxLength: names.length })))
  .map(([names, weights]) => names.map((name, i) => ({ name, weight: weights[i] })))
  .filter((members) => members.some((member) => member.weight > 0));

function phaseArb(keyed: boolean): fc.Arbitrary<Phase> {
  return membersArb.chain((members) => {
    const usable = members.filter((member) => member.weight > 0).length;
    const pick = fc.record({
      chosen: fc.uniqueArray(fc.integer({ min: 0, max: usable - 1 }), { minLength: 1, maxLength: usable }),
      // Slow start hands strategies a fraction of the configured weight.
      factor: fc.constantFrom(1, 1, 0.5, 0.1),
      active: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: usable, maxLength: usable }),
      key: keyed ? fc.option(fc.string({ maxLength: 12 }), { nil: undefined, freq: 5 }) : fc.constant(undefined),
    });
    return fc.record({ members: fc.constant(members), picks: fc.array(pick, { minLength: 1, maxLength: 25 }) });
  });
}

/** The candidates of one pick, new objects each time as the pool's members would be. */
function candidatesOf(phase: Phase, pick: Pick): Candidate[] {
  const usable = phase.members.filter((member) => member.weight > 0);
  return pick.chosen.map((index) => ({
    name: usable[index].name,
    weight: usable[index].weight * pick.factor,
    active: pick.active[index],
  }));
}

/** Runs `phases` on a fresh instance; returns the names picked, checking each pick is one of its candidates. */
function run(variant: Variant, name: StrategyName, phases: Phase[]): string[] {
  let strategy: Strategy | undefined;
  const picked: string[] = [];
  for (const phase of phases) {
    if (strategy) strategy.update(phase.members);
    else strategy = createStrategy(name, phase.members, variant.options());
    for (const pick of phase.picks) {
      const candidates = candidatesOf(phase, pick);
      const chosen = strategy.select(candidates, pick.key);
      assert.ok(
        candidates.includes(chosen),
        `picked ${JSON.stringify(chosen)}, not one of the candidates ${JSON.stringify(candidates)} (members ${JSON.stringify(phase.members)})`,
      );
      picked.push(chosen.name);
    }
  }
  return picked;
}

/** Picks `count` times among all of `members` of positive weight; `inFlight`: no request finishes. */
function spread(strategy: Strategy, members: readonly Member[], count: number, keyed: boolean, inFlight: boolean): Map<string, number> {
  const usable = members.filter((member) => member.weight > 0);
  const active = new Map<string, number>();
  const used = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const candidates = usable.map((member) => ({ name: member.name, weight: member.weight, active: active.get(member.name) ?? 0 }));
    const chosen = strategy.select(candidates, keyed ? `client-${i}` : undefined).name;
    used.set(chosen, (used.get(chosen) ?? 0) + 1);
    if (inFlight) active.set(chosen, (active.get(chosen) ?? 0) + 1);
  }
  return used;
}

const total = (members: readonly Member[]) => members.reduce((sum, member) => sum + member.weight, 0);

for (const [name, variants] of Object.entries(VARIANTS) as [StrategyName, Variant[]][]) {
  for (const variant of variants) {
    describe(`strategy contract: ${variant.label}`, () => {
      test("every pick is one of the candidates given (the very object), across updates of the members", () => {
        fc.assert(
          fc.property(fc.array(phaseArb(variant.keyed), { minLength: 1, maxLength: 3 }), (phases) => {
            run(variant, name, phases);
          }),
          // Building a hash ring takes milliseconds; the other strategies get more runs.
          { numRuns: variant.keyed ? 50 : 150 },
        );
      });

      test("a single candidate is always the pick, whatever its load, weight or key", () => {
        const strategy = createStrategy(name, [{ name: "a", weight: 3 }, { name: "b", weight: 1 }, { name: "c", weight: 1 }], variant.options());
        for (let i = 0; i < 50; i++) {
          const only = { name: ["a", "b", "c"][i % 3], weight: (i % 4) + 0.1, active: i };
          assert.equal(strategy.select([only], variant.keyed ? `client-${i}` : undefined), only);
        }
      });

      test("over many picks every member of positive weight is used, with or without requests in flight", () => {
        fc.assert(
          fc.property(membersArb, membersArb, fc.boolean(), (before, after, inFlight) => {
            // State from an earlier configuration must not keep anyone out after an update.
            const strategy = createStrategy(name, before, variant.options());
            spread(strategy, before, 3 * total(before), variant.keyed, inFlight);
            strategy.update(after);
            const used = spread(strategy, after, 40 * total(after), variant.keyed, inFlight);
            for (const member of after) {
              if (member.weight > 0) assert.ok(used.has(member.name), `${member.name} (weight ${member.weight}) never picked: ${JSON.stringify([...used])}`);
              else assert.ok(!used.has(member.name), `${member.name} has weight 0 and is not a candidate`);
            }
          }),
          { numRuns: variant.keyed ? 30 : 60 },
        );
      });

      if (variant.keyed) {
        test("requests without a key are spread over every member too", () => {
          const members = [{ name: "a", weight: 1 }, { name: "b", weight: 2 }, { name: "c", weight: 1 }];
          const strategy = createStrategy(name, members, variant.options());
          const used = spread(strategy, members, 40, false, false);
          assert.deepEqual([...used.keys()].sort(), ["a", "b", "c"]);
        });
      }

      test("replayable: two instances given the same calls (and the same random source) pick the same", () => {
        fc.assert(
          fc.property(fc.array(phaseArb(variant.keyed), { minLength: 1, maxLength: 3 }), (phases) => {
            assert.deepEqual(run(variant, name, phases), run(variant, name, phases));
          }),
          { numRuns: variant.keyed ? 30 : 100 },
        );
      });

      if (variant.keyed) {
        test("a key's member depends on the key and the members only: not on earlier picks, candidate order or member order", () => {
          fc.assert(
            fc.property(
              membersArb,
              fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 30 }),
              fc.array(fc.string({ maxLength: 12 }), { maxLength: 30 }),
              (members, keys, earlier) => {
                const usable = members.filter((member) => member.weight > 0);
                const idle = (list: readonly Member[]) => list.map((member) => ({ ...member, active: 0 }));
                const fresh = createStrategy(name, members, variant.options());
                const expected = keys.map((key) => fresh.select(idle(usable), key).name);

                const used = createStrategy(name, [...members].reverse(), variant.options());
                for (const key of earlier) used.select(idle(usable), key);
                const reordered = idle([...usable].reverse());
                assert.deepEqual(keys.map((key) => used.select(reordered, key).name), expected);
              },
            ),
            { numRuns: 50 },
          );
        });
      }
    });
  }
}

/** The pool's side of the contract, through a balancer configured with each strategy. */
describe("strategy contract, through a pool", () => {
  const conn = { remoteAddress: "192.0.2.7", tls: false };

  function setup(variant: Variant, members: ({ name: string } & Record<string, unknown>)[]) {
    const clock = new FakeClock(1_000_000);
    const farm = fakeFarm(members.map((member) => member.name));
    const balancer = createBalancer(poolConfig(members, variant.pool), { clock, upstream: farm.upstream, log: () => {} });
    const get = async (i: number) => {
      const headers = variant.keyed ? { "x-client": `client-${i}` } : undefined;
      const response = (await balancer.fetch(new Request("http://tandem.test/", { headers }), conn))!;
      await response.text();
      return response;
    };
    return { farm, balancer, get };
  }

  for (const variant of Object.values(VARIANTS).flat()) {
    test(`${variant.label}: a member of weight 0 gets no new request while the others serve, all of them`, async () => {
      const { farm, balancer, get } = setup(variant, [{ name: "a" }, { name: "idle", weight: 0 }, { name: "c", weight: 2 }]);
      for (let i = 0; i < 60; i++) assert.equal((await get(i)).status, 200);
      assert.deepEqual(new Set(farm.served), new Set(["a", "c"]));

      // Set live (admin API): the strategy is updated, and the member is out at once.
      const pool = balancer.pools.get("app")!;
      pool.change(pool.member("c")!, { weight: 0 });
      pool.change(pool.member("idle")!, { weight: 1 });
      farm.served.length = 0;
      for (let i = 0; i < 60; i++) assert.equal((await get(i)).status, 200);
      assert.deepEqual(new Set(farm.served), new Set(["a", "idle"]));
    });

    test(`${variant.label}: no member may take the request (weight 0, stopped): 503, and no member is asked`, async () => {
      const { farm, balancer, get } = setup(variant, [{ name: "a", weight: 0 }, { name: "b", activation: "stopped" }, { name: "c" }]);
      balancer.pools.get("app")!.member("c")!.activation = "stopped";
      for (let i = 0; i < 5; i++) assert.equal((await get(i)).status, 503);
      assert.deepEqual(farm.requests, []);
    });
  }
});
