import { test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { applyOverrides, type MemberOverride } from "../../../core/balancer/runtime-state.ts";
import { validateConfig } from "../../../core/config/load.ts";
import type { Config, MemberConfig } from "../../../core/config/schema.ts";
import { WaitingOverrides } from "../../../core/discovery/waiting-state.ts";
import { FakeClock } from "../../support/fake-clock.ts";

function config(pools: Record<string, unknown>): Config {
  const result = validateConfig({ listeners: [{ address: "127.0.0.1:0" }], accessLog: false, pools });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

const fromDns = (name: string): MemberConfig => ({ name, url: `http://${name.replace(/^app-|-80$/g, "").replaceAll("-", ".")}:80`, weight: 1, distance: 0, activation: "active", maxconn: 0 });
const drained = (pool: string, member: string): MemberOverride => ({ pool, member, activation: "disabled", weight: 1, file: { activation: "active", weight: 1 } });

/** A balancer whose `app` pool takes the members the test puts in `discovered`, as serve.ts's does from DNS. */
function balancerWith(cfg: Config) {
  const state = { discovered: [] as MemberConfig[] };
  const balancer = createBalancer(cfg, {
    clock: new FakeClock(),
    log: () => {},
    discovered: (pool) => pool === "app" ? state.discovered : [],
    upstream: () => Promise.reject(new Error("not asked")),
  });
  return { balancer, state };
}

test("saved entries of members a discover pool may bring wait for them; the others are applied at once", () => {
  const cfg = config({ app: { discover: { name: "app.internal", port: 80 } }, listed: { members: [{ name: "n1", url: "http://127.0.0.1:1" }] } });
  const { balancer, state } = balancerWith(cfg);
  const waiting = new WaitingOverrides();
  const now = waiting.hold(balancer.pools, [drained("app", "app-10-0-0-5-80"), drained("app", "app-10-0-0-6-80"), drained("listed", "n1"), drained("listed", "n9")]);
  assert.deepEqual(applyOverrides(balancer.pools, now), { applied: ["listed/n1"], gone: ["listed/n9"], fileWins: [] });
  assert.deepEqual(waiting.names(), ["app/app-10-0-0-5-80", "app/app-10-0-0-6-80"]);
  assert.equal(waiting.entries().length, 2, "kept for the state file too");

  const answered = new Set<string>();
  assert.equal(waiting.settle(balancer.pools, (pool) => answered.has(pool)), undefined, "no answer yet: nothing settles");

  // The first good answer brings .5 and not .6.
  state.discovered = [fromDns("app-10-0-0-5-80"), fromDns("app-10-0-0-7-80")];
  balancer.reload(balancer.config);
  answered.add("app");
  assert.deepEqual(waiting.settle(balancer.pools, (pool) => answered.has(pool)), { applied: ["app/app-10-0-0-5-80"], gone: ["app/app-10-0-0-6-80"], fileWins: [] });
  const pool = balancer.pools.get("app")!;
  assert.equal(pool.member("app-10-0-0-5-80")!.activation, "disabled", "back drained, as saved");
  assert.equal(pool.member("app-10-0-0-7-80")!.activation, "active", "control: a member without a saved entry");
  assert.deepEqual(waiting.names(), []);
  balancer.close();
});

test("a waiting entry is gone when its pool loses its discover block or the pool itself goes", () => {
  const { balancer } = balancerWith(config({ app: { discover: { name: "app.internal", port: 80 } }, other: { discover: { name: "other.internal", port: 80 } } }));
  const waiting = new WaitingOverrides();
  assert.deepEqual(waiting.hold(balancer.pools, [drained("app", "app-10-0-0-5-80"), drained("other", "other-10-0-0-9-80")]), []);
  balancer.reload(config({ app: { members: [{ name: "n1", url: "http://127.0.0.1:1" }] } }));
  assert.deepEqual(waiting.settle(balancer.pools, () => false), { applied: [], gone: ["app/app-10-0-0-5-80", "other/other-10-0-0-9-80"], fileWins: [] });
  assert.deepEqual(waiting.entries(), []);
  balancer.close();
});

test("a member that comes with a weight its source changed since: the source's weight stands, the saved activation is applied", () => {
  const { balancer, state } = balancerWith(config({ app: { discover: { name: "app.internal", port: 80 } } }));
  const waiting = new WaitingOverrides();
  waiting.hold(balancer.pools, [{ pool: "app", member: "app-10-0-0-5-80", activation: "stopped", weight: 7, file: { activation: "active", weight: 1 } }]);
  state.discovered = [{ ...fromDns("app-10-0-0-5-80"), weight: 4 }];
  balancer.reload(balancer.config);
  assert.deepEqual(waiting.settle(balancer.pools, () => true), { applied: ["app/app-10-0-0-5-80"], gone: [], fileWins: ["app/app-10-0-0-5-80: weight"] });
  const member = balancer.pools.get("app")!.member("app-10-0-0-5-80")!;
  assert.deepEqual([member.activation, member.configuredWeight], ["stopped", 4]);
  balancer.close();
});
