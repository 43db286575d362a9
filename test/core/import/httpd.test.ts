import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { validateConfig, formatProblem } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importHttpd } from "../../../core/import/httpd.ts";
import type { SourceFile } from "../../../core/import/parser.ts";
import { ImportError, ImportReport, type ReportEntry } from "../../../core/import/report.ts";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "httpd");

function readFixture(path: string): SourceFile {
  return { path, text: readFileSync(path, "utf8") };
}

/** What cli.ts does: relative to the including file's directory, a wildcard in the last name only. */
async function readInclude(pattern: string, from: string): Promise<SourceFile[]> {
  const path = pattern.startsWith("/") ? pattern : join(dirname(from), pattern);
  const directory = dirname(path);
  const name = path.slice(directory.length + 1);
  if (!/[*?[]/.test(name)) return [readFixture(path)];
  const matcher = new RegExp(`^${name.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return readdirSync(directory).filter((entry) => matcher.test(entry) && !entry.startsWith(".")).sort().map((entry) => readFixture(join(directory, entry)));
}

async function importFiles(...paths: string[]) {
  const draft = new Draft();
  const report = new ImportReport();
  const files = paths.map((path) => readFixture(join(FIXTURES, path)));
  await importHttpd(files, { draft, report, readInclude });
  return { draft, report, config: draft.config as Record<string, any> };
}

async function importText(text: string, path = "/etc/apache2/sites-available/test.conf") {
  const draft = new Draft();
  const report = new ImportReport();
  await importHttpd([{ path, text }], { draft, report, readInclude: () => Promise.resolve([]) });
  return { draft, report, config: draft.config as Record<string, any> };
}

/**
 * The directive lines of a file, counted independently of the parser: lines joined at a final
 * backslash, without blank lines, comments and closing tags (`</Proxy>` ends a section, it is no
 * directive).
 */
function directiveLines(text: string): number[] {
  const physical = text.split("\n");
  const found: number[] = [];
  for (let index = 0; index < physical.length; index++) {
    const start = index;
    let line = physical[index];
    while (line.endsWith("\\") && index + 1 < physical.length) line = line.slice(0, -1) + physical[++index];
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith("</")) continue;
    found.push(start + 1);
  }
  return found;
}

/** Every directive line of every file read has exactly one report entry, and nothing else has one. */
function assertEveryLineReported(report: ImportReport, files: string[]): void {
  const expected = files.flatMap((file) => directiveLines(readFileSync(file, "utf8")).map((line) => `${file}:${line}`)).sort();
  const got = report.entries.map((entry) => `${entry.origin.file}:${entry.origin.line}`).sort();
  assert.deepEqual(got, expected);
}

function entryAt(report: ImportReport, file: string, line: number): ReportEntry {
  const entry = report.entries.find((each) => each.origin.file.endsWith(file) && each.origin.line === line);
  assert.ok(entry, `no report entry for ${file}:${line}`);
  return entry;
}

function assertValid(config: unknown): void {
  const result = validateConfig(config);
  assert.ok(result.ok, !result.ok ? result.problems.map(formatProblem).join("\n") : "");
}

async function importError(run: () => Promise<unknown>): Promise<ImportError> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof ImportError, String(error));
    return error;
  }
  assert.fail("no ImportError");
}

describe("importHttpd: the classic topology (mod_proxy_balancer in front of Tomcats)", () => {
  const file = join(FIXTURES, "classic", "tomcat-cluster.conf");

  test("members keep their routes and weights exactly; the hot standby comes after the others", async () => {
    const { config } = await importFiles("classic/tomcat-cluster.conf");
    assert.deepEqual(config.pools.tomcats.members, [
      { name: "tc1", url: "http://10.0.0.11:8080", weight: 3, route: "tc1" },
      { name: "tc2", url: "http://10.0.0.12:8080", weight: 2, route: "tc2" },
      { name: "tc3", url: "http://10.0.0.13:8080", weight: 1, route: "tc3" },
      { name: "spare", url: "http://10.0.0.14:8080", route: "spare", distance: 1 },
    ]);
    assert.deepEqual(config.pools.tomcats.sticky, { mode: "route", cookie: "JSESSIONID", pathParameter: "jsessionid", force: false });
    assert.equal(config.pools.tomcats.strategy, "roundrobin");
    assert.equal(config.pools.tomcats.retries, 2);
    assert.deepEqual(config.pools.tomcats.queue, { timeout: "5000ms" });
    assert.deepEqual(config.pools.tomcats.timeouts, { connect: "2000ms", response: "120000ms", idle: "120000ms" });
    assert.equal(config.pools.tomcats.recoverTime, "30000ms");
    assert.deepEqual(config.pools.tomcats.forwarding, { preserveHost: true });
  });

  test("listeners, TLS, HSTS, the redirect to https, host routes and the admin plane", async () => {
    const { config } = await importFiles("classic/tomcat-cluster.conf");
    assert.deepEqual(config.listeners, [
      { address: ":80", redirectToHttps: 443 },
      {
        address: ":443",
        tls: { certificates: [{ cert: "/etc/ssl/certs/shop.example.com.pem", key: "/etc/ssl/private/shop.example.com.key" }], minVersion: "1.2" },
        hsts: { maxAge: "31536000s", includeSubDomains: true },
      },
    ]);
    assert.deepEqual(config.routes, [{ host: "shop.example.com", pool: "tomcats" }, { host: "www.shop.example.com", pool: "tomcats" }]);
    assert.deepEqual(config.admin, {});
    assert.deepEqual(config.accessLog, { format: "combined", file: "/var/log/apache2/shop-access.log" });
  });

  test("the result passes tandem's validation, and every directive line has one report entry", async () => {
    const { config, report } = await importFiles("classic/tomcat-cluster.conf");
    assertValid(config);
    assertEveryLineReported(report, [file]);
    assert.match(report.format(), /34 directives: 16 carried, 11 approximated, 7 not carried\n$/);
  });

  test("byrequests, stated or by default with stickysession, is approximated: httpd credits a session's requests to its member, tandem's roundrobin counts only new sessions", async () => {
    const { report } = await importFiles("classic/tomcat-cluster.conf");
    assert.equal(entryAt(report, "tomcat-cluster.conf", 34).disposition, "approximated");
    assert.match(entryAt(report, "tomcat-cluster.conf", 34).detail, /; byrequests counts the requests a session's route sends to a member too, so a member busy with its sessions gets fewer new ones; tandem's roundrobin shares new sessions by weight alone$/);
    assert.equal(entryAt(report, "tomcat-cluster.conf", 34).detail.split("byrequests counts").length, 2, "said once");
    const site = (proxySet: string) => `<Proxy "balancer://app">\n  BalancerMember http://10.0.0.1:8080 route=a\n  ProxySet ${proxySet}\n</Proxy>\nProxyPass / balancer://app/\n`;
    const byDefault = await importText(site("stickysession=JSESSIONID"), "site.conf");
    assert.match(entryAt(byDefault.report, "site.conf", 3).detail, /with byrequests, httpd's default lbmethod: byrequests counts the requests/);
    const busyness = await importText(site("lbmethod=bybusyness stickysession=JSESSIONID"), "site.conf");
    assert.equal(entryAt(busyness.report, "site.conf", 3).disposition, "carried");
    const notSticky = await importText(site("lbmethod=byrequests"), "site.conf");
    assert.equal(entryAt(notSticky.report, "site.conf", 3).disposition, "carried", "without stickiness every request is a new placement on both");
  });

  test("the report says what each directive became, and why not", async () => {
    const { report } = await importFiles("classic/tomcat-cluster.conf");
    assert.equal(entryAt(report, "tomcat-cluster.conf", 31).disposition, "carried");
    assert.match(entryAt(report, "tomcat-cluster.conf", 31).detail, /pools\.tomcats\.members\[1\]: tc2 .*weight: 2, route: tc2/);
    const standby = entryAt(report, "tomcat-cluster.conf", 33);
    assert.equal(standby.disposition, "approximated");
    assert.match(standby.detail, /hot standby/);
    const ping = entryAt(report, "tomcat-cluster.conf", 32);
    assert.equal(ping.disposition, "approximated");
    assert.match(ping.detail, /not carried: ping=5/);
    // A line continued with a backslash is one directive, reported at its first line.
    assert.match(entryAt(report, "tomcat-cluster.conf", 29).detail, /recoverTime: 30000ms.*timeouts\.connect: 2000ms; retry, connectiontimeout: per member in httpd, one value per pool/);
    assert.equal(entryAt(report, "tomcat-cluster.conf", 40).disposition, "not carried");
    assert.match(entryAt(report, "tomcat-cluster.conf", 40).detail, /TANDEM_ADMIN_SECRET/);
    assert.match(entryAt(report, "tomcat-cluster.conf", 45).detail, /does not rewrite Location/);
    assert.match(entryAt(report, "tomcat-cluster.conf", 8).detail, /proxies nothing/);
  });

  test("the YAML quotes each key's directive beside it", async () => {
    const { draft } = await importFiles("classic/tomcat-cluster.conf");
    const yaml = draft.toYaml();
    assert.match(yaml, /# tomcat-cluster\.conf:33 BalancerMember http:\/\/10\.0\.0\.14:8080 route=spare status=\+H\n\s+- name: spare/);
    assert.match(yaml, /mode: route # tomcat-cluster\.conf:34 ProxySet lbmethod=byrequests stickysession=JSESSIONID\|jsessionid/);
    assert.match(yaml, /redirectToHttps: 443 # tomcat-cluster\.conf:12 RewriteRule/);
  });
});

describe("importHttpd: a real-world-shaped site with Include, Define, AJP members and <Location>", () => {
  const site = join(FIXTURES, "site", "app.example.org.conf");
  const files = [site, join(FIXTURES, "site", "balancers", "api.conf"), join(FIXTURES, "site", "balancers", "shop.conf")];

  test("included balancers become pools; ajp:// members move to the HTTP connector, flagged", async () => {
    const { config, report } = await importFiles("site/app.example.org.conf");
    assert.deepEqual(config.pools.shop.members, [
      { name: "shop1", url: "http://10.0.1.21:8080", weight: 10, route: "shop1" },
      { name: "shop2", url: "http://10.0.1.22:8080", weight: 10, route: "shop2", redirect: "shop1" },
      { name: "shop3", url: "http://10.0.1.23:8080", weight: 5, route: "shop3", distance: 1, activation: "disabled" },
    ]);
    assert.deepEqual(config.pools.shop.sticky, { mode: "route", cookie: "JSESSIONID", pathParameter: "JSESSIONID", separator: "." });
    const ajp = entryAt(report, "shop.conf", 3);
    assert.equal(ajp.disposition, "approximated");
    assert.match(ajp.detail, /RemoteIpValve \(deploy\/examples\/tomcat-remoteip\.xml\)/);
    assert.match(entryAt(report, "shop.conf", 6).detail, /tandem always reads ;name= path parameters/);
  });

  test("the two-argument BalancerMember form, health checks, bybusyness; an fcgi member is not carried", async () => {
    const { config, report } = await importFiles("site/app.example.org.conf");
    assert.deepEqual(config.pools.api.members, [
      { name: "10.0.3.31", url: "http://10.0.3.31:9000" },
      { name: "10.0.3.32", url: "http://10.0.3.32:9000", activation: "stopped" },
    ]);
    assert.equal(config.pools.api.strategy, "leastconn");
    assert.deepEqual(config.pools.api.health, { check: { method: "GET", path: "/health", interval: "5000ms", rise: 2, fall: 3 }, passive: { errorLimit: 1 } });
    assert.equal(entryAt(report, "api.conf", 4).disposition, "not carried");
    assert.match(entryAt(report, "api.conf", 4).detail, /fcgi:\/\/ members/);
    assert.match(entryAt(report, "api.conf", 5).detail, /not carried: growth=4/);
  });

  test("routes: one per name and path, <Location> paths, a single-URL ProxyPass as a pool of one", async () => {
    const { config, report } = await importFiles("site/app.example.org.conf");
    assert.deepEqual(config.routes, [
      { host: "app.example.org", path: "/api", pool: "api" },
      { host: "*.app.example.org", path: "/api", pool: "api" },
      { host: "app.example.org", path: "/shop", pool: "shop" },
      { host: "*.app.example.org", path: "/shop", pool: "shop" },
      { host: "app.example.org", path: "/legacy", pool: "10.0.2.5_8000" },
      { host: "*.app.example.org", path: "/legacy", pool: "10.0.2.5_8000" },
    ]);
    assert.deepEqual(config.pools["10.0.2.5_8000"], { members: [{ name: "10.0.2.5", url: "http://10.0.2.5:8000" }], recoverTime: "0ms", forwarding: { preserveHost: true } });
    // /legacy is sent to the member as /: tandem does not rewrite paths, and says so.
    assert.match(entryAt(report, "app.example.org.conf", 36).detail, /passes the path on unchanged/);
    assert.equal(entryAt(report, "app.example.org.conf", 29).disposition, "not carried");
    // timeout= on a ProxyPass to a balancer is the balancer's: how long to wait for a free member.
    assert.deepEqual(config.pools.api.queue, { timeout: "30000ms" });
  });

  test("Define is substituted; Redirect to https becomes redirectToHttps; TLS from the <IfModule>d vhost", async () => {
    const { config, report } = await importFiles("site/app.example.org.conf");
    assert.deepEqual(config.listeners, [
      { address: ":80", redirectToHttps: 443 },
      {
        address: ":443",
        tls: { certificates: [{ cert: "/etc/letsencrypt/live/app.example.org/fullchain.pem", key: "/etc/letsencrypt/live/app.example.org/privkey.pem" }] },
        hsts: { maxAge: "63072000s", includeSubDomains: true, preload: true },
      },
    ]);
    assert.match(entryAt(report, "app.example.org.conf", 13).detail, /keeps the client's host and answers 308/);
    assert.match(entryAt(report, "app.example.org.conf", 43).detail, /set accessLog\.file to the path \$\{APACHE_LOG_DIR\}\/app-access\.log/);
  });

  test("valid, and every directive line of all three files reported once", async () => {
    const { config, report } = await importFiles("site/app.example.org.conf");
    assertValid(config);
    assertEveryLineReported(report, files);
    assert.match(entryAt(report, "app.example.org.conf", 8).detail, /reads .*api\.conf, .*shop\.conf/);
  });
});

describe("importHttpd: Debian's apache2 configuration", () => {
  const root = join(FIXTURES, "debian");

  test("apache2.conf with its includes: every directive reported; no balancer in it, so no pool", async () => {
    const { config, report } = await importFiles("debian/apache2.conf");
    const read = [...new Set(report.entries.map((entry) => entry.origin.file))];
    assert.ok(read.some((file) => file.endsWith("sites-enabled/000-default.conf")));
    assert.ok(read.some((file) => file.endsWith("mods-enabled/proxy_balancer.conf")) === false, "proxy_balancer.conf is all comments");
    assertEveryLineReported(report, [...new Set([join(root, "apache2.conf"), ...read])]);
    assert.deepEqual(config.listeners, [{ address: ":80", timeouts: { keepAlive: "5000ms" } }]);
    assert.equal(config.pools, undefined);
    const result = validateConfig(config);
    assert.ok(!result.ok);
    assert.deepEqual(result.problems.map(formatProblem), ["pools: a value (required) (got nothing)"]);
    const counts = { carried: 0, approximated: 0, "not carried": 0 };
    for (const entry of report.entries) counts[entry.disposition]++;
    assert.deepEqual(counts, DEBIAN_COUNTS);
  });

  test("the same tree with a balancer site added: a valid config, Debian's files still all reported", async () => {
    const { config, report } = await importFiles("debian/apache2.conf", "classic/tomcat-cluster.conf");
    assertValid(config);
    assert.equal(config.pools.tomcats.members.length, 4);
    // Debian's ports.conf and the site both Listen 80: one listener.
    assert.equal(entryAt(report, "tomcat-cluster.conf", 4).disposition, "not carried");
  });

  test("default-ssl.conf: a TLS listener with Debian's snakeoil certificate", async () => {
    const { config, report } = await importFiles("debian/sites-available/default-ssl.conf");
    assert.deepEqual(config.listeners, [{ address: ":443", tls: { certificates: [{ cert: "/etc/ssl/certs/ssl-cert-snakeoil.pem", key: "/etc/ssl/private/ssl-cert-snakeoil.key" }] } }]);
    assertEveryLineReported(report, [join(root, "sites-available", "default-ssl.conf")]);
  });
});

/** What Debian's apache2.conf and the files it includes give, as the test above found them. */
const DEBIAN_COUNTS = { carried: 12, approximated: 1, "not carried": 302 };

describe("importHttpd: httpd's syntax", () => {
  test("directive names in any case, quoted arguments, indented comments, a comment continued by '\\'", async () => {
    const { config, report } = await importText([
      "listen 8080",
      '<proxy "balancer://_cluster">',
      "  balancermember 'http://10.0.0.1:8080' ROUTE=a LoadFactor=7",
      "  # a comment \\",
      "  BalancerMember http://10.0.0.9:8080 route=swallowed-by-the-comment",
      "</PROXY>",
      'PROXYPASS "/" "balancer://_CLUSTER/" stickysession=JSESSIONID',
    ].join("\n"));
    assert.deepEqual(config.pools.x_cluster.members, [{ name: "a", url: "http://10.0.0.1:8080", weight: 7, route: "a" }]);
    assert.equal(config.defaultPool, "x_cluster");
    assert.match(entryAt(report, "test.conf", 2).detail, /renamed from _cluster/);
    assert.equal(report.entries.length, 4);
    assertValid(config);
  });

  test("unknown directives are reported, never an error", async () => {
    const { report } = await importText("FrobnicateWidgets on\nProxyPass / http://10.0.0.1:8080/");
    assert.deepEqual(entryAt(report, "test.conf", 1), { origin: { file: "/etc/apache2/sites-available/test.conf", line: 1, text: "FrobnicateWidgets on" }, disposition: "not carried", detail: "unknown directive" });
  });

  test("no Listen or <VirtualHost>: the listener is :80, said on the ProxyPass", async () => {
    const { config, report } = await importText("ProxyPass / http://10.0.0.1:8080/\nProxyPassReverse / http://10.0.0.1:8080/");
    assert.deepEqual(config.listeners, [{ address: ":80" }]);
    assert.match(entryAt(report, "test.conf", 1).detail, /no Listen or <VirtualHost>/);
    // httpd's ProxyPreserveHost is Off by default; tandem keeps the client's Host, and says so.
    assert.match(entryAt(report, "test.conf", 1).detail, /without ProxyPreserveHost httpd sent the member its own host:port/);
    assertValid(config);
  });

  test("<IfDefine> holds for a name Defined above it", async () => {
    const { config } = await importText("Define WITH_API\n<IfDefine WITH_API>\n  ProxyPass /api http://10.0.0.2:80/api\n</IfDefine>\n<IfDefine !WITH_API>\n  Listen 81\n</IfDefine>");
    assert.deepEqual(config.routes, [{ path: "/api", pool: "10.0.0.2_80" }]);
    assert.deepEqual(config.listeners, [{ address: ":80" }]);
  });

  test("lbset and hot standby: standbys come after their lbset, before the next", async () => {
    const { config } = await importText([
      "<Proxy balancer://b>",
      "BalancerMember http://10.0.0.1:80 route=a",
      "BalancerMember http://10.0.0.2:80 route=b status=+H",
      "BalancerMember http://10.0.0.3:80 route=c lbset=1",
      "</Proxy>",
      "ProxyPass / balancer://b/",
    ].join("\n"));
    assert.deepEqual(config.pools.b.members.map((member: { distance?: number }) => member.distance ?? 0), [0, 1, 2]);
  });

  test("<IfModule !…> and <IfDefine> parts are reported as skipped, line by line", async () => {
    const { config, report } = await importText([
      "<IfModule !mod_proxy.c>",
      "  ProxyPass / http://10.0.0.9:80/",
      "</IfModule>",
      "<IfDefine SPECIAL>",
      "  Listen 81",
      "</IfDefine>",
      "ProxyPass / http://10.0.0.1:80/",
    ].join("\n"));
    assert.equal(report.entries.length, 5);
    assert.match(entryAt(report, "test.conf", 2).detail, /inside <IfModule !mod_proxy\.c>/);
    assert.match(entryAt(report, "test.conf", 4).detail, /SPECIAL is not defined/);
    assert.match(entryAt(report, "test.conf", 5).detail, /inside <IfDefine SPECIAL>, a condition that does not hold/);
    assert.deepEqual(Object.keys(config.pools), ["10.0.0.1_80"]);
  });
});

describe("importHttpd: malformed input stops the import with file and line", () => {
  test("an unterminated section names the line that opened it", async () => {
    const error = await importError(() => importFiles("malformed/unterminated.conf"));
    assert.equal(error.line, 2);
    assert.match(error.file, /unterminated\.conf$/);
    assert.match(error.message, /unterminated\.conf:2: <VirtualHost> was not closed/);
  });

  test("a section closed by another name", async () => {
    const error = await importError(() => importFiles("malformed/mismatched.conf"));
    assert.equal(error.line, 3);
    assert.match(error.reason, /expected <\/Proxy> \(for line 1\) but saw <\/Location>/i);
  });

  test("a section left open in an included file is that file's error", async () => {
    const error = await importError(() => importFiles("malformed/open-in-include.conf"));
    assert.match(error.file, /open-in-include-part\.conf$/);
    assert.equal(error.line, 1);
  });

  test("a bad number, on a continued line, at the line where the directive starts", async () => {
    const error = await importError(() => importFiles("malformed/bad-loadfactor.conf"));
    assert.equal(error.line, 3);
    assert.match(error.reason, /loadfactor: a number from 1 to 100 \(got heavy\)/);
    await importError(() => importText("<Proxy balancer://b>\nBalancerMember http://h:80 loadfactor=0\n</Proxy>"));
    await importError(() => importText("ProxyTimeout soon"));
    await importError(() => importText("ProxyPreserveHost maybe"));
  });

  test("an include loop", async () => {
    const error = await importError(() => importFiles("malformed/loop-a.conf"));
    assert.match(error.file, /loop-b\.conf$/);
    assert.equal(error.line, 2);
    assert.match(error.reason, /include loop: .*loop-a\.conf -> .*loop-b\.conf -> .*loop-a\.conf/);
  });

  test("a missing '>' and a close without an open", async () => {
    assert.equal((await importError(() => importText("Listen 80\n<Proxy balancer://x\nBalancerMember http://h:80\n</Proxy>"))).line, 2);
    assert.equal((await importError(() => importText("Listen 80\n</VirtualHost>"))).line, 2);
  });
});

describe("importHttpd: ProxyPass order", () => {
  test("a ProxyPass after one whose path is its prefix was never used by httpd: reported, no route", async () => {
    const { config, report } = await importText([
      "ProxyPreserveHost On",
      "ProxyPass / http://10.0.0.1:8080/",
      "ProxyPass /api http://10.0.0.2:8080/api",
    ].join("\n"));
    assert.equal(config.routes, undefined);
    assert.equal(config.defaultPool, "10.0.0.1_8080");
    assert.deepEqual(Object.keys(config.pools), ["10.0.0.1_8080"]);
    assert.match(entryAt(report, "test.conf", 3).detail, /the route: httpd never used it, ProxyPass \/ http:\/\/10\.0\.0\.1:8080\/ \(line 2\)/);
    assertValid(config);
  });
});

describe("importHttpd: includes", () => {
  test("a relative Include is read against ServerRoot when there is one, as httpd reads it", async () => {
    const asked: string[] = [];
    const draft = new Draft();
    const report = new ImportReport();
    const text = "ServerRoot /etc/apache2\nInclude ports.conf\nIncludeOptional conf.d/*.conf\nProxyPass / http://10.0.0.1:8080/";
    await importHttpd([{ path: "/srv/site.conf", text }], {
      draft,
      report,
      readInclude: (pattern) => {
        asked.push(pattern);
        return Promise.resolve(pattern === "/etc/apache2/ports.conf" ? [{ path: pattern, text: "Listen 8080" }] : []);
      },
    });
    assert.deepEqual(asked, ["/etc/apache2/ports.conf", "/etc/apache2/conf.d/*.conf"]);
    assert.deepEqual((draft.config as Record<string, any>).listeners, [{ address: ":8080" }]);
    assert.equal(entryAt(report, "site.conf", 3).detail, "(no file matched)");
    assert.equal(report.entries.length, 5);
  });

  test("Include of a file that cannot be read, or a wildcard that matches nothing, is an error; IncludeOptional is not", async () => {
    const failing = (pattern: string) => Promise.reject(new Error(`${pattern}: No such file or directory`));
    const run = (text: string, readInclude: (pattern: string, from: string) => Promise<SourceFile[]>) =>
      importHttpd([{ path: "/srv/site.conf", text }], { draft: new Draft(), report: new ImportReport(), readInclude });
    const missing = await importError(() => run("Listen 80\nInclude missing.conf", failing));
    assert.equal(missing.line, 2);
    assert.match(missing.reason, /missing\.conf: No such file or directory/);
    const none = await importError(() => run("Include sites/*.conf", () => Promise.resolve([])));
    assert.match(none.reason, /no matches for the wildcard pattern sites\/\*\.conf/);
    await run("IncludeOptional missing.conf\nIncludeOptional sites/*.conf", failing);
  });
});
