/** haproxy.cfg acl / http-request / http-response / use_backend lines to traffic rules, and what the imported rules then do. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { validateConfig } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importHaproxy } from "../../../core/import/haproxy.ts";
import { ImportReport } from "../../../core/import/report.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm } from "../../support/fake-upstream.ts";

async function imported(lines: string[]) {
  const text = lines.join("\n");
  const draft = new Draft();
  const report = new ImportReport();
  await importHaproxy([{ path: "haproxy.cfg", text }], { draft, report, readInclude: () => Promise.resolve([]) });
  const detail = (line: number) => {
    const found = report.entries.find((entry) => entry.origin.line === line);
    assert.ok(found, `no entry for line ${line}\n${report.format()}`);
    return `${found.disposition}: ${found.detail}`;
  };
  return { draft, report, detail };
}

const FARM = [
  "defaults",
  "  mode http",
  "  timeout connect 5s",
  "  timeout tarpit 3s",
  "frontend www",
  "  bind 127.0.0.1:8080",
  "  acl internal src 10.0.0.0/8 192.168.0.0/16",
  "  acl api path_beg /api",
  "  acl scanner hdr_sub(user-agent) -i sqlmap",
  "  acl legacy path_reg ^/old/[0-9]+$",
  "  http-request deny deny_status 403 if { path_beg /admin } !internal",
  "  http-request tarpit if scanner",
  "  http-request redirect location https://shop.example.com/new code 301 if legacy",
  "  http-request redirect prefix https://www.example.com code 302 if { hdr(host) -i example.com }",
  "  http-request return status 200 content-type text/plain string ok if { path /ping }",
  "  http-request allow if METH_GET internal",
  "  http-request set-header X-Env prod",
  "  http-request del-header X-Debug",
  "  http-request set-header X-Client %[src]",
  "  http-response del-header Server",
  "  http-response set-header X-Frame-Options DENY",
  "  use_backend api if api !internal",
  "  use_backend api if { url_param(v) 2 }",
  "  default_backend app",
  "backend api",
  "  http-request deny deny_status 405 unless METH_GET || METH_POST",
  "  server a 10.0.0.1:80",
  "backend app",
  "  server b 10.0.0.2:80",
];

test("HAProxy rules become listener and pool rules, in order; what a rule cannot say is reported", async () => {
  const { draft, detail } = await imported(FARM);
  const config = draft.config as { listeners: { rules: unknown[] }[]; pools: Record<string, { rules?: unknown[] }>; routes?: unknown[] };
  assert.deepEqual(config.listeners[0].rules, [
    { responseHeaders: { del: ["Server"] } },
    { responseHeaders: { set: { "X-Frame-Options": "DENY" } } },
    { when: { all: [{ path: { prefix: "/admin" } }, { not: { clientIp: ["10.0.0.0/8", "192.168.0.0/16"] } }] }, deny: { status: 403 } },
    { when: { header: { name: "user-agent", regex: "[sS][qQ][lL][mM][aA][pP]" } }, tarpit: { delay: "3s", status: 500 } },
    { when: { path: { regex: "^/old/[0-9]+$" } }, redirect: { location: "https://shop.example.com/new", code: 301 } },
    { when: { host: ["example.com"] }, redirect: { location: "https://www.example.com{path}{query}", code: 302 } },
    { when: { path: { exact: "/ping" } }, return: { status: 200, contentType: "text/plain", body: "ok" } },
    { when: { all: [{ method: ["GET", "HEAD"] }, { clientIp: ["10.0.0.0/8", "192.168.0.0/16"] }] }, allow: true },
    { requestHeaders: { set: { "X-Env": "prod" } } },
    { requestHeaders: { del: ["X-Debug"] } },
    { when: { all: [{ path: { prefix: "/api" } }, { not: { clientIp: ["10.0.0.0/8", "192.168.0.0/16"] } }] }, route: "api" },
    { when: { query: { name: "v", equals: "2" } }, route: "api" },
  ]);
  assert.deepEqual(config.pools.api.rules, [{ when: { not: { any: [{ method: ["GET", "HEAD"] }, { method: "POST" }] } }, deny: { status: 405 } }]);
  assert.equal(config.routes, undefined, "a negated use_backend makes all of the frontend's conditional ones rules, in their order");
  assert.match(detail(19), /^not carried: X-Client: a value computed per request/);
  assert.match(detail(7), /^carried: listeners\[0\]\.rules\[2\], listeners\[0\]\.rules\[7\], listeners\[0\]\.rules\[10\]/);
  assert.match(detail(4), /^carried: \(the delay of the tarpit rules\)/);
  assert.match(detail(20), /^approximated: listeners\[0\]\.rules\[0\]; tandem edits its own answers .* too, as http-after-response does/);
  assert.match(detail(22), /^approximated: listeners\[0\]\.rules\[10\]; tandem matches \/api on segment boundaries/);
  const validated = validateConfig(draft.config);
  assert.ok(validated.ok, JSON.stringify(!validated.ok && validated.problems));
});

test("the imported rules behave as HAProxy's lines say", async () => {
  const { draft } = await imported(FARM.map((line) => line.replace("10.0.0.1:80", "127.0.0.1:9000").replace("10.0.0.2:80", "127.0.0.1:9001")));
  const validated = validateConfig(draft.config);
  assert.ok(validated.ok);
  const farm = fakeFarm(["a", "b"]);
  const balancer = createBalancer(validated.config, { clock: new FakeClock(0), upstream: farm.upstream, log: () => {} });
  const send = async (path: string, init: RequestInit & { from?: string; host?: string } = {}) =>
    (await balancer.fetch(new Request(`http://${init.host ?? "shop.test"}${path}`, { redirect: "manual", ...init }), { remoteAddress: init.from ?? "192.0.2.7", tls: false }))!;
  assert.equal((await send("/admin/x")).status, 403);
  assert.equal((await send("/admin/x", { from: "10.1.2.3" })).status, 200);
  assert.equal((await send("/old/12")).headers.get("location"), "https://shop.example.com/new");
  assert.equal((await send("/p?q=1", { host: "example.com" })).headers.get("location"), "https://www.example.com/p?q=1");
  assert.equal(await (await send("/ping")).text(), "ok");
  const api = await send("/api/orders");
  assert.equal(api.headers.get("x-member"), "a");
  assert.equal(api.headers.get("x-frame-options"), "DENY");
  assert.equal(farm.requests.at(-1)!.fields.get("x-env"), "prod");
  assert.equal((await send("/api/orders", { method: "DELETE" })).status, 405, "the api backend's own rule");
  assert.equal((await send("/shop")).headers.get("x-member"), "b");
  assert.equal((await send("/shop?v=2")).headers.get("x-member"), "a");
});

test("actions and fetches rules do not have are not carried, each with its reason", async () => {
  const { detail } = await imported([
    "defaults",
    "  mode http",
    "frontend www",
    "  bind :80",
    "  http-request set-var(txn.x) str(1)",
    "  http-request deny if { req.body -m found }",
    "  http-request deny if { path_reg (a)\\1 }",
    "  http-request set-header Content-Length 0",
    "  http-request redirect location %[hdr(host)]/x",
    "  http-response set-status 404",
    "  default_backend app",
    "backend app",
    "  server b 10.0.0.2:80",
  ]);
  assert.match(detail(5), /^not carried: set-var\(txn\.x\): an action tandem's request rules do not have/);
  assert.match(detail(6), /^not carried: req\.body -m found: a fetch tandem's rules do not match on/);
  assert.match(detail(7), /^not carried: path \(a\)\\1: the regex \(a\)\\1: backreferences/);
  assert.match(detail(8), /^not carried: Content-Length: tandem frames and routes by it/);
  assert.match(detail(9), /^not carried: redirect location %\[hdr\(host\)\]\/x: a location computed per request/);
  assert.match(detail(10), /^not carried: set-status: an action tandem.s response rules do not have/);
});
