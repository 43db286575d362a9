import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { createAdminApp } from "../../../../core/admin/app.ts";
import { createAdminControl } from "../../../../core/admin/control.ts";
import { createBalancer } from "../../../../core/balancer/balancer.ts";
import { registerReplicationMetrics } from "../../../../core/cluster/replication/metrics.ts";
import { clusterKey } from "../../../../core/cluster/replication/role.ts";
import { ClusterSchema } from "../../../../core/cluster/replication/schema.ts";
import { validateConfig } from "../../../../core/config/load.ts";
import { Registry } from "../../../../core/metrics/registry.ts";
import { loadConfigFiles } from "../../../../core/config/files.ts";
import { FakeClock } from "../../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../../support/fake-upstream.ts";
import { CLUSTER_KEY, TestCluster } from "../../../support/replication-cluster.ts";

const base = { name: "shop", node: "lb1", listen: "127.0.0.1:7400", peers: [{ name: "lb2", address: "127.0.0.1:7401" }], key: CLUSTER_KEY };

const problemPaths = (input: unknown) => {
  const result = v.safeParse(ClusterSchema, input);
  return result.success ? [] : result.issues.map((issue) => `${v.getDotPath(issue)}: ${issue.message}`);
};

describe("cluster config", () => {
  test("defaults: 3 s heartbeats, 10 s dead-peer timeout, 100000 queued updates", () => {
    const cluster = v.parse(ClusterSchema, base);
    assert.equal(cluster.heartbeat, 3000);
    assert.equal(cluster.deadAfter, 10_000);
    assert.equal(cluster.sendQueue, 100_000);
  });

  test("refuses itself among the peers, duplicate peers, a short key and deadAfter within a heartbeat", () => {
    assert.match(problemPaths({ ...base, peers: [...base.peers, { name: "lb1", address: "127.0.0.1:7402" }] }).join(), /peers: a peer list without this node/);
    assert.match(problemPaths({ ...base, peers: [...base.peers, { name: "lb2", address: "127.0.0.1:7402" }] }).join(), /peers: peers with distinct names/);
    assert.match(problemPaths({ ...base, key: "short" }).join(), /key: a key of at least 32 characters/);
    assert.match(problemPaths({ ...base, heartbeat: "5s", deadAfter: "5s" }).join(), /deadAfter: longer than heartbeat/);
    assert.match(problemPaths({ ...base, peers: [{ name: "__proto__!", address: "x:1" }] }).join(), /peers.0.name/);
    assert.match(problemPaths({ ...base, extra: 1 }).join(), /extra/);
  });

  test("the key: TANDEM_CLUSTER_KEY wins; without a key, TLS is required", () => {
    const cluster = v.parse(ClusterSchema, base);
    const env = (value?: string) => (name: string) => (name === "TANDEM_CLUSTER_KEY" ? value : undefined);
    assert.deepEqual(clusterKey(cluster, env()), { key: CLUSTER_KEY });
    assert.deepEqual(clusterKey(cluster, env("e".repeat(32))), { key: "e".repeat(32) });
    assert.match((clusterKey(cluster, env("short")) as { problem: string }).problem, /TANDEM_CLUSTER_KEY/);
    const keyless = v.parse(ClusterSchema, { ...base, key: undefined });
    assert.match((clusterKey(keyless, env()) as { problem: string }).problem, /cluster.tls/);
    assert.deepEqual(clusterKey({ ...keyless, tls: { cert: "c", key: "k", ca: "a" } }, env()), { key: undefined });
  });

  test("tandem check and start refuse a cluster without key or TLS, and unreadable cluster TLS files", async () => {
    const config = (cluster: Record<string, unknown>) => {
      const result = validateConfig({ listeners: [{ address: "127.0.0.1:0" }], pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:1" }] } }, cluster });
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.config;
    };
    const platform = { runtime: "test", tlsMinVersions: ["1.2", "1.3"] as const, readTextFile: (path: string) => Promise.reject(new Error(`no ${path}`)), env: () => undefined };
    const keyless = await loadConfigFiles(config({ ...base, key: undefined }), "/etc/tandem.yaml", platform);
    assert.deepEqual(keyless.ok ? [] : keyless.problems, ["cluster: a shared key (cluster.key or TANDEM_CLUSTER_KEY) or mutual TLS (cluster.tls) is required"]);
    const missing = await loadConfigFiles(config({ ...base, tls: { cert: "n.pem", key: "n.key", ca: "ca.pem" } }), "/etc/tandem.yaml", platform);
    assert.deepEqual(missing.ok ? [] : missing.problems.map((problem) => problem.split(":")[0]), ["cluster.tls.cert", "cluster.tls.key", "cluster.tls.ca"]);
    const fine = await loadConfigFiles(config(base), "/etc/tandem.yaml", platform);
    assert.equal(fine.ok, true);
  });
});

describe("admin plane", () => {
  test("an API member change reaches the replication hook; /api/v1/cluster and /metrics report the peers", async () => {
    const cluster = await TestCluster.start(["n1", "n2"]);
    try {
      await cluster.until(() => cluster.nodes.get("n1")!.node.status().peers[0].state === "up", "link up");
      const n1 = cluster.nodes.get("n1")!;
      const registry = new Registry();
      registerReplicationMetrics(registry, () => n1.node.status());
      const control = createAdminControl({
        balancer: n1.balancer,
        registry,
        runtime: "test",
        startedAt: 0,
        reloads: () => 0,
        reload: () => Promise.resolve({ ok: true, summary: "" }),
        log: () => {},
        cluster: () => n1.node.status(),
        memberChanged: (pool, member, change, actor) => n1.store.adminChanged(pool, member, change, actor),
      });
      const app = createAdminApp({ control, verify: undefined, publicMetrics: false, log: () => {} });
      const patched = await app.request("/api/v1/pools/app/members/c", { method: "PATCH", body: JSON.stringify({ activation: "disabled" }) });
      assert.equal(patched.status, 200);
      const remote = cluster.nodes.get("n2")!.balancer.pools.get("app")!.member("c")!;
      await cluster.until(() => remote.activation === "disabled", "drain reached n2");
      await cluster.until(() => n1.node.status().peers[0].lag === 0, "acknowledged");
      const status = await (await app.request("/api/v1/cluster")).json();
      assert.equal(status.node, "n1");
      assert.deepEqual(
        { name: status.peers[0].name, state: status.peers[0].state, inbound: status.peers[0].inbound, lag: status.peers[0].lag },
        { name: "n2", state: "up", inbound: true, lag: 0 },
      );
      assert.equal(typeof status.peers[0].lastContact, "string");
      const metrics = await (await app.request("/metrics")).text();
      assert.match(metrics, /tandem_replication_peer_up\{peer="n2"\} 1/);
      assert.match(metrics, /tandem_replication_peer_lag_updates\{peer="n2"\} 0/);
      assert.match(metrics, /tandem_replication_resyncs_total\{peer="n2",direction="sent"\} 1/);
    } finally {
      cluster.stop();
    }
  });

  test("without a cluster, /api/v1/cluster is 404", async () => {
    const clock = new FakeClock();
    const balancer = createBalancer(poolConfig([{ name: "a" }]), { clock, upstream: fakeFarm(["a"]).upstream, log: () => {} });
    const control = createAdminControl({
      balancer,
      registry: new Registry(),
      runtime: "test",
      startedAt: 0,
      reloads: () => 0,
      reload: () => Promise.resolve({ ok: true, summary: "" }),
      log: () => {},
    });
    const app = createAdminApp({ control, verify: undefined, publicMetrics: false, log: () => {} });
    assert.equal((await app.request("/api/v1/cluster")).status, 404);
    balancer.close();
  });
});
