/** haproxy.cfg to tandem: the classic topologies in full, Debian's samples, the language's rules and its errors. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseDocument } from "yaml";
import { validateConfig } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importHaproxy } from "../../../core/import/haproxy.ts";
import { detectFormat, importConfigs } from "../../../core/import/import.ts";
import { evaluateCondition, lexLine } from "../../../core/import/haproxy-lex.ts";
import { ImportError, ImportReport, type ReportEntry } from "../../../core/import/report.ts";

const FIXTURES = new URL("./fixtures/haproxy/", import.meta.url);

function fixture(name: string): { path: string; text: string } {
  return { path: name, text: readFileSync(new URL(name, FIXTURES), "utf8") };
}

async function run(...files: { path: string; text: string }[]): Promise<{ draft: Draft; report: ImportReport }> {
  const draft = new Draft();
  const report = new ImportReport();
  await importHaproxy(files, { draft, report, readInclude: () => Promise.resolve([]) });
  return { draft, report };
}

function cfg(text: string): { path: string; text: string } {
  return { path: "haproxy.cfg", text };
}

/** Lines with a directive on them: not blank, not only a comment. */
function directiveLines(text: string): number[] {
  return text.split("\n").flatMap((line, index) => (line.trim() === "" || line.trim().startsWith("#") ? [] : [index + 1]));
}

/** Every directive line has exactly one report entry, and no entry is about another line. */
function assertAccounted(files: { path: string; text: string }[], report: ImportReport): void {
  const expected = files.flatMap((file) => directiveLines(file.text).map((line) => `${file.path}:${line}`)).sort();
  const got = report.entries.map((entry) => `${entry.origin.file}:${entry.origin.line}`).sort();
  assert.deepEqual(got, expected, report.format());
}

function entry(report: ImportReport, line: number, file?: string): ReportEntry {
  const found = report.entries.find((e) => e.origin.line === line && (file === undefined || e.origin.file === file));
  assert.ok(found, `no report entry for line ${line}\n${report.format()}`);
  return found;
}

function counts(report: ImportReport): Record<string, number> {
  const tally: Record<string, number> = { carried: 0, approximated: 0, "not carried": 0 };
  for (const e of report.entries) tally[e.disposition]++;
  return tally;
}

async function rejects(text: string, line: number, reason: RegExp): Promise<void> {
  await assert.rejects(run(cfg(text)), (error: unknown) => {
    assert.ok(error instanceof ImportError, String(error));
    assert.equal(error.file, "haproxy.cfg");
    assert.equal(error.line, line, error.message);
    assert.match(error.reason, reason);
    return true;
  });
}

