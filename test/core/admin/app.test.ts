import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { createAdminApp } from "../../../core/admin/app.ts";
import { createVerifier, mintToken } from "../../../core/admin/auth.ts";
import { type AdminControl, AdminError, type MemberChange, type MemberStatus, type StatusDocument } from "../../../core/admin/model.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const AUDIENCE = "tandem-admin";
const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);
const BASE = "http://127.0.0.1:8404";

const member = (name: string, change: MemberChange = {}): MemberStatus => ({
  name,
  url: "http://127.0.0.1:9001",
  state: "up",
  stateReason: "3/3 checks passed",
  since: "2026-01-01T00:00:00.000Z",
  transitions: 0,
  downtimeMs: 0,
  activation: change.activation ?? "active",
  activationSince: null,
  usable: true,
  weight: change.weight ?? 1,
  effectiveWeight: change.weight ?? 1,
  route: name,
  domain: null,
  distance: 0,
  maxconn: 0,
  active: 0,
  requests: 12,
  failures: 0,
  responses: { "1xx": 0, "2xx": 12, "3xx": 0, "4xx": 0, "5xx": 0 },
  bytesIn: 0,
  bytesOut: 1200,
  retries: 0,
  redispatches: 0,
  checks: 0,
  failedChecks: 0,
  p50Ms: null,
  p99Ms: null,
  lastCheck: null,
});

const STATUS: StatusDocument = {
  runtime: "test",
  startedAt: "2026-01-01T00:00:00.000Z",
  reloads: 0,
  workers: { count: 2, reporting: 1, missing: [1] },
  pools: [{ name: "shop", strategy: "roundrobin", stickyMode: "learn", stickyEntries: 1, queueLength: 0, usable: true, usableMembers: 1, members: [member("tc1")] }],
};

/** A fake balancer: pool "shop" with member "tc1" and one sticky entry "abc/1"; records every call. */
function fakeControl(overrides: Partial<AdminControl> = {}) {
  const calls: unknown[][] = [];
  const pool = (name: string) => {
    if (name !== "shop") throw new AdminError("NOT_FOUND", `no pool "${name}"`);
  };
  const control: AdminControl = {
    status: () => STATUS,
    ready: () => true,
    setMember(poolName, memberName, change, actor) {
      calls.push(["setMember", poolName, memberName, change, actor]);
      pool(poolName);
      if (memberName !== "tc1") throw new AdminError("NOT_FOUND", `no member "${memberName}"`);
      if (change.activation === "stopped" && change.weight === 0) throw new AdminError("INVALID", "pick one");
      return member(memberName, change);
    },
    sessions(poolName, offset, limit) {
      calls.push(["sessions", poolName, offset, limit]);
      pool(poolName);
      return { total: 1, entries: [{ key: "abc/1", member: "tc1", expiresAt: "2026-01-01T00:30:00.000Z" }] };
    },
    deleteSession(poolName, key, actor) {
      calls.push(["deleteSession", poolName, key, actor]);
      pool(poolName);
      return key === "abc/1";
    },
    reload(actor) {
      calls.push(["reload", actor]);
      return Promise.resolve({ ok: true, summary: "1 pool(s), 1 member(s)" });
    },
    metrics: () => "# HELP up x\n# TYPE up gauge\nup 1\n",
    ...overrides,
  };
  return { control, calls };
}

function setup(options: { control?: Partial<AdminControl>; auth?: boolean; publicMetrics?: boolean; dashboardHtml?: string } = {}) {
  const { control, calls } = fakeControl(options.control);
  const logs: Record<string, unknown>[] = [];
  const verify = options.auth === false ? undefined : createVerifier({ secret: SECRET, audience: AUDIENCE, maxLifetime: DAY_MS, clock: () => NOW });
  const app = createAdminApp({ control, verify, publicMetrics: options.publicMetrics ?? false, dashboardHtml: options.dashboardHtml, log: (r) => logs.push(r) });
  const call = (method: string, path: string, init: { token?: string; body?: string; headers?: Record<string, string>; client?: string; base?: string } = {}) =>
    app.fetch(
      new Request(`${init.base ?? BASE}${path}`, {
        method,
        body: init.body,
        headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...init.headers },
      }),
      { remoteAddress: init.client ?? "127.0.0.1" },
    );
  return { app, call, calls, logs };
}

