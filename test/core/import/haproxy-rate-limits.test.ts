/** HAProxy stick-table rate limiting (track-sc + a counter comparison) to tandem rate limits. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importHaproxy } from "../../../core/import/haproxy.ts";
import { ImportReport } from "../../../core/import/report.ts";

async function run(text: string): Promise<{ draft: Draft; lines: string[] }> {
  const draft = new Draft();
  const report = new ImportReport();
  await importHaproxy([{ path: "haproxy.cfg", text: `defaults\n  mode http\n  timeout tarpit 3s\n${text}` }], { draft, report, readInclude: () => Promise.resolve([]) });
  return { draft, lines: report.format().split("\n") };
}

const line = (lines: string[], number: number) => lines.find((entry) => entry.startsWith(`haproxy.cfg:${number}:`)) ?? "";

test("the classic per-client limit: stick-table, track-sc0 src, deny 429 over the rate; conn_cur as requests in flight", async () => {
  const { draft, lines } = await run([
    "frontend web",
    "  bind :80",
    "  stick-table type ip size 100k expire 30s store http_req_rate(10s),conn_cur",
    "  http-request track-sc0 src",
    "  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 20 }",
    "  http-request deny if { sc0_conn_cur ge 10 }",
    "  default_backend app",
    "backend app",
    "  server a 10.0.0.1:8080",
  ].join("\n"));
  assert.deepEqual(draft.get(["rateLimits"]), {
    "web-sc0-requests": { key: "ip", size: 102_400, requests: 20, per: "10s" },
    "web-sc0-in-flight": { key: "ip", size: 102_400, concurrent: 9 },
  });
  assert.deepEqual(draft.get(["listeners", 0, "rules"]), [
    { rateLimit: "web-sc0-requests", over: { status: 429 } },
    { rateLimit: "web-sc0-in-flight", over: { deny: 403 } },
  ]);
  assert.ok(validateConfig(draft.config).ok, JSON.stringify(validateConfig(draft.config)));
  assert.match(line(lines, 6), /carried: stick-table .* -> \(the period and size of the rate limits/);
  assert.match(line(lines, 7), /carried: http-request track-sc0 src -> \(the key of the rate limits on sc0\)/);
  assert.match(line(lines, 8), /approximated: .* -> listeners\[0\]\.rules\[0\]; rateLimits\.web-sc0-requests; tandem counts in a sliding window/);
  assert.match(line(lines, 9), /approximated: .* rateLimits\.web-sc0-in-flight; tandem counts requests in flight, not connections/);
});

test("keys by header or cookie, a tarpit, in a backend's rules", async () => {
  const { draft, lines } = await run([
    "frontend web",
    "  bind :80",
    "  default_backend api",
    "backend api",
    "  stick-table type string len 64 size 1k store http_req_rate(1m)",
    "  http-request track-sc1 req.hdr(X-Api-Key)",
    "  http-request track-sc2 req.cook(JSESSIONID)",
    "  http-request tarpit if { sc_http_req_rate(1) gt 600 }",
    "  http-request deny deny_status 503 if { sc2_http_req_rate ge 100 }",
    "  server a 10.0.0.1:8080",
  ].join("\n"));
  assert.deepEqual(draft.get(["rateLimits"]), {
    "api-sc1-requests": { key: { header: "X-Api-Key" }, size: 1024, requests: 600, per: "1m" },
    "api-sc2-requests": { key: { cookie: "JSESSIONID" }, size: 1024, requests: 99, per: "1m" },
  });
  assert.deepEqual(draft.get(["pools", "api", "rules"]), [
    { rateLimit: "api-sc1-requests", over: { tarpit: "3s" } },
    { rateLimit: "api-sc2-requests", over: { deny: 503 } },
  ]);
  assert.ok(validateConfig(draft.config).ok, JSON.stringify(validateConfig(draft.config)));
  assert.match(line(lines, 3), /carried: timeout tarpit 3s/);
  assert.match(line(lines, 8), /^haproxy\.cfg:8: carried: stick-table .* -> \(the period and size of the rate limits/);
  assert.match(line(lines, 11), /tandem's tarpit answers 429/);
});

test("what tandem's rate limits cannot say is not carried, with the reason", async () => {
  const { draft, lines } = await run([
    "frontend web",
    "  bind :80",
    "  stick-table type ip size 100k store http_req_rate(10s)",
    "  http-request track-sc0 src",
    "  http-request track-sc1 src table other",
    "  http-request track-sc2 ssl_fc_sni",
    "  http-request deny if { sc_http_req_rate(0) gt 20 } { path_beg /api }",
    "  http-request deny if { sc_http_req_rate(1) gt 20 }",
    "  http-request deny if { sc_conn_cur(0) gt 5 }",
    "  default_backend app",
    "backend app",
    "  server a 10.0.0.1:8080",
  ].join("\n"));
  assert.equal(draft.get(["rateLimits"]), undefined);
  assert.match(line(lines, 7), /not carried: http-request track-sc0 src -> no deny or tarpit line tandem carries compares sc0/);
  assert.match(line(lines, 8), /not carried: .* -> a counter in another proxy's table/);
  assert.match(line(lines, 9), /not carried: .* -> track-sc2 ssl_fc_sni: tandem counts per client address/);
  assert.match(line(lines, 10), /not carried: .* -> a counter compared in anything but/);
  assert.match(line(lines, 11), /not carried: .* -> sc1 is not tracked/);
  assert.match(line(lines, 12), /not carried: .* -> the stick-table stores no conn_cur/);
  assert.doesNotMatch(line(lines, 6), /carried: stick-table .* -> \(the period/);
});