test("the classic pair: TLS with redirect and HSTS, an inserted SERVERID, checks, routes, stats, peers, all of it exactly", async () => {
  const file = fixture("classic-pair.cfg");
  const { draft, report } = await run(file);
  assertAccounted([file], report);
  const validated = validateConfig(draft.config);
  assert.ok(validated.ok, JSON.stringify(!validated.ok && validated.problems));
  const shared = {
    timeouts: { connect: "5s", response: "50s", idle: "50s" },
    queue: { timeout: "30s" },
    retries: 3,
    redispatch: true,
    forwarding: { xForwardedFor: true },
  };
  assert.deepEqual(draft.config, {
    pools: {
      app: {
        members: [
          { name: "tc1", url: "http://10.0.0.21:8080", weight: 10, maxconn: 200, cookie: "tc1" },
          { name: "tc2", url: "http://10.0.0.22:8080", weight: 10, maxconn: 200, cookie: "tc2" },
          { name: "spare", url: "http://10.0.0.23:8080", cookie: "spare", distance: 1 },
        ],
        strategy: "roundrobin",
        sticky: { mode: "insert", cookie: "SERVERID", httpOnly: true, maxIdle: "30m" },
        health: {
          check: {
            method: "GET", path: "/health", host: "shop.example.com", expect: ["200"],
            interval: "2s", fastInterval: "500ms", downInterval: "10s", rise: 2, fall: 3, timeout: "3s",
          },
        },
        ...shared,
      },
      api: {
        members: [
          { name: "api1", url: "http://10.0.0.31:9000", cookie: "a1" },
          { name: "api2", url: "http://10.0.0.32:9000", cookie: "a2", activation: "stopped" },
        ],
        strategy: "leastconn",
        sticky: { mode: "prefix", cookie: "JSESSIONID" },
        health: { check: { method: "HEAD", path: "/ping", expect: ["200-299"], interval: "5s", rise: 2, fall: 3, timeout: "3s" } },
        ...shared,
      },
      static: {
        members: [{ name: "web1", url: "http://10.0.0.41:80" }, { name: "web2", url: "http://10.0.0.42:80" }],
        strategy: "hash",
        hash: { key: "uri" },
        ...shared,
      },
    },
    listeners: [
      { address: ":80", timeouts: { body: "30s", request: "10s", keepAlive: "2s" }, redirectToHttps: 443 },
      {
        address: ":443",
        tls: {
          certificates: [
            { cert: "/etc/haproxy/certs/shop.pem", key: "/etc/haproxy/certs/shop.pem" },
            { cert: "/etc/haproxy/certs/api.pem", key: "/etc/haproxy/certs/api.pem" },
          ],
          minVersion: "1.2",
        },
        timeouts: { body: "30s", request: "10s", keepAlive: "2s" },
        hsts: { maxAge: "365d", includeSubDomains: true },
        protocols: ["http/1.1", "h2"],
      },
    ],
    routes: [
      { host: "api.example.com", pool: "api" },
      { path: "/static/", pool: "static" },
      { path: "/images/", pool: "static" },
    ],
    accessLog: { format: "httplog", syslog: { address: "10.0.0.9:514", facility: "local3" } },
    defaultPool: "app",
    admin: { address: "10.0.0.11:8404" },
    workers: 4,
    cluster: { name: "lbpair", node: "lb1", listen: "10.0.0.11:1024", peers: [{ name: "lb2", address: "10.0.0.12:1024" }] },
  });
  assert.deepEqual(counts(report), { carried: 48, approximated: 13, "not carried": 8 });
  assert.equal(entry(report, 45).detail, "routes[1], routes[2]");
  assert.match(entry(report, 44).detail, /^routes\[0\]; tandem matches the host without its port/);
  // The secret stays out of the config and the YAML; the report names the variable.
  const yaml = draft.toYaml();
  assert.ok(!yaml.includes("s3cret-password") && !JSON.stringify(draft.config).includes("s3cret"), yaml);
  assert.equal(entry(report, 77).disposition, "not carried");
  assert.match(entry(report, 77).detail, /TANDEM_ADMIN_SECRET/);
  assert.match(entry(report, 16).detail, /TANDEM_CLUSTER_KEY/);
  assert.deepEqual(entry(report, 54), {
    origin: { file: "classic-pair.cfg", line: 54, text: "    server tc1 10.0.0.21:8080 cookie tc1 weight 10 maxconn 200 check" },
    disposition: "carried",
    detail: "pools.app.members[0], pools.app.health.check (check)",
  });
  assert.deepEqual(entry(report, 50), {
    ...entry(report, 50),
    disposition: "approximated",
    detail: "pools.app.sticky: tandem reads the servers' cookie values as HAProxy set them and sets its own as <value>.<issued>.<lastSeen>, which HAProxy would not read back",
  });
  assert.match(entry(report, 56).detail, /backup -> distance 1/);
  assert.match(entry(report, 40).detail, /redirectToHttps 443; tandem answers 308.*HAProxy 301/);
  assert.equal(entry(report, 41).detail, "listeners[1].hsts");
  assert.equal(entry(report, 35).disposition, "not carried");
  assert.match(entry(report, 35).detail, /whole HTTP response/);
  assert.equal(entry(report, 5).disposition, "not carried");
  assert.equal(entry(report, 25).detail, "pools.app.forwarding.xForwardedFor, pools.api.forwarding.xForwardedFor, pools.static.forwarding.xForwardedFor");
  // The YAML is the config, and quotes each key's directive beside it.
  assert.deepEqual(parseDocument(yaml).toJS(), draft.config);
  const lines = yaml.split("\n");
  assert.ok(lines.includes("    strategy: roundrobin # classic-pair.cfg:49 balance roundrobin"), yaml);
  assert.ok(lines.includes("      # classic-pair.cfg:54 server tc1 10.0.0.21:8080 cookie tc1 weight 10 maxconn 200 check"), yaml);
  assert.ok(lines.includes("      connect: 5s # classic-pair.cfg:28 timeout connect 5s"), yaml);
  assert.ok(lines.includes("    redirectToHttps: 443 # classic-pair.cfg:40 http-request redirect scheme https code 301 unless { ssl_fc }"), yaml);
});