const token = (scope: "read" | "admin", subject = "alice") =>
  mintToken({ secret: SECRET, audience: AUDIENCE, subject, scope, ttlSeconds: 600, clock: () => NOW });

async function expectError(response: Response, status: number, code: string, message?: RegExp) {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const body = await response.json();
  assert.deepEqual(Object.keys(body).sort(), ["code", "error"]);
  assert.equal(body.code, code);
  if (message) assert.match(body.error, message);
}

describe("admin app: probes, dashboard, common headers", () => {
  test("/healthz and /readyz need no token; readyz follows control.ready()", async () => {
    let ready = true;
    const { call } = setup({ control: { ready: () => ready } });
    const health = await call("GET", "/healthz");
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok");
    assert.equal((await call("GET", "/readyz")).status, 200);
    ready = false;
    assert.equal((await call("GET", "/readyz")).status, 503);
    assert.equal((await call("HEAD", "/healthz")).status, 200);
  });

  test("every response is no-store, framing-proof and has no CORS headers", async () => {
    const { call } = setup({ dashboardHtml: "<!doctype html><title>tandem</title>", control: { metrics: () => { throw new Error("bug"); } } });
    const open = setup({ auth: false });
    const responses = [
      await call("GET", "/metrics", { token: await token("read") }),
      await open.call("GET", "/api/v1/status", { base: "http://evil.test" }),
      await call("GET", "/healthz"),
      await call("GET", "/"),
      await call("GET", "/api/v1/status"),
      await call("GET", "/api/v1/status", { token: await token("read") }),
      await call("GET", "/nope"),
      await call("OPTIONS", "/api/v1/status", { headers: { origin: "https://evil.test", "access-control-request-method": "PATCH" } }),
    ];
    for (const response of responses) {
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.equal(response.headers.get("x-frame-options"), "DENY");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.deepEqual([...response.headers.keys()].filter((name) => name.startsWith("access-control-")), []);
    }
  });

  test("GET / serves the dashboard without a token, or 404 when there is none", async () => {
    const page = await setup({ dashboardHtml: "<!doctype html><title>tandem</title>" }).call("GET", "/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html; charset=utf-8$/i);
    assert.equal(await page.text(), "<!doctype html><title>tandem</title>");
    await expectError(await setup().call("GET", "/"), 404, "NOT_FOUND");
  });

  test("an unknown route is a JSON 404", async () => {
    await expectError(await setup().call("GET", "/api/v2/status"), 404, "NOT_FOUND", /GET \/api\/v2\/status/);
  });
});

describe("admin app: authentication and authorization", () => {
  test("API calls without a token get 401 with WWW-Authenticate; a read token reads", async () => {
    const { call } = setup();
    const denied = await call("GET", "/api/v1/status");
    await expectError(denied, 401, "UNAUTHORIZED", /bearer token/);
    assert.equal(denied.headers.get("www-authenticate"), 'Bearer realm="tandem-admin"');
    const ok = await call("GET", "/api/v1/status", { token: await token("read") });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), STATUS);
  });

  test("whoami tells the dashboard the token's subject and scope (admin for everyone without auth)", async () => {
    const { call } = setup();
    const read = await call("GET", "/api/v1/whoami", { token: await token("read", "wall") });
    assert.deepEqual(await read.json(), { subject: "wall", scope: "read" });
    assert.deepEqual(await (await call("GET", "/api/v1/whoami", { token: await token("admin") })).json(), { subject: "alice", scope: "admin" });
    await expectError(await call("GET", "/api/v1/whoami"), 401, "UNAUTHORIZED");
    assert.deepEqual(await (await setup({ auth: false }).call("GET", "/api/v1/whoami")).json(), { subject: "anonymous", scope: "admin" });
  });

  test("the traffic history needs a read token; a control keeping none answers 404", async () => {
    const history = { intervalMs: 5000, start: 0, pools: [{ name: "shop", requests: [3], errors: [1], p99Ms: [12] }] };
    const { call } = setup({ control: { history: () => history } });
    await expectError(await call("GET", "/api/v1/history"), 401, "UNAUTHORIZED");
    assert.deepEqual(await (await call("GET", "/api/v1/history", { token: await token("read") })).json(), history);
    await expectError(await setup().call("GET", "/api/v1/history", { token: await token("read") }), 404, "NOT_FOUND", /no traffic history/);
  });

  test("a read token cannot mutate (403); nothing reaches the control", async () => {
    const { call, calls, logs } = setup();
    const read = await token("read");
    await expectError(await call("PATCH", "/api/v1/pools/shop/members/tc1", { token: read, body: '{"weight":2}' }), 403, "FORBIDDEN", /scope "admin"/);
    await expectError(await call("DELETE", "/api/v1/pools/shop/sessions/abc", { token: read }), 403, "FORBIDDEN");
    await expectError(await call("POST", "/api/v1/reload", { token: read }), 403, "FORBIDDEN");
    assert.deepEqual(calls, []);
    assert.deepEqual(logs, []);
  });

  test("an expired token and a token without scope are refused", async () => {
    const { call } = setup();
    const expired = await mintToken({ secret: SECRET, audience: AUDIENCE, subject: "a", scope: "admin", ttlSeconds: 10, clock: () => NOW - 3_600_000 });
    await expectError(await call("GET", "/api/v1/status", { token: expired }), 401, "UNAUTHORIZED", /expired/);
    const noScope = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("a").setAudience(AUDIENCE).setIssuedAt(NOW / 1000)
      .setExpirationTime(NOW / 1000 + 60).sign(new TextEncoder().encode(SECRET));
    await expectError(await call("GET", "/api/v1/status", { token: noScope }), 403, "FORBIDDEN", /scope/);
  });

  test("repeated failures from one address get 429 with Retry-After; a valid token from it and another address are unaffected", async () => {
    const { call } = setup();
    for (let i = 0; i < 10; i++) await expectError(await call("GET", "/api/v1/status", { token: "junk", client: "10.9.9.9" }), 401, "UNAUTHORIZED");
    const limited = await call("GET", "/api/v1/status", { token: "junk", client: "10.9.9.9" });
    await expectError(limited, 429, "RATE_LIMITED");
    assert.equal(limited.headers.get("retry-after"), "60");
    assert.equal((await call("GET", "/api/v1/status", { token: await token("read"), client: "10.9.9.9" })).status, 200);
    assert.equal((await call("GET", "/api/v1/status", { token: await token("read"), client: "10.9.9.8" })).status, 200);
  });

  test("/metrics needs a read token unless publicMetrics", async () => {
    await expectError(await setup().call("GET", "/metrics"), 401, "UNAUTHORIZED");
    for (const response of [await setup().call("GET", "/metrics", { token: await token("read") }), await setup({ publicMetrics: true }).call("GET", "/metrics")]) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      assert.equal(await response.text(), "# HELP up x\n# TYPE up gauge\nup 1\n");
    }
  });
});

