import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";

const conn = { remoteAddress: "192.0.2.7", tls: false };

function setup(sticky: Record<string, unknown>, behaviour?: (name: string) => (r: unknown) => Response) {
  const clock = new FakeClock(1_700_000_000_000);
  const names = ["a", "b", "c"];
  const farm = fakeFarm(names);
  if (behaviour) for (const name of names) farm.behave(name, behaviour(name));
  const config = poolConfig(names.map((name) => ({ name })), { sticky });
  const balancer = createBalancer(config, { clock, upstream: farm.upstream, log: () => {} });
  const get = async (path = "/", headers: Record<string, string> = {}, tls = false) => {
    const response = (await balancer.fetch(new Request(`http://tandem.test${path}`, { headers }), { ...conn, tls }))!;
    await response.text();
    return response;
  };
  return { clock, farm, balancer, get };
}

const cookieOf = (response: Response, name: string) =>
  response.headers.getSetCookie().map((line) => line.split(";")[0]).find((pair) => pair.startsWith(`${name}=`));

describe("insert", () => {
  test("sets an opaque cookie, sticks to it, and strips it before the application", async () => {
    const { farm, get } = setup({ mode: "insert" });
    const first = await get();
    const cookie = cookieOf(first, "SERVERID")!;
    assert.ok(cookie, "Set-Cookie SERVERID");
    assert.ok(!/\b[abc]\b/.test(cookie.split("=")[1].split(".")[0]), "the id does not reveal the member name");
    assert.match(first.headers.get("cache-control")!, /private/);
    const member = farm.served[0];
    for (let i = 0; i < 5; i++) {
      const again = await get("/", { cookie: `other=1; ${cookie}` });
      assert.equal(cookieOf(again, "SERVERID"), undefined, "no new cookie while sticking");
    }
    assert.deepEqual(farm.served, Array(6).fill(member));
    const seen = farm.received.get(member)!.at(-1)!.fields.get("cookie");
    assert.equal(seen, "other=1");
  });

  test("Secure by default on TLS listeners, and the configured attributes", async () => {
    const { get } = setup({ mode: "insert", sameSite: "Strict", path: "/app" });
    const plain = (await get()).headers.getSetCookie()[0];
    assert.match(plain, /Path=\/app; HttpOnly; SameSite=Strict/);
    assert.doesNotMatch(plain, /Secure/);
    const secure = (await get("/", {}, true)).headers.getSetCookie()[0];
    assert.match(secure, /Secure/);
  });

  test("an HMAC-signed cookie that was tampered with is treated as absent", async () => {
    const { farm, get } = setup({ mode: "insert", key: "0123456789abcdef-secret" });
    const cookie = cookieOf(await get(), "SERVERID")!;
    const [name, value] = cookie.split("=");
    const parts = value.split(".");
    const forged = `${name}=${parts[0]}.${parts[1]}.${parts[2]}.${parts[3].replace(/^./, (c) => (c === "A" ? "B" : "A"))}`;
    const response = await get("/", { cookie: forged });
    assert.ok(cookieOf(response, "SERVERID"), "a fresh cookie replaces the forged one");
    assert.equal(farm.served.length, 2);
  });

  test("maxIdle and maxLife expire the cookie (fake clock)", async () => {
    const { clock, get } = setup({ mode: "insert", maxIdle: "10m", maxLife: "1h" });
    let cookie = cookieOf(await get(), "SERVERID")!;
    clock.advance(9 * 60_000);
    const refreshed = await get("/", { cookie });
    cookie = cookieOf(refreshed, "SERVERID") ?? cookie;
    assert.ok(cookieOf(refreshed, "SERVERID"), "refreshed after a quarter of maxIdle");
    clock.advance(11 * 60_000);
    assert.ok(cookieOf(await get("/", { cookie }), "SERVERID"), "idle too long: treated as new");
  });

  test("moving a session rewrites the cookie to the new member", async () => {
    const { farm, get, balancer } = setup({ mode: "insert" });
    const cookie = cookieOf(await get(), "SERVERID")!;
    balancer.pools.get("app")!.member(farm.served[0])!.activation = "stopped";
    const moved = await get("/", { cookie });
    const newCookie = cookieOf(moved, "SERVERID")!;
    assert.ok(newCookie && newCookie !== cookie);
    await get("/", { cookie: newCookie });
    assert.equal(farm.served[2], farm.served[1]);
    assert.notEqual(farm.served[1], farm.served[0]);
  });
});

describe("prefix", () => {
  const app = (name: string) => () =>
    new Response(name, { headers: { "set-cookie": `JSESSIONID=${name.toUpperCase()}123; Path=/; HttpOnly` } });

  test("prefixes the app cookie on the way out and unprefixes it on the way in", async () => {
    const { farm, get } = setup({ mode: "prefix" }, app);
    const line = (await get()).headers.getSetCookie()[0];
    const member = farm.served[0];
    assert.match(line, new RegExp(`^JSESSIONID=[0-9a-z]+~${member.toUpperCase()}123; Path=/; HttpOnly$`));
    const cookie = line.split(";")[0];
    await get("/", { cookie });
    assert.equal(farm.served[1], member);
    assert.equal(farm.received.get(member)!.at(-1)!.fields.get("cookie"), `JSESSIONID=${member.toUpperCase()}123`);
  });

  test("failover re-prefixes the session for its new member", async () => {
    const { farm, get, balancer } = setup({ mode: "prefix" }, (name) => () => new Response(name));
    const ids = [...balancer.pools.get("app")!.members].map((m) => m.id);
    balancer.pools.get("app")!.member("a")!.activation = "stopped";
    const response = await get("/", { cookie: `JSESSIONID=${ids[0]}~S1` });
    const line = response.headers.getSetCookie()[0];
    const newId = ids[["a", "b", "c"].indexOf(farm.served[0])];
    assert.match(line, new RegExp(`^JSESSIONID=${newId}~S1;`));
  });
});