test("through tandem import: every fixture is detected as HAProxy; the classic pair comes out as YAML that passes validation", async () => {
  for (const name of ["classic-pair.cfg", "prefix-listen.cfg", ...DEBIAN_SAMPLES.map(([sample]) => sample)]) {
    assert.equal(detectFormat(fixture(name).text), "haproxy", name);
  }
  const outcome = await importConfigs([fixture("classic-pair.cfg")], { readInclude: () => Promise.resolve([]) });
  assert.ok(outcome.ok, JSON.stringify(!outcome.ok && outcome.errors));
  const config = parseDocument(outcome.yaml).toJS();
  assert.ok(validateConfig(config).ok);
  assert.deepEqual(config.pools.app.members.map((m: { cookie: string }) => m.cookie), ["tc1", "tc2", "spare"]);
  assert.equal(outcome.report.format().trim().split("\n").at(-1), "69 directives: 48 carried, 13 approximated, 8 not carried");
  const failed = await importConfigs([fixture("socks4.cfg")], { readInclude: () => Promise.resolve([]) });
  assert.ok(!failed.ok);
  assert.ok(failed.errors.some((error) => /^the imported config is not valid: listeners/.test(error)), failed.errors.join("\n"));
});

test("the architecture guide's listen with JSESSIONID prefix: cookies A and B kept, old timeout names, stats without the password", async () => {
  const file = fixture("prefix-listen.cfg");
  const { draft, report } = await run(file);
  assertAccounted([file], report);
  assert.ok(validateConfig(draft.config).ok);
  assert.deepEqual(draft.config, {
    pools: {
      webfarm: {
        members: [
          { name: "webA", url: "http://192.168.0.102:80", cookie: "A" },
          { name: "webB", url: "http://192.168.0.103:80", cookie: "B" },
        ],
        strategy: "roundrobin",
        sticky: { mode: "prefix", cookie: "JSESSIONID" },
        health: { check: { method: "HEAD", path: "/check.txt", interval: "2s", rise: 2, fall: 3, timeout: "2s" } },
        timeouts: { connect: "5s", response: "50s", idle: "50s" },
        retries: 3,
        redispatch: true,
        forwarding: { xForwardedFor: true },
      },
    },
    listeners: [{ address: "192.168.0.99:80", timeouts: { body: "50s" } }],
    accessLog: { syslog: { address: "127.0.0.1:514", facility: "local0" } },
    defaultPool: "webfarm",
    admin: {},
  });
  assert.equal(entry(report, 20).disposition, "carried");
  assert.match(entry(report, 16).detail, /pools\.webfarm; listeners\[0\]; the address on the listen line/);
  assert.match(entry(report, 18).detail, /not written: set TANDEM_ADMIN_SECRET/);
  assert.ok(!draft.toYaml().includes("somepassword"));
  assert.deepEqual(counts(report), { carried: 12, approximated: 6, "not carried": 3 });
});

const DEBIAN_SAMPLES: [string, { valid: true } | { problems: RegExp }, Record<string, number>][] = [
  ["basic-config-edge.cfg", { valid: true }, { carried: 25, approximated: 7, "not carried": 26 }],
  ["content-sw-sample.cfg", { valid: true }, { carried: 28, approximated: 9, "not carried": 10 }],
  ["quick-test.cfg", { valid: true }, { carried: 9, approximated: 1, "not carried": 1 }],
  ["wurfl-example.cfg", { valid: true }, { carried: 11, approximated: 0, "not carried": 4 }],
  // A forward proxy whose only server is the client's destination: no pool.
  ["option-http_proxy.cfg", { problems: /^pools/ }, { carried: 10, approximated: 2, "not carried": 23 }],
  // TCP proxies and a stats page: nothing to balance.
  ["socks4.cfg", { problems: /^listeners/ }, { carried: 6, approximated: 2, "not carried": 40 }],
  // The frontend has no mode, so it is TCP (HAProxy's default).
  ["transparent_proxy.cfg", { problems: /^listeners/ }, { carried: 7, approximated: 0, "not carried": 5 }],
  // /etc/haproxy/haproxy.cfg as installed: global and defaults only.
  ["debian-haproxy.cfg", { problems: /^listeners/ }, { carried: 1, approximated: 0, "not carried": 28 }],
];

for (const [name, outcome, expected] of DEBIAN_SAMPLES) {
  test(`Debian's ${name}: every line accounted for, ${"valid" in outcome ? "a valid config" : "a clear error"}`, async () => {
    const file = fixture(name);
    const { draft, report } = await run(file);
    assertAccounted([file], report);
    const validated = validateConfig(draft.config);
    if ("valid" in outcome) assert.ok(validated.ok, JSON.stringify(!validated.ok && validated.problems));
    else {
      assert.ok(!validated.ok);
      assert.match(validated.problems[0].path, outcome.problems);
    }
    assert.deepEqual(counts(report), expected, report.format());
  });
}