describe("admin app: routes", () => {
  test("answers the control gives later (with workers, after gathering their counters) are awaited", async () => {
    const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 5));
    const { call } = setup({
      auth: false,
      control: {
        status: () => later(STATUS),
        metrics: () => later("# HELP up x\n# TYPE up gauge\nup 2\n"),
        setMember: () => later(member("tc1", { weight: 4 })),
      },
    });
    assert.deepEqual(await (await call("GET", "/api/v1/status")).json(), STATUS);
    assert.equal(await (await call("GET", "/metrics")).text(), "# HELP up x\n# TYPE up gauge\nup 2\n");
    const patched = await call("PATCH", "/api/v1/pools/shop/members/tc1", { body: '{"weight":4}' });
    assert.deepEqual(await patched.json(), member("tc1", { weight: 4 }));
  });

  test("PATCH a member: 200 with its status, the change and actor reach the control, the call is logged", async () => {
    const { call, calls, logs } = setup();
    const response = await call("PATCH", "/api/v1/pools/shop/members/tc1", {
      token: await token("admin", "bob"),
      body: '{"activation":"disabled","weight":3}',
      headers: { "content-type": "application/json" },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), member("tc1", { activation: "disabled", weight: 3 }));
    assert.deepEqual(calls, [["setMember", "shop", "tc1", { activation: "disabled", weight: 3 }, "bob"]]);
    assert.equal(logs.length, 1);
    // The time is the log sink's to add (core/log.ts), not the app's.
    assert.deepEqual(logs[0], { event: "admin", action: "set-member", actor: "bob", client: "127.0.0.1", pool: "shop", member: "tc1", change: { activation: "disabled", weight: 3 }, status: 200 });
  });

  test("PATCH with a bad body is 400 and never reaches the control", async () => {
    const { call, calls, logs } = setup();
    const admin = await token("admin");
    const cases: [string | undefined, RegExp][] = [
      ["{weight: 2", /not valid JSON/],
      [undefined, /not valid JSON/],
      ["{}", /at least one of activation, weight/],
      ['"weight"', /a JSON object/],
      ["null", /a JSON object/],
      ['{"weight":257}', /^weight: from 0 to 256$/],
      ['{"weight":1.5}', /^weight: an integer$/],
      ['{"weight":"2"}', /^weight: /],
      ['{"activation":"off"}', /^activation: one of "active" \| "disabled" \| "stopped"$/],
      ['{"weigth":2}', /^weigth: no such key/],
    ];
    for (const [body, message] of cases) {
      await expectError(await call("PATCH", "/api/v1/pools/shop/members/tc1", { token: admin, body }), 400, "INVALID", message);
    }
    assert.deepEqual(calls, []);
    assert.equal(logs.length, cases.length, "refused mutating calls are logged too");
    assert.equal(logs[0].status, 400);
  });

  test("PATCH: the control's NOT_FOUND is 404, INVALID is 400; an oversized body is 413", async () => {
    const { call } = setup();
    const admin = await token("admin");
    await expectError(await call("PATCH", "/api/v1/pools/nope/members/tc1", { token: admin, body: '{"weight":1}' }), 404, "NOT_FOUND", /no pool "nope"/);
    await expectError(await call("PATCH", "/api/v1/pools/shop/members/tc9", { token: admin, body: '{"weight":1}' }), 404, "NOT_FOUND");
    await expectError(await call("PATCH", "/api/v1/pools/shop/members/tc1", { token: admin, body: '{"weight":0,"activation":"stopped"}' }), 400, "INVALID", /pick one/);
    await expectError(await call("PATCH", "/api/v1/pools/shop/members/tc1", { token: admin, body: `{"weight":1,"pad":"${"x".repeat(20_000)}"}` }), 413, "TOO_LARGE");
  });

  test("GET sessions: offset and limit default to 0 and 100, are validated, and an unknown pool is 404", async () => {
    const { call, calls } = setup();
    const read = await token("read");
    const response = await call("GET", "/api/v1/pools/shop/sessions", { token: read });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { offset: 0, limit: 100, total: 1, entries: [{ key: "abc/1", member: "tc1", expiresAt: "2026-01-01T00:30:00.000Z" }] });
    assert.equal((await call("GET", "/api/v1/pools/shop/sessions?offset=5&limit=1000", { token: read })).status, 200);
    assert.deepEqual(calls, [["sessions", "shop", 0, 100], ["sessions", "shop", 5, 1000]]);
    for (const query of ["limit=1001", "limit=0", "limit=abc", "offset=-1", "offset=1.5", "limt=5"]) {
      await expectError(await call("GET", `/api/v1/pools/shop/sessions?${query}`, { token: read }), 400, "INVALID");
    }
    await expectError(await call("GET", "/api/v1/pools/nope/sessions", { token: read }), 404, "NOT_FOUND", /no pool/);
  });

  test("DELETE a session: 204, 404 when absent, a percent-encoded key arrives decoded; each call is logged", async () => {
    const { call, calls, logs } = setup();
    const admin = await token("admin", "carol");
    const deleted = await call("DELETE", "/api/v1/pools/shop/sessions/abc%2F1", { token: admin });
    assert.equal(deleted.status, 204);
    assert.equal(await deleted.text(), "");
    await expectError(await call("DELETE", "/api/v1/pools/shop/sessions/zzz", { token: admin }), 404, "NOT_FOUND", /no session "zzz"/);
    await expectError(await call("DELETE", "/api/v1/pools/nope/sessions/abc", { token: admin }), 404, "NOT_FOUND", /no pool/);
    assert.deepEqual(calls.map((c) => c[2]), ["abc/1", "zzz", "abc"]);
    assert.deepEqual(logs.map(({ action, actor, key, status }) => ({ action, actor, key, status })), [
      { action: "delete-session", actor: "carol", key: "abc/1", status: 204 },
      { action: "delete-session", actor: "carol", key: "zzz", status: 404 },
      { action: "delete-session", actor: "carol", key: "abc", status: 404 },
    ]);
  });

  test("POST reload: 200 with the summary, or 422 with every problem", async () => {
    const ok = setup();
    const admin = await token("admin", "dave");
    const done = await ok.call("POST", "/api/v1/reload", { token: admin });
    assert.equal(done.status, 200);
    assert.deepEqual(await done.json(), { ok: true, summary: "1 pool(s), 1 member(s)" });
    assert.deepEqual(ok.calls, [["reload", "dave"]]);
    assert.equal(ok.logs[0].action, "reload");

    const bad = setup({ control: { reload: () => Promise.resolve({ ok: false, problems: ["pools.app.strategy: one of ... (got \"x\")", "listeners: at least one listener"] }) } });
    const refused = await bad.call("POST", "/api/v1/reload", { token: admin });
    assert.equal(refused.status, 422);
    const body = await refused.json();
    assert.equal(body.code, "INVALID_CONFIG");
    assert.deepEqual(body.problems, ["pools.app.strategy: one of ... (got \"x\")", "listeners: at least one listener"]);
    assert.equal(bad.logs[0].status, 422);
  });

  test("a control that throws something unexpected gives a JSON 500 without its message; the error is logged", async () => {
    const boom = () => {
      throw new Error("secret internals");
    };
    const { call, logs } = setup({ control: { status: boom, reload: boom } });
    const admin = await token("admin");
    for (const response of [await call("GET", "/api/v1/status", { token: admin }), await call("POST", "/api/v1/reload", { token: admin })]) {
      await expectError(response, 500, "INTERNAL", /^internal error$/);
    }
    assert.equal(logs[0].event, "error");
    assert.match(String(logs[0].message), /secret internals/);
    assert.deepEqual([logs[1].action, logs[1].status, logs[1].error], ["reload", 500, "secret internals"]);
  });
});

