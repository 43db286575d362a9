import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";

const conn = { remoteAddress: "192.0.2.7", tls: false };

function setup(members: ({ name: string } & Record<string, unknown>)[], pool: Record<string, unknown> = {}) {
  const clock = new FakeClock(1_000_000);
  const farm = fakeFarm(members.map((m) => m.name));
  const balancer = createBalancer(poolConfig(members, pool), { clock, upstream: farm.upstream, log: () => {} });
  const get = async (path = "/", headers: Record<string, string> = {}) => {
    const response = await balancer.fetch(new Request(`http://tandem.test${path}`, { headers }), conn);
    return { response: response!, body: await response!.text() };
  };
  return { clock, farm, balancer, get };
}

function counts(names: string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const name of names) result[name] = (result[name] ?? 0) + 1;
  return result;
}

describe("selection", () => {
  test("smooth weighted round robin gives each member its weight's share", async () => {
    const { farm, get } = setup([{ name: "a", weight: 3 }, { name: "b" }, { name: "c" }]);
    for (let i = 0; i < 10; i++) await get();
    assert.deepEqual(counts(farm.served), { a: 6, b: 2, c: 2 });
    // No burst: never three a's in a row.
    assert.ok(!farm.served.join("").includes("aaa"), farm.served.join(""));
  });

  test("weight 0 takes no new sessions", async () => {
    const { farm, get } = setup([{ name: "a" }, { name: "b", weight: 0 }]);
    for (let i = 0; i < 6; i++) await get();
    assert.deepEqual(counts(farm.served), { a: 6 });
  });

  test("only the lowest distance with a usable member gets traffic", async () => {
    const { farm, get, balancer } = setup([{ name: "near1" }, { name: "near2" }, { name: "far", distance: 1 }]);
    for (let i = 0; i < 6; i++) await get();
    assert.deepEqual(counts(farm.served), { near1: 3, near2: 3 });
    const pool = balancer.pools.get("app")!;
    pool.member("near1")!.activation = "stopped";
    pool.member("near2")!.activation = "stopped";
    farm.served.length = 0;
    for (let i = 0; i < 3; i++) await get();
    assert.deepEqual(counts(farm.served), { far: 3 });
  });

  test("disabled drains: no new sessions, its sticky sessions still served; stopped takes nothing", async () => {
    const { farm, get, balancer } = setup([{ name: "a" }, { name: "b" }], { sticky: { mode: "route" } });
    const pool = balancer.pools.get("app")!;
    pool.member("a")!.activation = "disabled";
    for (let i = 0; i < 4; i++) await get();
    assert.deepEqual(counts(farm.served), { b: 4 });
    farm.served.length = 0;
    await get("/", { cookie: "JSESSIONID=abc.a" });
    assert.deepEqual(farm.served, ["a"]);
    pool.member("a")!.activation = "stopped";
    await get("/", { cookie: "JSESSIONID=abc.a" });
    assert.deepEqual(farm.served, ["a", "b"]);
  });

  test("a failed member's sessions go to its redirect target, a hot standby that takes nothing else", async () => {
    const { farm, get, balancer } = setup([
      { name: "a", redirect: "standby" },
      { name: "b" },
      { name: "standby", activation: "disabled" },
    ], { sticky: { mode: "route" } });
    for (let i = 0; i < 4; i++) await get();
    assert.deepEqual(counts(farm.served), { a: 2, b: 2 });
    balancer.pools.get("app")!.member("a")!.activation = "stopped";
    farm.served.length = 0;
    for (let i = 0; i < 3; i++) await get("/", { cookie: "JSESSIONID=s1.a" });
    assert.deepEqual(farm.served, ["standby", "standby", "standby"]);
  });

  test("failover stays inside the session's domain while it has a usable member", async () => {
    const { farm, get } = setup([
      { name: "a1", domain: "east" },
      { name: "a2", domain: "east" },
      { name: "b1", domain: "west" },
      { name: "b2", domain: "west" },
    ], { sticky: { mode: "route" } });
    farm.behave("a1", "refuse");
    for (let i = 0; i < 8; i++) await get("/", { cookie: `JSESSIONID=s${i}.a1` });
    assert.deepEqual(counts(farm.served), { a2: 8 });
    farm.behave("a2", "refuse");
    farm.served.length = 0;
    const { response } = await get("/", { cookie: "JSESSIONID=s9.a1" });
    assert.equal(response.status, 200);
    assert.match(farm.served[0], /^b/);
  });

  test("sticky force answers 503 instead of moving the session", async () => {
    const { get, balancer } = setup([{ name: "a" }, { name: "b" }], { sticky: { mode: "route", force: true } });
    balancer.pools.get("app")!.member("a")!.activation = "stopped";
    const { response } = await get("/", { cookie: "JSESSIONID=x.a" });
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "1");
  });

  test("no usable member: 503 with Retry-After", async () => {
    const { get, balancer } = setup([{ name: "a" }]);
    balancer.pools.get("app")!.member("a")!.activation = "stopped";
    const { response } = await get();
    assert.equal(response.status, 503);
    assert.ok(response.headers.has("retry-after"));
  });
});

describe("routing", () => {
  test("host and path prefix pick the pool; the rest goes to the default pool", async () => {
    const clock = new FakeClock();
    const farm = fakeFarm(["web", "api", "admin"]);
    const config = poolConfig([{ name: "web" }], {}, {});
    const result = { ...config };
    result.pools = {
      web: config.pools.app,
      api: { ...config.pools.app, members: [{ ...config.pools.app.members[0], name: "api", url: "http://127.0.0.1:9001" }] },
      admin: { ...config.pools.app, members: [{ ...config.pools.app.members[0], name: "admin", url: "http://127.0.0.1:9002" }] },
    };
    result.routes = [{ path: "/api", pool: "api" }, { host: "*.admin.test", pool: "admin" }];
    result.defaultPool = "web";
    const balancer = createBalancer(result, { clock, upstream: farm.upstream, log: () => {} });
    const served = async (url: string) => (await (await balancer.fetch(new Request(url), conn))!.text());
    assert.equal(await served("http://x.test/api"), "api");
    assert.equal(await served("http://x.test/api/v1?q"), "api");
    assert.equal(await served("http://x.test/apix"), "web");
    assert.equal(await served("http://ops.admin.test:8080/"), "admin");
    assert.equal(await served("http://admin.test/"), "web");
  });
});