test("basic-config-edge: the stats frontend becomes the admin address, random becomes p2c, the inserted cookie keeps s1..s4", async () => {
  const { draft, report } = await run(fixture("basic-config-edge.cfg"));
  assert.deepEqual(draft.get(["admin"]), { address: ":8181" });
  assert.equal(draft.get(["pools", "app1", "strategy"]), "p2c");
  assert.deepEqual((draft.get(["pools", "app1", "members"]) as { cookie: string }[]).map((m) => m.cookie), ["s1", "s2", "s3", "s4"]);
  assert.deepEqual(draft.get(["pools", "app1", "health", "check"]), { method: "GET", path: "/", host: "svc1.example.com", interval: "1s", rise: 2, fall: 3, timeout: "1s" });
  assert.deepEqual(draft.get(["listeners", 1, "hsts"]), { maxAge: "365d" });
  assert.equal(draft.get(["listeners", 0, "redirectToHttps"]), 443);
  assert.equal(entry(report, 52).disposition, "not carried"); // timeout tunnel
  assert.equal(entry(report, 59).detail, "stats show-modules: the dashboard has no such setting");
});

test("content-sw-sample: path_beg with two values is two routes; hdr_beg(host) is reported", async () => {
  const { draft, report } = await run(fixture("content-sw-sample.cfg"));
  assert.deepEqual(draft.get(["routes"]), [{ path: "/img", pool: "static" }, { path: "/css", pool: "static" }]);
  assert.equal(entry(report, 32).disposition, "not carried");
  assert.match(entry(report, 32).detail, /hdr_beg\(host\) img: tandem matches a host exactly or as \*\.suffix/);
  assert.match(entry(report, 61).detail, /not carried: minconn 50/);
});

test("the lexer: quotes, escapes, comments and environment references as HAProxy reads them", () => {
  const origin = { file: "haproxy.cfg", line: 1, text: "" };
  assert.deepEqual(lexLine(`log-format "%ci %t # not a comment" # a comment`, origin).words, ["log-format", "%ci %t # not a comment"]);
  assert.deepEqual(lexLine(`stats realm HAProxy\\ Statistics`, origin).words, ["stats", "realm", "HAProxy Statistics"]);
  assert.deepEqual(lexLine(`acl x path_reg '^/a\\.b$' "" \\#x`, origin).words, ["acl", "x", "path_reg", "^/a\\.b$", "", "#x"]);
  assert.deepEqual(lexLine(`x a\\x41b "\\$HOME" c#d`, origin).words, ["x", "aAb", "$HOME", "c"]);
  assert.deepEqual(lexLine(`bind "\${IP}:80" "$PORT"`, origin), { words: ["bind", "${IP}:80", "$PORT"], environment: ["IP", "PORT"] });
  assert.throws(() => lexLine(`bind ":80`, { ...origin, line: 7 }), (error: unknown) => error instanceof ImportError && error.line === 7 && /unmatched double quote/.test(error.reason));
});

test(".if blocks: decidable conditions choose a branch, undecidable ones count as false and say so", async () => {
  assert.deepEqual(evaluateCondition(["version_atleast(2.4)"]), { value: true, exact: true });
  assert.deepEqual(evaluateCondition(["defined(TLS)"]), { value: false, exact: false, why: "defined(TLS)" });
  const text = [
    "defaults",
    "  mode http",
    "frontend www",
    "  bind :80",
    ".if version_atleast(2.4)",
    "  timeout client 7s",
    ".else",
    "  timeout client 9s",
    ".endif",
    ".if defined(WITH_TLS)",
    "  bind :443 ssl crt site.pem",
    ".endif",
    "  default_backend app",
    "backend app",
    "  server a 10.0.0.1:80",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["listeners"]), [{ address: ":80", timeouts: { body: "7s" } }]);
  assert.equal(entry(report, 8).detail, "inside a .if block whose condition is false");
  assert.equal(entry(report, 10).disposition, "approximated");
  assert.match(entry(report, 10).detail, /not decidable at import \(defined\(WITH_TLS\)\): taken as false/);
  await rejects("global\n.if 1\n  daemon\n", 2, /\.if without \.endif/);
  await rejects("global\n.endif\n", 2, /\.endif without \.if/);
});