describe("admin app: no auth configured (loopback only)", () => {
  test("every call is allowed and the actor is anonymous", async () => {
    const { call, calls } = setup({ auth: false });
    assert.equal((await call("GET", "/api/v1/status")).status, 200);
    assert.equal((await call("GET", "/metrics")).status, 200);
    assert.equal((await call("PATCH", "/api/v1/pools/shop/members/tc1", { body: '{"weight":0}' })).status, 200);
    assert.equal((await call("POST", "/api/v1/reload", { headers: { origin: BASE } })).status, 200, "the dashboard itself is same-origin");
    assert.deepEqual(calls.map((c) => c.at(-1)), ["anonymous", "anonymous"]);
  });

  test("a hostile page in the operator's browser is refused: DNS rebinding by Host, cross-site POST by Origin", async () => {
    const { call, calls } = setup({ auth: false });
    await expectError(await call("GET", "/api/v1/status", { base: "http://rebind.evil.test:8404" }), 403, "FORBIDDEN", /not an address or localhost/);
    await expectError(await call("POST", "/api/v1/reload", { headers: { origin: "https://evil.test" } }), 403, "FORBIDDEN", /cross-origin/);
    await expectError(await call("POST", "/api/v1/reload", { headers: { origin: "null" } }), 403, "FORBIDDEN");
    assert.equal((await call("GET", "/api/v1/status", { base: "http://localhost:8404" })).status, 200);
    assert.equal((await call("GET", "/healthz", { base: "http://[::1]:8404" })).status, 200);
    assert.deepEqual(calls, []);
  });
});
