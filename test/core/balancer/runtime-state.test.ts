import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { applyOverrides, decodeState, encodeState, runtimeOverrides } from "../../../core/balancer/runtime-state.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";

function balancerWith(members: { name: string; activation?: string; weight?: number }[]) {
  return createBalancer(poolConfig(members), { clock: new FakeClock(), upstream: fakeFarm(members.map((m) => m.name)).upstream, log: () => {} });
}

describe("run-time state", () => {
  test("only what differs from the file is an override, with the file's values of the time", () => {
    const balancer = balancerWith([{ name: "a" }, { name: "b", weight: 3 }, { name: "c" }]);
    const pool = balancer.pools.get("app")!;
    assert.deepEqual(runtimeOverrides(balancer.pools), []);
    pool.change(pool.member("a")!, { activation: "disabled" });
    pool.change(pool.member("b")!, { weight: 5 });
    assert.deepEqual(runtimeOverrides(balancer.pools), [
      { pool: "app", member: "a", activation: "disabled", weight: 1, file: { activation: "active", weight: 1 } },
      { pool: "app", member: "b", activation: "active", weight: 5, file: { activation: "active", weight: 3 } },
    ]);
  });

  test("applied field by field: a field the file changed since keeps the file's value; a member gone is reported", () => {
    const before = balancerWith([{ name: "a" }, { name: "b", weight: 3 }]);
    const pool = before.pools.get("app")!;
    pool.change(pool.member("a")!, { activation: "disabled", weight: 2 });
    pool.change(pool.member("b")!, { weight: 5 });
    const saved = runtimeOverrides(before.pools);
    // The file now stops a (its activation changed there) and drops b.
    const after = balancerWith([{ name: "a", activation: "stopped" }, { name: "c" }]);
    const outcome = applyOverrides(after.pools, saved);
    assert.deepEqual(outcome, { applied: ["app/a"], gone: ["app/b"], fileWins: ["app/a: activation"] });
    const a = after.pools.get("app")!.member("a")!;
    assert.equal(a.activation, "stopped", "the file's new activation stands");
    assert.equal(a.configuredWeight, 2, "the weight the file did not touch is kept");
  });

  test("the file round-trips; anything else is refused with a reason", () => {
    const balancer = balancerWith([{ name: "a" }]);
    const pool = balancer.pools.get("app")!;
    pool.change(pool.member("a")!, { activation: "stopped" });
    const text = encodeState(runtimeOverrides(balancer.pools), Date.UTC(2026, 11, 5));
    assert.deepEqual(decodeState(text), runtimeOverrides(balancer.pools));
    assert.match(text, /"savedAt": "2026-12-05T00:00:00.000Z"/);
    for (const bad of ["{", "[]", JSON.stringify({ version: 2, members: [] }), JSON.stringify({ version: 1, members: [{ pool: "app", member: "a", activation: "sleeping", weight: 1, file: { activation: "active", weight: 1 } }] })]) {
      assert.ok("problem" in (decodeState(bad) as object), bad);
    }
  });
});