test("defaults: the closest one before a proxy, a new one starts afresh, `from` names one (HAProxy 2.6)", async () => {
  const text = [
    "defaults base",
    "  mode http",
    "  timeout connect 3s",
    "defaults slow from base",
    "  timeout server 2m",
    "defaults",
    "  mode http",
    "  retries 5",
    "frontend www",
    "  bind :80",
    "  use_backend slow if { path_beg /reports }",
    "  default_backend fast",
    "backend fast",
    "  server f1 10.0.0.1:80",
    "backend slow from slow",
    "  server s1 10.0.0.2:80",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.ok(validateConfig(draft.config).ok);
  assert.deepEqual(draft.get(["pools", "fast"]), { members: [{ name: "f1", url: "http://10.0.0.1:80" }], retries: 5 });
  assert.deepEqual(draft.get(["pools", "slow"]), { members: [{ name: "s1", url: "http://10.0.0.2:80" }], timeouts: { connect: "3s", response: "2m", idle: "2m" } });
  assert.equal(entry(report, 3).detail, "pools.slow.timeouts.connect");
  await rejects("defaults a from nowhere\n  mode http\n", 1, /no defaults section named "nowhere"/);
});

test("use_backend conditions: hosts and path prefixes joined by AND and OR become routes", async () => {
  const text = [
    "defaults",
    "  mode http",
    "frontend www",
    "  bind :80",
    "  acl shop hdr(host) -i shop.example.com",
    "  acl shop hdr(host) -i www.shop.example.com",
    "  acl api path_beg /api/",
    "  acl corp hdr_dom(host) -i corp.example",
    "  acl admin src 10.0.0.0/8",
    "  use_backend api if shop api || { hdr_end(host) -i .api.example }",
    "  use_backend corp if corp",
    "  default_backend app",
    "backend api",
    "  server a 10.0.0.1:80",
    "backend corp",
    "  server c 10.0.0.2:80",
    "backend app",
    "  server b 10.0.0.3:80",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["routes"]), [
    { host: "shop.example.com", path: "/api/", pool: "api" },
    { host: "www.shop.example.com", path: "/api/", pool: "api" },
    { host: "*.api.example", pool: "api" },
    { host: "corp.example", pool: "corp" },
    { host: "*.corp.example", pool: "corp" },
  ]);
  assert.equal(entry(report, 5).detail, "routes[0], routes[1], routes[2]");
  assert.equal(entry(report, 9).detail, "used by no rule tandem carries");
  assert.ok(validateConfig(draft.config).ok);
});

test("balance and hash-type: each algorithm to its strategy and hash key", async () => {
  const backends: [string, { strategy?: string; hash?: Record<string, string> }][] = [
    ["source", { strategy: "hash", hash: { key: "source" } }],
    ["hdr(X-Tenant)", { strategy: "hash", hash: { key: "header", name: "X-Tenant" } }],
    ["hash req.cook(SID)", { strategy: "hash", hash: { key: "cookie", name: "SID" } }],
    ["random(3)", { strategy: "p2c" }],
    ["static-rr", { strategy: "roundrobin" }],
    ["first", {}],
  ];
  const text = ["defaults", "  mode http", ...backends.flatMap(([balance], index) => [`backend b${index}`, `  balance ${balance}`, "  hash-type consistent", "  hash-balance-factor 150", `  server s 10.0.0.${index + 1}:80`])].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  backends.forEach(([, expected], index) => {
    const pool = draft.get(["pools", `b${index}`]) as Record<string, unknown>;
    const hashed = expected.strategy === "hash";
    assert.deepEqual({ strategy: pool.strategy, hash: pool.hash }, { strategy: expected.strategy, hash: hashed ? { ...expected.hash, boundedLoad: 1.5 } : undefined });
  });
  assert.match(entry(report, 29).detail, /balance first: tandem has/);
  assert.equal(entry(report, 30).detail, "the pool does not balance by hash");
});

test("stick rules on a cookie become learn mode with the table's bounds; appsession too; stick on src is a source hash", async () => {
  const text = [
    "defaults",
    "  mode http",
    "backend learned",
    "  stick-table type string len 64 size 200k expire 45m peers lbpair",
    "  stick on req.cook(JSESSIONID)",
    "  stick store-response res.cook(JSESSIONID)",
    "  server a 10.0.0.1:80",
    "backend old",
    "  appsession JSESSIONID len 52 timeout 3h",
    "  server b 10.0.0.2:80",
    "backend byip",
    "  stick-table type ip size 1m expire 30m",
    "  stick on src",
    "  server c 10.0.0.3:80",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["pools", "learned", "sticky"]), { mode: "learn", cookie: "JSESSIONID", tableSize: 204800, tableTtl: "45m" });
  assert.equal(entry(report, 6).detail, "pools.learned.sticky.mode learn, pools.learned.sticky.cookie JSESSIONID");
  assert.equal(entry(report, 5).disposition, "approximated");
  assert.deepEqual(draft.get(["pools", "old", "sticky"]), { mode: "learn", cookie: "JSESSIONID", tableTtl: "3h" });
  assert.match(entry(report, 9).detail, /removed in HAProxy 1\.6/);
  assert.equal(draft.get(["pools", "byip", "strategy"]), "hash");
  assert.equal(entry(report, 12).detail, "no stick rule of this backend learns a cookie");
});

