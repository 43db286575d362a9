import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { validateConfig } from "../../../core/config/load.ts";
import type { AccessRecord } from "../../../core/log/access-record.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, memberUrl } from "../../support/fake-upstream.ts";
import { compileTrafficRules } from "../../../core/rules/rules.ts";

/** Pools "app" (member a) and "static" (member s); `listenerRules` on the one listener, `appRules` on app. */
function setup(listenerRules: unknown[], options: { appRules?: unknown[]; top?: Record<string, unknown>; errorPage?: boolean } = {}) {
  const clock = new FakeClock(1_000);
  const farm = fakeFarm(["a", "s"]);
  const result = validateConfig({
    listeners: [{ address: "127.0.0.1:0", rules: listenerRules }],
    accessLog: true,
    pools: {
      app: { members: [{ name: "a", url: memberUrl(0) }], rules: options.appRules ?? [], forwarding: { trustedProxies: ["10.0.0.0/8"] } },
      static: { members: [{ name: "s", url: memberUrl(1) }] },
    },
    ...options.top,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const records: AccessRecord[] = [];
  const balancer = createBalancer(result.config, {
    clock,
    upstream: farm.upstream,
    log: () => {},
    accessLog: (record) => records.push(record),
    errorPage: options.errorPage ? (status) => ({ contentType: "text/html", body: new TextEncoder().encode(`<h1>page ${status}</h1>`) }) : undefined,
  });
  const send = (path = "/", init: RequestInit & { from?: string; host?: string } = {}) =>
    balancer.fetch(new Request(`http://${init.host ?? "shop.test"}${path}`, init), { remoteAddress: init.from ?? "192.0.2.7", tls: false }).then((response) => response!);
  return { clock, farm, balancer, send, records };
}

describe("rules through the balancer", () => {
  test("deny: the status and body given, else tandem's page for the status; logged with the rule", async () => {
    const { send, farm, records } = setup([
      { when: { path: { prefix: "/admin" } }, deny: { status: 403, body: "no admin here\n" } },
      { when: { method: "DELETE" }, deny: {} },
    ]);
    const admin = await send("/admin/users");
    assert.equal(admin.status, 403);
    assert.equal(await admin.text(), "no admin here\n");
    assert.equal(admin.headers.get("content-type"), "text/plain; charset=utf-8");
    const deleted = await send("/x", { method: "DELETE" });
    assert.equal(deleted.status, 403);
    assert.equal(await deleted.text(), "403 Forbidden\n");
    assert.equal(farm.requests.length, 0, "no denied request reaches a member");
    assert.equal(records[0].error, "denied by listeners[0].rules[0]");
    assert.equal(records[0].termination, "PR");
    assert.equal((await send("/shop")).status, 200, "control: other requests pass");
  });

  test("deny without a body uses the operator's error page", async () => {
    const { send } = setup([{ deny: { status: 403 } }], { errorPage: true });
    const response = await send();
    assert.equal(await response.text(), "<h1>page 403</h1>");
  });

  test("allow ends the list: later rules of the same list do not apply", async () => {
    const { send } = setup([{ when: { clientIp: "192.0.2.0/24" }, allow: true }, { deny: {} }]);
    assert.equal((await send("/", { from: "192.0.2.9" })).status, 200);
    assert.equal((await send("/", { from: "198.51.100.1" })).status, 403);
  });

  test("redirect: code and location with {host}, {path}, {query}", async () => {
    const { send, records } = setup([{ when: { path: { prefix: "/old" } }, redirect: { location: "https://{host}/new{path}{query}", code: 301 } }]);
    const response = await send("/old/page?a=1", { host: "shop.test:8080", redirect: "manual" });
    assert.equal(response.status, 301);
    assert.equal(response.headers.get("location"), "https://shop.test:8080/new/old/page?a=1");
    assert.equal(records[0].termination, "LR");
    const plain = await send("/old", { redirect: "manual" });
    assert.equal(plain.headers.get("location"), "https://shop.test/new/old");
  });

  test("route: any matcher chooses the pool; the default routing otherwise", async () => {
    const { send, farm } = setup([{ when: { header: { name: "accept", prefix: "image/" } }, route: "static" }]);
    await send("/logo", { headers: { accept: "image/png" } });
    await send("/logo", { headers: { accept: "text/html" } });
    assert.deepEqual(farm.served, ["s", "a"]);
  });

  test("return: a static answer with its own fields", async () => {
    const { send, farm } = setup([{ when: { path: { exact: "/health" } }, return: { status: 200, body: "{\"ok\":true}", contentType: "application/json", headers: { "X-Served-By": "tandem" } } }]);
    const response = await send("/health");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("x-served-by"), "tandem");
    assert.equal(await response.text(), "{\"ok\":true}");
    assert.equal(farm.requests.length, 0);
  });

  test("tarpit: the answer comes only after the delay", async () => {
    const { send, clock, records } = setup([{ when: { header: { name: "user-agent", regex: "sqlmap" } }, tarpit: { delay: "10s" } }]);
    let settled = false;
    const answer = send("/", { headers: { "user-agent": "sqlmap/1.7" } }).then((response) => {
      settled = true;
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    clock.advance(9_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(settled, false, "still held before the delay");
    clock.advance(1_000);
    const response = await answer;
    assert.equal(response.status, 500);
    assert.equal(records[0].termination, "PT");
  });

  test("tarpit: a client that leaves is let go at once", async () => {
    const { balancer, records } = setup([{ tarpit: { delay: "1h" } }]);
    const leaving = new AbortController();
    const answer = balancer.fetch(new Request("http://shop.test/", { signal: leaving.signal }), { remoteAddress: "192.0.2.7", tls: false });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The fake clock never moves: only the client's leaving can end the hold.
    leaving.abort();
    assert.equal((await answer)!.status, 500);
    assert.equal(records[0].termination, "PT");
  });

  test("request headers: del, set, add reach the member; matchers see the client's own fields", async () => {
    const { send, farm } = setup([
      { requestHeaders: { del: ["X-Internal"], set: { "X-Env": "prod" }, add: { "X-Tag": "b" } } },
      { when: { header: { name: "x-env", equals: "prod" } }, requestHeaders: { set: { "X-Seen": "yes" } } },
    ]);
    await send("/", { headers: { "x-internal": "1", "x-env": "dev", "x-tag": "a" } });
    const fields = farm.requests[0].fields;
    assert.equal(fields.get("x-internal"), null);
    assert.equal(fields.get("x-env"), "prod");
    assert.equal(fields.get("x-tag"), "a, b");
    assert.equal(fields.get("x-seen"), "yes", "a later rule sees an earlier rule's edit");
  });

  test("response headers: on the member's answer and on tandem's own", async () => {
    const { send, farm } = setup([{ responseHeaders: { del: ["X-Member"], set: { "X-Frame-Options": "DENY" } } }]);
    const response = await send();
    assert.equal(response.headers.get("x-member"), null);
    assert.equal(response.headers.get("x-frame-options"), "DENY");
    farm.behave("a", "junk");
    const failed = await send();
    assert.equal(failed.status, 502);
    assert.equal(failed.headers.get("x-frame-options"), "DENY");
  });

  test("a listener's rules run before its pool's; a pool's only for requests routed there", async () => {
    const { send, farm } = setup(
      [{ when: { path: { prefix: "/static" } }, route: "static" }, { requestHeaders: { set: { "X-Order": "listener" } } }],
      { appRules: [{ requestHeaders: { add: { "X-Order": "pool" } } }, { when: { path: { prefix: "/private" } }, deny: { status: 404 } }] },
    );
    await send("/shop");
    assert.equal(farm.requests[0].fields.get("x-order"), "listener, pool");
    assert.equal((await send("/static/private")).status, 200, "routed to static: app's rules do not apply");
    assert.equal((await send("/private")).status, 404);
  });

  test("clientIp sees the client behind a trusted proxy, not a forged header", async () => {
    const { send } = setup([{ when: { clientIp: "203.0.113.0/24" }, deny: {} }]);
    assert.equal((await send("/", { from: "10.0.0.2", headers: { "x-forwarded-for": "203.0.113.5" } })).status, 403);
    assert.equal((await send("/", { from: "192.0.2.7", headers: { "x-forwarded-for": "203.0.113.5" } })).status, 200);
  });

  test("rateLimit: the budget, then 429 with Retry-After; a new window admits again", async () => {
    const { send, clock, farm } = setup([{ when: { path: { prefix: "/api" } }, rateLimit: "per-client" }], {
      top: { rateLimits: { "per-client": { requests: 3, per: "10s" } } },
    });
    const statuses = [];
    for (let index = 0; index < 5; index++) statuses.push((await send("/api/x")).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const refused = await send("/api/x");
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.equal((await send("/api/x", { from: "192.0.2.8" })).status, 200, "another client has its own budget");
    assert.equal((await send("/other")).status, 200, "requests the rule does not match are not counted");
    clock.advance(20_000);
    assert.equal((await send("/api/x")).status, 200);
    assert.equal(farm.requests.length, 6);
  });

  test("rateLimit over: deny and tarpit", async () => {
    const denied = setup([{ rateLimit: "one", over: { deny: 403 } }], { top: { rateLimits: { one: { requests: 1, per: "1m" } } } });
    assert.equal((await denied.send()).status, 200);
    assert.equal((await denied.send()).status, 403);
    const held = setup([{ rateLimit: "one", over: { tarpit: "2s" } }], { top: { rateLimits: { one: { requests: 1, per: "1m" } } } });
    assert.equal((await held.send()).status, 200);
    const answer = held.send();
    await new Promise((resolve) => setTimeout(resolve, 20));
    held.clock.advance(2_000);
    const response = await answer;
    assert.equal(response.status, 429);
    assert.equal(held.records[1].termination, "PT");
  });

  test("rateLimit concurrent: a slot is given back when the answer is done", async () => {
    const { send, farm } = setup([{ rateLimit: "one-at-a-time" }], { top: { rateLimits: { "one-at-a-time": { concurrent: 1 } } } });
    let finish!: () => void;
    farm.behave("a", () => new Promise<Response>((resolve) => (finish = () => resolve(new Response("slow")))));
    const first = send();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await send()).status, 429, "the second request finds the slot taken");
    finish();
    const answered = await first;
    assert.equal(answered.status, 200);
    // The slot is held until the body is sent, as a member's slot is.
    assert.equal(await answered.text(), "slow");
    farm.behave("a", "ok");
    assert.equal((await send()).status, 200, "the slot came back");
  });

  test("a config without rules compiles to nothing, and a listener or pool without rules has no list", () => {
    const config = (rules: unknown[]) => {
      const result = validateConfig({
        listeners: [{ address: "127.0.0.1:8080", rules }, { address: "127.0.0.1:8081" }],
        pools: { app: { members: [{ name: "a", url: memberUrl(0) }] } },
      });
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.config;
    };
    const ports = { clock: new FakeClock(0), rateLimiters: new Map() };
    assert.equal(compileTrafficRules(config([]), ports), undefined);
    const rules = compileTrafficRules(config([{ deny: {} }]), ports)!;
    assert.notEqual(rules.listener("127.0.0.1:8080"), undefined, "control: the listener with rules has its list");
    assert.equal(rules.listener("127.0.0.1:8081"), undefined);
    assert.equal(rules.pool("app"), undefined);
  });
});
