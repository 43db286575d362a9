import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { createAdminApp } from "../../../../core/admin/app.ts";
import type { AdminControl } from "../../../../core/admin/model.ts";
import { registerVrrpMetrics } from "../../../../core/cluster/vrrp/metrics.ts";
import { createVrrpRole, vrrpKey } from "../../../../core/cluster/vrrp/role.ts";
import { VrrpSchema } from "../../../../core/cluster/vrrp/schema.ts";
import { Registry } from "../../../../core/metrics/registry.ts";
import { FakeClock } from "../../../support/fake-clock.ts";
import { MemoryDatagramNetwork } from "../../../support/memory-datagrams.ts";

const config = (key?: string) =>
  v.parse(VrrpSchema, { key, address: "10.0.0.11", instances: [{ name: "web", vrid: 51, advertInterval: "100ms", interface: "eth0", virtualAddresses: ["10.0.0.100/24"] }] });

async function settle(clock: FakeClock, ms: number) {
  for (let elapsed = 0; elapsed < ms; elapsed += 10) {
    clock.advance(10);
    for (let i = 0; i < 4; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

function role(clock: FakeClock, env: Record<string, string> = {}) {
  const network = new MemoryDatagramNetwork();
  return createVrrpRole({
    clock,
    bindDatagram: network.bindFor("10.0.0.11"),
    runCommand: () => Promise.resolve({ code: 0, output: "" }),
    ready: () => true,
    replication: () => "off",
    log: () => {},
    env: (name) => env[name],
  });
}

describe("VRRP role, admin API and metrics", () => {
  test("the key: TANDEM_VRRP_KEY wins over vrrp.key, and one of them is required", () => {
    const env = (values: Record<string, string>) => (name: string) => values[name];
    assert.deepEqual(vrrpKey(config("0123456789abcdef"), env({})), { key: "0123456789abcdef" });
    assert.deepEqual(vrrpKey(config("0123456789abcdef"), env({ TANDEM_VRRP_KEY: "from the environment" })), { key: "from the environment" });
    assert.match((vrrpKey(config(), env({})) as { problem: string }).problem, /^vrrp\.key: /);
    assert.match((vrrpKey(config(), env({ TANDEM_VRRP_KEY: "short" })) as { problem: string }).problem, /^TANDEM_VRRP_KEY: /);
  });

  test("apply starts, reloads and stops the agent; a missing key is a problem, not a crash", async () => {
    const clock = new FakeClock();
    const vrrp = role(clock);
    assert.deepEqual(await vrrp.apply(config()), ["vrrp.key: a shared key of at least 16 characters (or TANDEM_VRRP_KEY)"]);
    assert.equal(vrrp.status(), undefined);
    assert.deepEqual(await vrrp.apply(config("0123456789abcdef")), []);
    await settle(clock, 500);
    assert.equal(vrrp.status()!.instances[0].state, "master");
    assert.deepEqual(await vrrp.apply(config("0123456789abcdef")), []);
    assert.equal(vrrp.status()!.instances[0].state, "master", "an unchanged reload changes nothing");
    assert.deepEqual(await vrrp.apply(undefined), []);
    assert.equal(vrrp.status(), undefined);
  });

  test("GET /api/v1/vrrp and the Prometheus series show state, priorities, transitions and drops", async () => {
    const clock = new FakeClock();
    const vrrp = role(clock, { TANDEM_VRRP_KEY: "0123456789abcdef" });
    const registry = new Registry();
    registerVrrpMetrics(registry, vrrp.status);
    assert.doesNotMatch(registry.render(), /tandem_vrrp_state\{/, "no series without an agent");
    await vrrp.apply(config());
    await settle(clock, 500);
    const unused = () => {
      throw new Error("not used by this test");
    };
    const control: AdminControl = {
      status: unused,
      ready: () => true,
      setMember: unused,
      sessions: unused,
      deleteSession: unused,
      reload: unused,
      metrics: () => registry.render(),
      vrrp: () => vrrp.status() ?? null,
    };
    const app = createAdminApp({ control, verify: undefined, publicMetrics: true, log: () => {} });
    const response = await app.fetch(new Request("http://127.0.0.1/api/v1/vrrp"));
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.transport, "multicast");
    assert.deepEqual(body.destinations, ["224.0.0.18"]);
    assert.deepEqual(
      [body.instances[0].name, body.instances[0].state, body.instances[0].masterAddress, body.instances[0].priority, body.instances[0].transitions],
      ["web", "master", "10.0.0.11", 100, 2],
    );
    assert.equal(body.drops.replay, 0);
    assert.equal(body.sendErrors, 0);
    assert.deepEqual(body.sync, { state: "off", timeoutMs: 5000, waitedMs: null });
    const metrics = await (await app.fetch(new Request("http://127.0.0.1/metrics"))).text();
    for (
      const line of [
        'tandem_vrrp_state{instance="web",vrid="51",state="master"} 1',
        'tandem_vrrp_state{instance="web",vrid="51",state="backup"} 0',
        'tandem_vrrp_priority{instance="web",vrid="51"} 100',
        'tandem_vrrp_effective_priority{instance="web",vrid="51"} 100',
        'tandem_vrrp_transitions_total{instance="web",vrid="51"} 2',
        'tandem_vrrp_drops_total{reason="auth"} 0',
        "# TYPE tandem_vrrp_drops_total counter",
        "tandem_vrrp_send_errors_total 0",
        "tandem_vrrp_sync_waiting 0",
      ]
    ) assert.ok(metrics.includes(line), line);
    await vrrp.stop();
    const none = await createAdminApp({ control: { ...control, vrrp: () => vrrp.status() ?? null }, verify: undefined, publicMetrics: true, log: () => {} })
      .fetch(new Request("http://127.0.0.1/api/v1/vrrp"));
    assert.equal(none.status, 404);
  });
});