test("server lines: names made valid, cookie values kept or reported, no port, ssl with a CA, unknown keywords listed", async () => {
  const text = [
    "global",
    "  ca-base /etc/ssl/certs",
    "defaults",
    "  mode http",
    "backend app:v2",
    "  default-server check inter 3000 rise 3",
    "  server _tc1 tomcat1.internal:8443 ssl verify required ca-file internal-ca.pem cookie t.1 send-proxy",
    "  server tc2 tomcat2.internal ssl verify required ca-file internal-ca.pem no-check",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["pools", "app-v2"]), {
    members: [
      { name: "x_tc1", url: "https://tomcat1.internal:8443" },
      { name: "tc2", url: "https://tomcat2.internal:80" },
    ],
    health: { check: { path: "/", expect: ["100-599"], interval: "3s", rise: 3, fall: 3, timeout: "3s" } },
    tls: { ca: "/etc/ssl/certs/internal-ca.pem" },
  });
  assert.match(entry(report, 5).detail, /pools\.app-v2 \(renamed from "app:v2"/);
  assert.match(entry(report, 7).detail, /cookie "t\.1" is not a tandem member cookie.*lose their member/);
  assert.match(entry(report, 7).detail, /not carried: send-proxy/);
  assert.match(entry(report, 7).detail, /HAProxy checked by TCP connect/);
  assert.match(entry(report, 8).detail, /no port: HAProxy used the port the client connected to/);
  assert.equal(entry(report, 2).detail, "(resolves the CA paths)");
});

test("logs: the first target that can carry access lines, facilities by code, levels that drop them, stdout", async () => {
  const text = [
    "global",
    "  log ring@buffer local0",
    "  log loghost:514 local0",
    "  log /dev/log local1 notice",
    "  log 10.0.0.9 format rfc5424 auth2",
    "defaults",
    "  mode http",
    "  log global",
    "  option httplog clf",
    "frontend www",
    "  bind :80",
    "  default_backend app",
    "backend app",
    "  server a 10.0.0.1:80",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["accessLog"]), { format: "combined", syslog: { address: "10.0.0.9:514", facility: "authpriv" } });
  assert.match(entry(report, 2).detail, /no log rings/);
  assert.match(entry(report, 3).detail, /an IP address, not a name/);
  assert.match(entry(report, 4).detail, /level notice leaves out the access lines/);
  assert.equal(entry(report, 5).detail, "accessLog.syslog");
  const stdout = "defaults\n  mode http\n  log stdout format raw local0\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server a 10.0.0.1:80\n";
  const second = await run(cfg(stdout));
  assert.equal(second.draft.get(["accessLog"]), undefined);
  assert.equal(entry(second.report, 3).detail, "accessLog (stdout)");
});

test("mode tcp proxies and unknown keywords are reported, never errors; a global maxconn is not a listener limit", async () => {
  const text = [
    "global",
    "  maxconn 4096",
    "  frobnicate yes",
    "defaults",
    "  mode http",
    "  frobnicate-more",
    "listen db",
    "  mode tcp",
    "  bind :5432",
    "  server pg 10.0.0.5:5432",
    "frontend www",
    "  bind :80",
    "  option wibble",
    "  default_backend app",
    "backend app",
    "  server a 10.0.0.1:80",
    "  timeout client 5s",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.ok(validateConfig(draft.config).ok);
  assert.equal(entry(report, 3).detail, "unknown directive");
  assert.equal(entry(report, 6).detail, "unknown directive");
  assert.equal(entry(report, 7).detail, "mode tcp: tandem balances HTTP only");
  assert.equal(entry(report, 10).detail, "in a mode tcp listen: tandem balances HTTP only");
  assert.equal(entry(report, 13).detail, "option wibble: tandem has no equivalent");
  assert.equal(entry(report, 17).detail, "HAProxy ignores it in a backend");
  assert.match(entry(report, 2).detail, /process-wide limit/);
});

test("a backend's HSTS goes to the TLS listeners that send to it; insert without indirect or nocache, and rewrite, say how tandem differs", async () => {
  const text = [
    "defaults",
    "  mode http",
    "frontend www",
    "  bind :443 ssl crt /etc/ssl/site.pem",
    "  default_backend app",
    "backend app",
    "  http-response set-header Strict-Transport-Security max-age=600;\\ preload",
    "  cookie SRV insert",
    "  server a 10.0.0.1:80 cookie a",
    "backend legacy",
    "  cookie SRV",
    "  server b 10.0.0.2:80 cookie b",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["listeners", 0, "hsts"]), { maxAge: "10m", preload: true });
  assert.equal(entry(report, 7).detail, "listeners[0].hsts; set in backend app: tandem sends it on every answer of these listeners");
  assert.match(entry(report, 8).detail, /does not pass its cookie on to the member.*Cache-Control: private/);
  assert.deepEqual(draft.get(["pools", "legacy", "sticky"]), { mode: "insert", cookie: "SRV" });
  assert.match(entry(report, 11).detail, /rewrite -> insert/);
  assert.ok(validateConfig(draft.config).ok);
});

