/**
 * Traffic rules end to end on the real process (Bun under `bun test`, Deno under `deno test`):
 * every matcher and action over real sockets, a listener's rules before a pool's, `tandem check`
 * naming bad rules, a reload with bad rules keeping the running ones, and a regex-DoS input
 * answered in bounded time. Only 127.0.0.1 is contacted.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { writeFileSync } from "node:fs";
import { type Backend, startBackend } from "../support/backends.ts";
import { type Certificates, curl, makeCertificates } from "../support/certs.ts";
import { runtime, runTandem, startTandem, type TandemProcess, writeConfig } from "../support/tandem.ts";
import { printedSkip } from "../support/tools.ts";
import { freePort } from "../support/ports.ts";

const LIMIT = { timeout: 60_000 };
/** The regex-DoS bound: generous (a linear engine answers in milliseconds), so only a backtracking engine could miss it. */
const HOSTILE_BOUND_MS = 2_000;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a connection of its own, with exactly the fields given (Host included). */
function send(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: { connection: "close", ...options.headers }, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    outgoing.setTimeout(20_000, () => outgoing.destroy(new Error(`no answer to ${path} within 20 s`)));
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** What the echo backend says it received. */
function echoed(reply: Reply): { backend: string; path: string; headers: Record<string, string> } {
  assert.equal(reply.status, 200, reply.body);
  return JSON.parse(reply.body);
}

const PLAIN_RULES = [
  { when: { clientIp: "203.0.113.0/24" }, deny: { status: 403, body: "blocked address\n" } },
  { when: { method: ["DELETE", "PUT"], path: { prefix: "/m" } }, deny: { status: 405 } },
  { when: { host: "*.blocked.test" }, deny: { status: 421 } },
  { when: { path: { regex: "^/re/[0-9]+$" } }, return: { body: "regex matched\n" } },
  { when: { query: { name: "debug", equals: "on" } }, return: { status: 202, body: "query matched\n", headers: { "X-Rule": "query" } } },
  { when: { path: { prefix: "/api" }, header: { name: "x-api-key", present: false } }, deny: { status: 401 } },
  { when: { header: { name: "x-probe", regex: "^(a+)+$" } }, deny: { status: 400, body: "probe matched\n" } },
  // Answered here: the backend (node:http) would refuse a 100 KB field itself.
  { when: { path: { exact: "/probe" } }, return: { body: "probe passed\n" } },
  { when: { cookie: { name: "beta", equals: "yes" } }, route: "static" },
  { when: { path: { prefix: "/old" } }, redirect: { location: "https://{host}/new{path}{query}", code: 308 } },
  { when: { path: { prefix: "/slow" } }, tarpit: { delay: "1s" } },
  { when: { path: { prefix: "/limited" } }, rateLimit: "per-client" },
  { when: { path: { prefix: "/open" } }, allow: true },
  { when: { path: { prefix: "/open/closed" } }, deny: {} },
  { when: { not: { path: { prefix: "/open" } } }, requestHeaders: { del: ["X-Internal"], set: { "X-Env": "prod" }, add: { "X-Tag": "rule" } } },
  { responseHeaders: { del: ["X-Backend"], set: { "X-Frame-Options": "DENY" } } },
];

const TLS_RULES = [
  { when: { sni: "*.b.test" }, return: { body: "sni b\n" } },
  { when: { tlsVersion: "1.2" }, return: { body: "tls 1.2\n" } },
];

function rulesConfig(ports: number[], app: Backend, statics: Backend, certs: Certificates, plainRules: unknown[] = PLAIN_RULES) {
  return {
    // One worker: these tests are about rules; rate-limit.test.ts races workers.
    workers: 1,
    listeners: [
      { address: `127.0.0.1:${ports[0]}`, limits: { headBytes: 256 * 1024 }, rules: plainRules },
      { address: `127.0.0.1:${ports[1]}`, tls: { certificates: [{ cert: certs.a.cert, key: certs.a.key }, { cert: certs.b.cert, key: certs.b.key }] }, rules: TLS_RULES },
    ],
    accessLog: true,
    rateLimits: { "per-client": { requests: 3, per: "1m" } },
    pools: {
      app: {
        members: [{ name: "app", url: app.url }],
        forwarding: { trustedProxies: ["127.0.0.1"] },
        rules: [{ when: { path: { prefix: "/private" } }, deny: { status: 404, body: "not here\n" } }],
      },
      static: { members: [{ name: "static", url: statics.url }] },
    },
  };
}

/** One tandem and two backends for the whole file (no hooks: made by the first test that needs them). */
let farm: Promise<{ tandem: TandemProcess; plain: number; tls: number; ports: number[]; certs: Certificates; backends: Backend[] }> | undefined;
function setup() {
  farm ??= (async () => {
    const [app, statics, certs] = await Promise.all([startBackend("app"), startBackend("static"), makeCertificates()]);
    const ports = [await freePort(), await freePort()];
    const tandem = await startTandem(rulesConfig(ports, app, statics, certs));
    return { tandem, plain: ports[0], tls: ports[1], ports, certs, backends: [app, statics] };
  })();
  return farm;
}

/** The access line of the request for `path`. */
function accessLine(tandem: TandemProcess, path: string) {
  return tandem.waitForLine((line) => line.path === path && typeof line.status === "number", 10_000);
}

describe(`traffic rules on ${runtime}`, () => {
  test("clientIp: behind a trusted proxy the forwarded client is matched", LIMIT, async () => {
    const { plain } = await setup();
    const blocked = await send(plain, "/ip", { headers: { "x-forwarded-for": "203.0.113.9" } });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body, "blocked address\n");
    assert.equal(echoed(await send(plain, "/ip", { headers: { "x-forwarded-for": "198.51.100.9" } })).backend, "app", "control: another client passes");
  });

  test("method and path prefix together; host with a wildcard", LIMIT, async () => {
    const { plain } = await setup();
    assert.equal((await send(plain, "/m/1", { method: "DELETE" })).status, 405);
    assert.equal((await send(plain, "/m/1", { method: "GET" })).status, 200);
    assert.equal((await send(plain, "/", { headers: { host: "x.blocked.test" } })).status, 421);
    assert.equal((await send(plain, "/", { headers: { host: "blocked.test" } })).status, 200);
  });

  test("path regex and query parameter, answered by return", LIMIT, async () => {
    const { plain } = await setup();
    const regex = await send(plain, "/re/42");
    assert.equal(regex.body, "regex matched\n");
    assert.equal((await send(plain, "/re/42x")).status, 200);
    assert.notEqual((await send(plain, "/re/42x")).body, "regex matched\n");
    const query = await send(plain, "/q?a=1&debug=on");
    assert.equal(query.status, 202);
    assert.equal(query.headers["x-rule"], "query");
    assert.equal(query.body, "query matched\n");
    assert.equal((await send(plain, "/q?debug=off")).status, 200);
  });

  test("header present and cookie: deny without a key, route by a cookie", LIMIT, async () => {
    const { plain } = await setup();
    assert.equal((await send(plain, "/api/orders")).status, 401);
    assert.equal(echoed(await send(plain, "/api/orders", { headers: { "x-api-key": "k" } })).backend, "app");
    assert.equal(echoed(await send(plain, "/page", { headers: { cookie: "theme=dark; beta=yes" } })).backend, "static");
    assert.equal(echoed(await send(plain, "/page", { headers: { cookie: "beta=no" } })).backend, "app");
  });

  test("redirect with templates; tarpit answers after its delay and is logged as such", LIMIT, async () => {
    const { plain, tandem } = await setup();
    const moved = await send(plain, "/old/a?x=1", { headers: { host: "shop.test" } });
    assert.equal(moved.status, 308);
    assert.equal(moved.headers.location, "https://shop.test/new/old/a?x=1");
    const held = await send(plain, "/slow");
    assert.equal(held.status, 500);
    const line = await accessLine(tandem, "/slow");
    assert.equal(line.termination, "PT");
    assert.equal(line.error, "tarpitted by listeners[0].rules[10]");
  });

  test("rateLimit: the budget, then 429 with Retry-After", LIMIT, async () => {
    const { plain } = await setup();
    const client = { "x-forwarded-for": "198.51.100.77" };
    const statuses: number[] = [];
    for (let index = 0; index < 5; index++) statuses.push((await send(plain, "/limited", { headers: client })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const refused = await send(plain, "/limited", { headers: client });
    assert.ok(Number(refused.headers["retry-after"]) >= 1, String(refused.headers["retry-after"]));
    assert.equal((await send(plain, "/limited", { headers: { "x-forwarded-for": "198.51.100.78" } })).status, 200, "control: another client's budget");
  });

  test("allow ends the list; header edits both ways; a pool's rules after the listener's", LIMIT, async () => {
    const { plain } = await setup();
    const open = echoed(await send(plain, "/open/closed", { headers: { "x-internal": "1" } }));
    assert.equal(open.headers["x-internal"], "1", "allow skipped the request edits after it");
    const edited = await send(plain, "/edit", { headers: { "x-internal": "1", "x-env": "dev", "x-tag": "client" } });
    const seen = echoed(edited).headers;
    assert.equal(seen["x-internal"], undefined);
    assert.equal(seen["x-env"], "prod");
    assert.equal(seen["x-tag"], "client, rule");
    assert.equal(edited.headers["x-backend"], undefined, "the member's X-Backend is removed");
    assert.equal(edited.headers["x-frame-options"], "DENY");
    const privatePage = await send(plain, "/private/x");
    assert.equal(privatePage.status, 404);
    assert.equal(privatePage.body, "not here\n");
    assert.equal(privatePage.headers["x-frame-options"], "DENY", "response edits apply to tandem's own answers too");
  });

  test(`a regex-DoS input (100 KB) is answered within ${HOSTILE_BOUND_MS} ms`, LIMIT, async () => {
    const { plain } = await setup();
    const hostile = "a".repeat(100_000) + "!";
    const started = performance.now();
    const reply = await send(plain, "/probe", { headers: { "x-probe": hostile } });
    const elapsed = performance.now() - started;
    assert.equal(reply.body, "probe passed\n", "no match: ^(a+)+$ cannot match a value ending in '!'");
    assert.ok(elapsed < HOSTILE_BOUND_MS, `answered in ${Math.round(elapsed)} ms`);
    assert.equal((await send(plain, "/probe", { headers: { "x-probe": "a".repeat(100_000) } })).body, "probe matched\n", "control: the same regex matches");
  });

  const tlsSkip = runtime === "deno" ? printedSkip("rules.test.ts: sni, tlsVersion", "Deno's listener does not report the TLS version or SNI of a connection (README: runtimes)") : false;
  test("sni and tlsVersion on a TLS listener", { ...LIMIT, skip: tlsSkip }, async () => {
    const { tls, certs } = await setup();
    const sni = await curl(`https://x.b.test:${tls}/`, { caFile: certs.ca.cert, resolve: `x.b.test:${tls}:127.0.0.1` });
    assert.equal(sni.body, "sni b\n");
    const old = await curl(`https://a.test:${tls}/`, { caFile: certs.ca.cert, resolve: `a.test:${tls}:127.0.0.1`, args: ["--tls-max", "1.2"] });
    assert.equal(old.body, "tls 1.2\n");
    const current = await curl(`https://a.test:${tls}/`, { caFile: certs.ca.cert, resolve: `a.test:${tls}:127.0.0.1`, args: ["--tlsv1.3"] });
    assert.equal(JSON.parse(current.body).backend, "app", "control: TLS 1.3 without that name passes");
  });

  test("tandem check names bad rules by path; a reload with bad rules keeps the running ones", LIMIT, async () => {
    const { tandem, plain, ports, certs, backends } = await setup();
    const bad = rulesConfig(ports, backends[0], backends[1], certs, [
      { when: { path: { regex: "(a)\\1" } }, deny: {} },
      { when: { bogus: true }, deny: {} },
      { route: "nowhere" },
    ]);
    const checked = await runTandem(["check", "--config", writeConfig(bad)]);
    assert.equal(checked.code, 1);
    const output = checked.stdout + checked.stderr;
    assert.match(output, /listeners\[0\]\.rules\[0\]\.when\.path\.regex: .*backreferences/);
    assert.match(output, /listeners\[0\]\.rules\[1\]\.when\.bogus: no such key/);
    // Names are checked once the shapes are right.
    const unknownPool = await runTandem(["check", "--config", writeConfig(rulesConfig(ports, backends[0], backends[1], certs, [{ route: "nowhere" }]))]);
    assert.match(unknownPool.stdout + unknownPool.stderr, /listeners\[0\]\.rules\[0\]\.route: one of the pools "app" \| "static"/);
    assert.equal((await runTandem(["check", "--config", writeConfig(rulesConfig(ports, backends[0], backends[1], certs))])).code, 0, "control: the good rules pass");
    writeFileSync(tandem.configPath!, JSON.stringify(bad));
    tandem.signal("SIGHUP");
    const failed = await tandem.waitForLine((line) => line.event === "reload-failed", 10_000);
    assert.match((failed.problems as string[]).join("\n"), /listeners\[0\]\.rules\[0\]\.when\.path\.regex: .*backreferences/);
    assert.equal((await send(plain, "/re/7")).body, "regex matched\n", "the running rules still apply");
  });

  test("stops cleanly", LIMIT, async () => {
    const { tandem, backends } = await setup();
    assert.equal(await tandem.stop(), 0);
    await Promise.all(backends.map((backend) => backend.close()));
  });
});
