/** What the core gives an edge platform: lazy health checks handed to waitUntil, and the edge warnings. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../core/balancer/balancer.ts";
import { edgeWarnings, formatEdgeWarning } from "../../core/config/edge-warnings.ts";
import type { Config } from "../../core/config/schema.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../support/fake-upstream.ts";

describe("edge", () => {
  test("lazy health: checks run only when a request finds them due, and go to conn.waitUntil", async () => {
    const clock = new FakeClock(1_000_000);
    const farm = fakeFarm(["a", "b"]);
    farm.behave("b", (request) => new Response(null, { status: request.target === "/health" ? 503 : 200 }));
    const lines: Record<string, unknown>[] = [];
    const config = poolConfig([{ name: "a" }, { name: "b" }], { health: { check: { path: "/health", interval: "1s", fall: 1 } } });
    const balancer = createBalancer(config, { clock, upstream: farm.upstream, probeClient: { request: farm.upstream }, lazyHealth: true, log: (line) => lines.push(line) });
    const pending: Promise<unknown>[] = [];
    const conn = { remoteAddress: "192.0.2.7", tls: false, waitUntil: (task: Promise<unknown>) => void pending.push(task) };

    clock.advance(60_000);
    assert.equal(farm.requests.filter((r) => r.target === "/health").length, 0, "no timer ran a check without traffic");
    await (await balancer.fetch(new Request("http://tandem.test/"), conn))!.text();
    assert.equal(pending.length, 2, "both members' checks were due and handed over");
    await Promise.all(pending);
    assert.equal(balancer.pools.get("app")!.member("b")!.health.up, false);
    assert.match(String(lines.find((line) => line.event === "health")?.reason), /^b DOWN: 1\/1 checks failed: HTTP 503/);

    pending.length = 0;
    await (await balancer.fetch(new Request("http://tandem.test/"), conn))!.text();
    assert.equal(pending.length, 0, "nothing is due again before the interval");
  });

  test("edgeWarnings names what the edge ignores, and nothing for a config that fits it", () => {
    const fits = poolConfig([{ name: "a" }], { sticky: { mode: "insert", key: "0123456789abcdef" } });
    assert.deepEqual(edgeWarnings(fits), []);

    const server = {
      ...poolConfig([{ name: "a", maxconn: 10 }], { sticky: { mode: "learn" }, tls: { verify: false } }, { admin: {}, watchConfig: true }),
      vrrp: { priority: 100 },
      cluster: { peers: [] },
      workers: 4,
    } as unknown as Config;
    const paths = edgeWarnings(server).map((warning) => warning.path);
    assert.deepEqual(paths, ["admin", "watchConfig", "vrrp", "cluster", "workers", "pools.app.sticky.mode", "pools.app.tls", "pools.app.members[0].maxconn"]);
    assert.match(formatEdgeWarning(edgeWarnings(server)[0]), /^admin: no admin listener on the edge/);
  });
});