test("two frontends: their routes and listeners join, the report says routes now apply to both; no log silences one", async () => {
  const text = [
    "global",
    "  log 10.0.0.9:514 local0",
    "defaults",
    "  mode http",
    "  log global",
    "frontend public",
    "  bind :80",
    "  use_backend api if { path_beg /api }",
    "  default_backend app",
    "frontend internal",
    "  no log",
    "  bind 10.0.0.1:8080",
    "  default_backend api",
    "backend app",
    "  server a 10.0.0.2:80",
    "backend api",
    "  server b 10.0.0.3:80",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["listeners"]), [{ address: ":80" }, { address: "10.0.0.1:8080" }]);
  assert.equal(draft.get(["defaultPool"]), "app");
  assert.match(entry(report, 8).detail, /routes apply to every listener, whichever frontend it came from/);
  assert.match(entry(report, 13).detail, /one defaultPool for every listener: app stays/);
  assert.equal(entry(report, 11).detail, "(no log)");
  assert.deepEqual(draft.get(["accessLog"]), { syslog: { address: "10.0.0.9:514", facility: "local0" } });
  assert.ok(validateConfig(draft.config).ok);
});

test("checks and retries: option httpchk with a path only, expect string, retry-on, retries above tandem's cap, error pages", async () => {
  const text = [
    "defaults",
    "  mode http",
    "  errorfile 503 /etc/haproxy/errors/503.html",
    "  errorfile 200 /etc/haproxy/errors/ok.http",
    "backend app",
    "  option httpchk /status",
    "  http-check expect string READY",
    "  retries 20",
    "  retry-on all-retryable-errors 404",
    "  server a 10.0.0.1:80 check fall 5",
    "  server b \"${B_ADDR}\":80 check",
    "frontend www",
    "  bind :80",
    "  default_backend app",
  ].join("\n");
  const { draft, report } = await run(cfg(text));
  assertAccounted([cfg(text)], report);
  assert.deepEqual(draft.get(["pools", "app"]), {
    members: [{ name: "a", url: "http://10.0.0.1:80" }],
    health: { check: { method: "GET", path: "/status", body: "READY", interval: "2s", rise: 2, fall: 5, timeout: "2s" } },
    retries: 10,
    retryOn: ["conn-failure", "empty-response", "junk-response", "response-timeout", "500", "502", "503", "504"],
  });
  assert.deepEqual(draft.get(["errorPages"]), { "503": "/etc/haproxy/errors/503.html" });
  assert.match(entry(report, 3).detail, /as the body with its own status/);
  assert.match(entry(report, 4).detail, /400 to 599 \(not 200\)/);
  assert.match(entry(report, 8).detail, /retries 10: tandem retries at most 10 times/);
  assert.match(entry(report, 9).detail, /not carried: 404/);
  assert.match(entry(report, 11).detail, /environment variable B_ADDR/);
  assert.ok(validateConfig(draft.config).ok);
});