describe("route", () => {
  test("cookie <id>.<route> and ;jsessionid= path parameter; the path wins", async () => {
    const { farm, get } = setup({ mode: "route" });
    await get("/", { cookie: "JSESSIONID=ABC.b" });
    await get("/shop;jsessionid=ABC.c", { cookie: "JSESSIONID=ABC.b" });
    await get("/shop;jsessionid=ABC.zz", { cookie: "JSESSIONID=ABC.a" });
    assert.deepEqual(farm.served, ["b", "c", "a"]);
  });

  test("a custom separator", async () => {
    const { farm, get } = setup({ mode: "route", separator: "!" });
    await get("/", { cookie: "JSESSIONID=ABC!c" });
    assert.deepEqual(farm.served, ["c"]);
  });
});

describe("learn", () => {
  test("learns the session from Set-Cookie and follows it; failover re-sticks the table", async () => {
    let issued = 0;
    const { farm, get, balancer } = setup({ mode: "learn" }, (name) => () =>
      new Response(name, { headers: { "set-cookie": `JSESSIONID=${name}-${++issued}` } }));
    await get();
    const session = `${farm.served[0]}-1`;
    const table = balancer.pools.get("app")!.sticky!.table!;
    assert.equal(table.get(session), farm.served[0]);
    for (let i = 0; i < 3; i++) await get("/", { cookie: `JSESSIONID=${session}` });
    assert.deepEqual(new Set(farm.served), new Set([farm.served[0]]));
    balancer.pools.get("app")!.member(farm.served[0])!.activation = "stopped";
    farm.behave("a", () => new Response("a"));
    farm.behave("b", () => new Response("b"));
    farm.behave("c", () => new Response("c"));
    await get("/", { cookie: `JSESSIONID=${session}` });
    const movedTo = farm.served.at(-1)!;
    assert.notEqual(movedTo, farm.served[0]);
    assert.equal(table.get(session), movedTo);
  });
});

describe("malformed sticky values are treated as absent, never an error", () => {
  for (const mode of ["insert", "prefix", "route", "learn"]) {
    test(`${mode}: random cookie and path values`, async () => {
      const { get } = setup({ mode, key: mode === "insert" ? "0123456789abcdef-key" : undefined });
      const cookieValue = fc.string({ maxLength: 80 }).filter((s) => !/[;\r\n\0]/.test(s) && s.trim() === s);
      await fc.assert(
        fc.asyncProperty(
          cookieValue,
          fc.constantFrom("SERVERID", "JSESSIONID", "other"),
          fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
          async (value, name, pathValue) => {
            const response = await get(`/p;jsessionid=${pathValue}`, { cookie: `${name}=${value}` });
            assert.equal(response.status, 200);
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});

describe("members' own cookie values (a farm moving from HAProxy)", () => {
  function farmWithCookies(sticky: Record<string, unknown>) {
    const names = ["a", "b", "c"];
    const farm = fakeFarm(names);
    const config = poolConfig(names.map((name) => ({ name, cookie: name.toUpperCase() })), { sticky });
    const balancer = createBalancer(config, { clock: new FakeClock(1_700_000_000_000), upstream: farm.upstream, log: () => {} });
    const get = async (headers: Record<string, string> = {}) => {
      const response = (await balancer.fetch(new Request("http://tandem.test/", { headers }), conn))!;
      await response.text();
      return response;
    };
    return { farm, get };
  }

  test("insert: HAProxy's bare SERVERID=B keeps its member, the answer rewrites it in tandem's dated form", async () => {
    const { farm, get } = farmWithCookies({ mode: "insert" });
    const answer = await get({ cookie: "SERVERID=B" });
    assert.deepEqual(farm.served, ["b"]);
    const rewritten = cookieOf(answer, "SERVERID")!;
    assert.match(rewritten, /^SERVERID=B\.[0-9a-z]+\.[0-9a-z]+$/);
    await get({ cookie: rewritten });
    assert.deepEqual(farm.served, ["b", "b"]);
    assert.equal(farm.received.get("b")![0].fields.get("cookie"), null, "the application never sees it");
    const fresh = cookieOf(await get(), "SERVERID")!;
    assert.match(fresh, /^SERVERID=[ABC]\./, "new sessions get the configured values too");
  });

  test("insert with a key: a bare value has no MAC, so it is no session (a client could pick its member)", async () => {
    const { farm, get } = farmWithCookies({ mode: "insert", key: "0123456789abcdef-secret" });
    const picks = new Set<string>();
    for (let i = 0; i < 6; i++) {
      await get({ cookie: "SERVERID=B" });
      picks.add(farm.served.at(-1)!);
    }
    assert.ok(picks.size > 1, `spread as new sessions: ${[...picks]}`);
  });

  test("prefix: HAProxy's JSESSIONID=B~<session> keeps its member; the application sees its own value", async () => {
    const { farm, get } = farmWithCookies({ mode: "prefix" });
    await get({ cookie: "JSESSIONID=B~abc123" });
    assert.deepEqual(farm.served, ["b"]);
    assert.equal(farm.received.get("b")![0].fields.get("cookie"), "JSESSIONID=abc123");
  });
});