test("peers: the local node by localpeer, by a server line without address, or taken as the first and said so", async () => {
  const base = "defaults\n  mode http\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server a 10.0.0.1:80\n";
  const modern = await run(cfg(`${base}peers pair\n  bind 10.0.0.11:10000\n  server lb1\n  server lb2 10.0.0.12:10000\n`));
  assert.deepEqual(modern.draft.get(["cluster"]), { name: "pair", node: "lb1", listen: "10.0.0.11:10000", peers: [{ name: "lb2", address: "10.0.0.12:10000" }] });
  assert.equal(entry(modern.report, 10).detail, "cluster.node, cluster.listen");
  assert.equal(entry(modern.report, 9).detail, "cluster.listen");
  const guessed = await run(cfg(`${base}peers pair\n  peer lb1 10.0.0.11:1024\n  peer lb2 10.0.0.12:1024\nuserlist admins\n  user ops password $6$secret-hash\n`));
  assertAccounted([cfg(`${base}peers pair\n  peer lb1 10.0.0.11:1024\n  peer lb2 10.0.0.12:1024\nuserlist admins\n  user ops password $6$secret-hash\n`)], guessed.report);
  assert.equal(guessed.draft.get(["cluster", "node"]), "lb1");
  assert.match(entry(guessed.report, 9).detail, /taken as lb1's.*set cluster\.node to its name/);
  assert.match(entry(guessed.report, 12).detail, /passwords are not carried/);
  assert.ok(!guessed.draft.toYaml().includes("secret-hash"));
  assert.ok(validateConfig(guessed.draft.config).ok);
});

test("malformed input stops the import with file and line", async () => {
  await rejects("defaults\n  mode http\nbackend app\n  server a 10.0.0.1:80 weight heavy\n", 4, /server weight: not a number \("heavy"\)/);
  await rejects("defaults\n  mode http\nbackend app\n  server a 10.0.0.1:80 weight 300\n", 4, /weight: 300 is outside 0 to 256/);
  await rejects("defaults\n  mode http\nbackend app\n  timeout server 5x\n  server a 10.0.0.1:80\n", 4, /timeout server: not a time \("5x"; an integer with an optional unit/);
  await rejects("defaults\n  mode http\nbackend app\n  retries many\n  server a 10.0.0.1:80\n", 4, /retries: not a number/);
  await rejects("backend app\n  server a\n", 2, /server: a name and an address are required/);
  await rejects("  bind :80\n", 1, /outside any section/);
  await rejects("backend\n", 1, /backend: a name is required/);
  await rejects("backend a\n  server s 10.0.0.1:80\nlisten a\n  bind :80\n", 3, /a backend of that name already exists \(line 1\)/);
  await rejects("defaults\n  mode http\nfrontend f\n  bind :http\n", 4, /not a port \("http"\)/);
  await rejects("defaults\n  mode http\nfrontend f\n  bind :443 ssl crt a.pem\n  http-response set-header Strict-Transport-Security \"includeSubDomains\"\n", 5, /no max-age/);
});

test("several files read as HAProxy reads -f a -f b: defaults carry over, sections end with their file", async () => {
  const first = { path: "00-defaults.cfg", text: "defaults\n  mode http\n  timeout connect 4s\n" };
  const second = { path: "10-app.cfg", text: "frontend www\n  bind :8080\n  default_backend app\nbackend app\n  server a 10.0.0.1:80\n" };
  const { draft, report } = await run(first, second);
  assertAccounted([first, second], report);
  assert.deepEqual(draft.get(["pools", "app", "timeouts"]), { connect: "4s" });
  assert.equal(entry(report, 3, "00-defaults.cfg").detail, "pools.app.timeouts.connect");
  await assert.rejects(run({ path: "a.cfg", text: "backend app\n" }, { path: "b.cfg", text: "  server a 10.0.0.1:80\n" }), /b\.cfg:1: "server" outside any section/);
});

test("bind alpn h2 (ssl) and proto h2 (plain) become h2 listeners; maxconn stays behind there, alpn http/1.1 alone stays HTTP/1.1", async () => {
  const { draft, report } = await run(cfg(`defaults
  mode http
frontend web
  bind :443 ssl crt /etc/haproxy/site.pem alpn h2,http/1.1 maxconn 500
  bind :8443 ssl crt /etc/haproxy/site.pem alpn http/1.1
  bind :8080 proto h2
  default_backend app
backend app
  server s1 10.0.0.1:8080
`));
  const listeners = (draft.config as { listeners: Record<string, unknown>[] }).listeners;
  assert.deepEqual(listeners.map((listener) => [listener.address, listener.protocols, listener.maxConnections]), [
    [":443", ["http/1.1", "h2"], undefined],
    [":8443", undefined, undefined],
    [":8080", ["http/1.1", "h2"], undefined],
  ]);
  assert.match(entry(report, 4).detail, /maxconn 500: not carried on an h2 listener/);
  assert.doesNotMatch(entry(report, 4).detail, /not carried: .*alpn/);
  assert.match(entry(report, 5).detail, /not carried: alpn http\/1.1/);
  assert.ok(validateConfig(draft.config).ok);
});
