/** `tandem import` of mod_jk: workers.properties, uriworkermap.properties and JkMount lines. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseDocument } from "yaml";
import { validateConfig, formatProblem } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importModjk } from "../../../core/import/modjk.ts";
import { ImportError, ImportReport, type ReportEntry } from "../../../core/import/report.ts";

const FIXTURES = new URL("./fixtures/modjk/", import.meta.url);

interface File {
  path: string;
  text: string;
}

function fixture(name: string): File {
  return { path: name, text: readFileSync(new URL(name, FIXTURES), "utf8") };
}

async function importFiles(...files: File[]): Promise<{ draft: Draft; report: ImportReport }> {
  return await importInto(new Draft(), ...files);
}

/** Into a draft that may hold what an earlier language of the same import made. */
async function importInto(draft: Draft, ...files: File[]): Promise<{ draft: Draft; report: ImportReport }> {
  const report = new ImportReport();
  await importModjk(files, { draft, report, readInclude: () => Promise.reject(new Error("mod_jk files include nothing")) });
  return { draft, report };
}

/**
 * The lines of a file that are directives: in a properties file what is left after mod_jk strips
 * `#…`; in an httpd file the lines that are neither blank nor a comment.
 */
function directiveLines(file: File): number[] {
  const httpd = /^\s*(Jk[A-Za-z]+\s|<)/m.test(file.text);
  return file.text.split("\n").flatMap((line, index) => {
    const content = httpd ? (line.trim().startsWith("#") ? "" : line.trim()) : line.replace(/#.*/, "").trim();
    return content === "" ? [] : [index + 1];
  });
}

/** Every directive line of every file has exactly one report entry, and the report has no other. */
function assertEveryLineAccounted(report: ImportReport, ...files: File[]): void {
  for (const file of files) {
    const reported = report.entries.filter((entry) => entry.origin.file === file.path).map((entry) => entry.origin.line).sort((a, b) => a - b);
    assert.deepEqual(reported, directiveLines(file), `${file.path}: one entry per directive line`);
  }
  const total = files.reduce((sum, file) => sum + directiveLines(file).length, 0);
  assert.equal(report.entries.length, total, "no entry for a line that is not a directive");
}

function entryAt(report: ImportReport, file: string, line: number): ReportEntry {
  const entry = report.entries.find((candidate) => candidate.origin.file === file && candidate.origin.line === line);
  assert.ok(entry, `an entry for ${file}:${line}`);
  return entry;
}

function assertValid(draft: Draft): void {
  const result = validateConfig(draft.config);
  assert.ok(result.ok, result.ok ? "" : result.problems.map(formatProblem).join("\n"));
}

async function assertImportError(files: File[], file: string, line: number, reason: RegExp): Promise<void> {
  await assert.rejects(importFiles(...files), (error: unknown) => {
    assert.ok(error instanceof ImportError, String(error));
    assert.equal(error.file, file);
    assert.equal(error.line, line, error.message);
    assert.match(error.reason, reason);
    return true;
  });
}

test("the classic farm: a balancer over Tomcats keeps weights, jvmRoutes, domains, distance, redirect and activation", async () => {
  const files = [fixture("workers-classic.properties"), fixture("uriworkermap.properties"), fixture("jk-classic.conf")];
  const { draft, report } = await importFiles(...files);
  assertValid(draft);
  assertEveryLineAccounted(report, ...files);
  const pool = draft.get(["pools", "lb"]) as Record<string, unknown>;
  assert.deepEqual(pool.members, [
    { name: "tc1", url: "http://10.0.0.11:8080", weight: 3, domain: "rack-a", redirect: "tc3" },
    { name: "tc2", url: "http://10.0.0.12:8080", weight: 1, route: "node2", domain: "rack-a" },
    { name: "tc3", url: "http://10.0.0.13:8080", weight: 1, activation: "disabled", domain: "rack-a" },
    { name: "dr1", url: "http://10.1.0.11:8180", activation: "stopped", distance: 1 },
  ]);
  assert.deepEqual(pool.sticky, { mode: "route", force: true });
  assert.equal(pool.strategy, "leastconn");
  assert.equal(pool.recoverTime, "30s");
  assert.equal(pool.retries, 2);
  assert.deepEqual(pool.timeouts, { connect: "3000ms" });
  assert.deepEqual(pool.health, { check: { timeout: "2000ms", path: "/", expect: ["200-499"] } });
  assert.equal(draft.get(["defaultPool"]), "lb");
  assert.deepEqual(draft.get(["routes"]), [
    { pool: "lb", host: "admin.example.com", path: "/console" },
    { pool: "lb", path: "/reports" },
    { pool: "lb", path: "/shop" },
    { pool: "lb", path: "/api" },
  ], "host routes first, then the longer paths: mod_jk takes the most specific mount");
  assert.deepEqual(draft.get(["admin"]), {});
  assert.deepEqual(draft.get(["listeners"]), [{ address: ":80" }]);

  const workers = "workers-classic.properties";
  assert.deepEqual(entryAt(report, workers, 9), {
    origin: { file: workers, line: 9, text: "worker.tomcat.type=ajp13" },
    disposition: "approximated",
    detail: "AJP becomes HTTP to Tomcat's HTTP connector; configure Tomcat's RemoteIpValve (deploy/examples/tomcat-remoteip.xml) so it still sees the client's address and https",
  }, "a template's line used by four members is reported once");
  assert.equal(entryAt(report, workers, 36).disposition, "approximated");
  assert.match(entryAt(report, workers, 36).detail, /AJP port 8109 becomes Tomcat's HTTP connector port 8180/);
  assert.deepEqual([entryAt(report, workers, 26).disposition, entryAt(report, workers, 26).detail], ["carried", "pools.lb.members[1].route"]);
  assert.deepEqual([entryAt(report, workers, 18).disposition, entryAt(report, workers, 18).detail], ["carried", "pools.lb.members[0].weight"]);
  assert.equal(entryAt(report, workers, 41).detail, "pools.lb.members");
  assert.equal(entryAt(report, workers, 42).detail, "pools.lb.members", "the repeated balance_workers line adds members");
  assert.equal(entryAt(report, workers, 48).disposition, "not carried");
  assert.match(entryAt(report, workers, 52).detail, /TANDEM_ADMIN_SECRET/);
  assert.match(entryAt(report, workers, 19).detail, /sessions stay inside its domain/);
  const uris = "uriworkermap.properties";
  assert.deepEqual([entryAt(report, uris, 2).disposition, entryAt(report, uris, 2).detail], ["carried", "routes[2]"], "/shop|/* is exactly a tandem prefix");
  assert.equal(entryAt(report, uris, 4).disposition, "not carried");
  assert.match(entryAt(report, uris, 6).detail, /cannot be expressed/);
  assert.match(entryAt(report, uris, 7).detail, /every path under \/reports/);
  const conf = "jk-classic.conf";
  assert.deepEqual([entryAt(report, conf, 8).disposition, entryAt(report, conf, 8).detail], ["carried", "defaultPool"]);
  assert.match(entryAt(report, conf, 3).detail, /import that file as well/);
  assert.match(entryAt(report, conf, 4).detail, /imported here from uriworkermap\.properties/);
  assert.match(entryAt(report, conf, 11).detail, /admin plane/);
  assert.deepEqual([entryAt(report, conf, 15).disposition, entryAt(report, conf, 15).detail], ["carried", "routes[0].host"]);
  assert.equal(entryAt(report, conf, 2).detail, "listeners[0]");
  assert.equal(report.format().split("\n").at(-2), "65 directives: 31 carried, 14 approximated, 20 not carried");

  const yaml = draft.toYaml();
  assert.deepEqual(parseDocument(yaml).toJS(), draft.config, "the YAML is the config");
  assert.ok(yaml.includes("weight: 3 # workers-classic.properties:18 worker.tc1.lbfactor=3"), yaml);
  assert.ok(yaml.includes("route: node2 # workers-classic.properties:26 worker.tc2.route=node2"), yaml);
  assert.ok(yaml.includes("force: true # workers-classic.properties:44 worker.lb.sticky_session_force=True"), yaml);
  assert.ok(!yaml.includes("operator"), "the status worker's user is not written");
});

test("Debian's libapache2-mod-jk files: the ajp13 worker in worker.list becomes a pool; the balancer outside it and jk.conf's undefined workers are reported", async () => {
  const files = [fixture("workers.properties"), fixture("jk.conf")];
  const { draft, report } = await importFiles(...files);
  assertValid(draft);
  assertEveryLineAccounted(report, ...files);
  assert.deepEqual(draft.get(["pools"]), {
    ajp13_worker: { members: [{ name: "ajp13_worker", url: "http://localhost:8080", weight: 1 }] },
  });
  assert.deepEqual(draft.get(["listeners"]), [{ address: ":80" }], "httpd's port, as no Listen line came with the files");
  assert.match(entryAt(report, "workers.properties", 99).detail, /worker loadbalancer is not used/);
  assert.match(entryAt(report, "workers.properties", 74).detail, /RemoteIpValve/);
  assert.match(entryAt(report, "jk.conf", 71).detail, /no worker jk-status/);
  assert.match(entryAt(report, "jk.conf", 23).detail, /imported here from workers\.properties/);
  assert.match(entryAt(report, "jk.conf", 19).detail, /condition/);
  assert.equal(report.format().split("\n").at(-2), "25 directives: 3 carried, 2 approximated, 20 not carried");
});

test("the properties syntax as jk_map.c reads it: # anywhere, no continuations, $(var) from earlier lines, appended lists, overridden keys", async () => {
  const workers = {
    path: "workers.properties",
    text: [
      "host=10.0.0.5 # the Tomcat's address",
      "ps=\\",
      "worker.list=lb",
      "worker.lb.type=lb",
      "worker.lb.balance_workers=a",
      "worker.a.host=$(host)",
      "worker.a.port=8009",
      "worker.a.port=8019",
      "worker.a.lbfactor=2",
      "worker.a.domain=$(UNDEFINED_VAR)",
      "worker.a.frobnicate=yes",
      "worker.list",
      "worker.lb.session_cookie=SESSION",
      "worker.lb.session_path=;sessionid",
      "worker.lb.sticky_session=false",
      "worker.a.secret=s3cr3t-ajp",
      "",
    ].join("\n"),
  };
  const { draft, report } = await importFiles(workers);
  assertValid(draft);
  assertEveryLineAccounted(report, workers);
  assert.deepEqual(draft.get(["pools", "lb", "members"]), [{ name: "a", url: "http://10.0.0.5:8090", weight: 2 }]);
  assert.deepEqual(draft.get(["pools", "lb", "sticky"]), { mode: "none", cookie: "SESSION", pathParameter: "sessionid" });
  assert.equal(draft.get(["pools", "lb", "recoverTime"]), "60s", "mod_jk's recover_time default, not tandem's 10s");
  assert.match(entryAt(report, workers.path, 7).detail, /overridden by line 8/);
  assert.equal(entryAt(report, workers.path, 7).disposition, "not carried");
  assert.match(entryAt(report, workers.path, 10).detail, /\$\(UNDEFINED_VAR\) is not a property defined above/);
  assert.match(entryAt(report, workers.path, 11).detail, /unknown directive/);
  assert.match(entryAt(report, workers.path, 12).detail, /no '='/);
  assert.match(entryAt(report, workers.path, 16).detail, /AJP secret/);
  assert.ok(!draft.toYaml().includes("s3cr3t"), "the AJP secret is not written");
  assert.match(entryAt(report, workers.path, 2).detail, /no value uses \$\(ps\)/, "a trailing backslash is the value, not a continuation");
});

test("a worker whose name is not a tandem name is renamed, and keeps its name as the route Tomcat's jvmRoute carries", async () => {
  const workers = {
    path: "workers.properties",
    text: "worker.list=_lb\nworker._lb.type=lb\nworker._lb.balance_workers=_tc1,tc2\nworker._tc1.host=a\nworker.tc2.host=b\nworker.tc2.redirect=_tc1\n",
  };
  const { draft, report } = await importFiles(workers);
  assertValid(draft);
  assertEveryLineAccounted(report, workers);
  assert.deepEqual(draft.get(["pools", "w_lb", "members"]), [
    { name: "w_tc1", url: "http://a:8080", route: "_tc1" },
    { name: "tc2", url: "http://b:8080", redirect: "w_tc1" },
  ]);
  assert.match(entryAt(report, workers.path, 1).detail, /the pool is named w_lb/);
  assert.match(entryAt(report, workers.path, 3).detail, /the member is named w_tc1/, "on the line that named the worker");
});

test("mounts: JkMount inside <Location>, exact paths, a worker's mount property, repeats, and mounts of workers that are not listed or not defined", async () => {
  const workers = {
    path: "workers.properties",
    text: "worker.list=app,other\nworker.app.host=10.0.0.1\nworker.other.host=10.0.0.2\nworker.unlisted.host=10.0.0.3\nworker.other.mount=/other/* /more/*\n",
  };
  const conf = {
    path: "httpd.conf",
    text: [
      "<Location /app>",
      "  JkMount app",
      "</Location>",
      "JkMount /exact other",
      "JkMount /x/* unlisted",
      "JkMount /y/* nosuch",
      "JkMount /app/* app;reply_timeout=60000",
      "LoadModule jk_module /usr/lib/apache2/modules/mod_jk.so",
      "JkFrobnicate on",
      "",
    ].join("\n"),
  };
  const { draft, report } = await importFiles(workers, conf);
  assertValid(draft);
  assertEveryLineAccounted(report, workers, conf);
  assert.deepEqual(draft.get(["routes"]), [
    { pool: "other", path: "/exact" },
    { pool: "other", path: "/other" },
    { pool: "other", path: "/more" },
    { pool: "app", path: "/app" },
  ]);
  assert.deepEqual([entryAt(report, conf.path, 1).disposition, entryAt(report, conf.path, 1).detail], ["carried", "routes[3]"]);
  assert.match(entryAt(report, workers.path, 5).detail, /^routes\[1\]: .*; routes\[2\]: /);
  assert.match(entryAt(report, conf.path, 4).detail, /paths under \/exact as well/);
  assert.match(entryAt(report, conf.path, 5).detail, /not in worker\.list/);
  assert.match(entryAt(report, conf.path, 6).detail, /no worker nosuch/);
  assert.match(entryAt(report, conf.path, 7).detail, /already routes \/app to app/);
  assert.match(entryAt(report, conf.path, 8).detail, /--from httpd/);
  assert.equal(entryAt(report, conf.path, 9).detail, "unknown directive");
  assert.match(entryAt(report, workers.path, 4).detail, /worker unlisted is not used/);
});

test("malformed input stops the import at its file and line", async () => {
  await assertImportError([{ path: "w.properties", text: "worker.list=a\nworker.a.host=h\nworker.a.lbfactor=ten\n" }], "w.properties", 3, /lbfactor: not a number \("ten"\)/);
  await assertImportError(
    [{ path: "w.properties", text: "worker.list=a\nworker.a.reference=worker.b\nworker.b.reference=worker.c\nworker.c.reference=worker.a\n" }],
    "w.properties", 4, /reference loop: worker a → b → c → a/,
  );
  await assertImportError([{ path: "w.properties", text: "worker.list=a\nworker.a.activation=X\n" }], "w.properties", 2, /activation: not A, D or S/);
  await assertImportError([{ path: "jk.conf", text: "JkMount /* a\n<Location /x>\n  JkMount a\n" }], "jk.conf", 2, /<Location> is not closed/);
  await assertImportError([{ path: "jk.conf", text: "<IfModule jk_module>\nJkMount /* a\n</Location>\n" }], "jk.conf", 3, /<\/Location> closes <IfModule> of line 1/);
});

test("redirect names the target's route, as mod_jk looks it up: a worker whose route differs from its name is found by the route only", async () => {
  const workers = {
    path: "workers.properties",
    text: [
      "worker.list=lb",
      "worker.lb.type=lb",
      "worker.lb.balance_workers=x,y,z",
      "worker.x.host=10.0.0.1",
      "worker.x.route=jvmX",
      "worker.y.host=10.0.0.2",
      "worker.y.redirect=jvmX",
      "worker.z.host=10.0.0.3",
      "worker.z.redirect=x",
      "",
    ].join("\n"),
  };
  const { draft, report } = await importFiles(workers);
  assertValid(draft);
  assertEveryLineAccounted(report, workers);
  assert.deepEqual(draft.get(["pools", "lb", "members"]), [
    { name: "x", url: "http://10.0.0.1:8080", route: "jvmX" },
    { name: "y", url: "http://10.0.0.2:8080", redirect: "x" },
    { name: "z", url: "http://10.0.0.3:8080" },
  ]);
  assert.match(entryAt(report, workers.path, 9).detail, /no other member of the balancer has the route x/);
});

test("a disabled mount ('-') switches off the mounts of its pattern from any file; '!' and JkUnMount are exclusions tandem cannot make", async () => {
  const workers = { path: "workers.properties", text: "worker.list=app\nworker.app.host=10.0.0.1\n" };
  const uris = { path: "uriworkermap.properties", text: "-/legacy/*=app\n/shop/*=app\n" };
  const conf = { path: "jk.conf", text: "JkMount /legacy/* app\nJkMount !/shop/static/* app\nJkUnMount /shop/images/* app\n" };
  const { draft, report } = await importFiles(workers, uris, conf);
  assertValid(draft);
  assertEveryLineAccounted(report, workers, uris, conf);
  assert.deepEqual(draft.get(["routes"]), [{ pool: "app", path: "/shop" }]);
  assert.match(entryAt(report, uris.path, 1).detail, /a disabled mount/);
  assert.match(entryAt(report, conf.path, 1).detail, /disabled by uriworkermap\.properties:1 -\/legacy\/\*=app/);
  assert.match(entryAt(report, conf.path, 2).detail, /no exclusions/);
  assert.match(entryAt(report, conf.path, 3).detail, /no exclusions/);
});

test("balance_workers: a member without properties takes mod_jk's defaults, a balancer among the members is left out, the deprecated balanced_workers counts too", async () => {
  const workers = {
    path: "workers.properties",
    text: [
      "worker.list=outer",
      "worker.outer.type=lb",
      "worker.outer.balance_workers=v6,bare",
      "worker.outer.balanced_workers=inner",
      "worker.inner.type=lb",
      "worker.inner.balance_workers=v6",
      "worker.v6.host=[2001:db8::7]",
      "",
    ].join("\n"),
  };
  const { draft, report } = await importFiles(workers);
  assertValid(draft);
  assertEveryLineAccounted(report, workers);
  assert.deepEqual(draft.get(["pools", "outer", "members"]), [
    { name: "v6", url: "http://[2001:db8::7]:8080" },
    { name: "bare", url: "http://localhost:8080" },
  ]);
  assert.equal(entryAt(report, workers.path, 3).disposition, "approximated");
  assert.match(entryAt(report, workers.path, 3).detail, /bare has no properties: mod_jk's defaults/);
  assert.match(entryAt(report, workers.path, 4).detail, /inner is left out: a worker of type lb/);
  assert.match(entryAt(report, workers.path, 5).detail, /worker inner is not used/);
});

test("after another language's import: its pools, routes and listeners stay, the mod_jk pool takes a free name and its routes come after", async () => {
  const draft = new Draft();
  draft.set(["listeners"], [{ address: ":443" }]);
  draft.set(["pools", "lb", "members"], [{ name: "web1", url: "http://10.9.0.1:80" }]);
  draft.set(["routes"], [{ path: "/static", pool: "lb" }]);
  const workers = { path: "workers.properties", text: "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=tc1\nworker.tc1.host=10.0.0.1\n" };
  const conf = { path: "jk.conf", text: "Listen 8080\nJkMount /app/* lb\n" };
  const { report } = await importInto(draft, workers, conf);
  assertValid(draft);
  assertEveryLineAccounted(report, workers, conf);
  assert.deepEqual(draft.get(["listeners"]), [{ address: ":443" }]);
  assert.deepEqual(draft.get(["pools", "lb", "members"]), [{ name: "web1", url: "http://10.9.0.1:80" }]);
  assert.deepEqual(draft.get(["pools", "lb-2", "members"]), [{ name: "tc1", url: "http://10.0.0.1:8080" }]);
  assert.deepEqual(draft.get(["routes"]), [{ path: "/static", pool: "lb" }, { path: "/app", pool: "lb-2" }]);
  assert.match(entryAt(report, workers.path, 1).detail, /the pool is named lb-2/);
  assert.match(entryAt(report, conf.path, 1).detail, /listeners come from another file/);
});

test("the workers.properties quoted in deploy/examples/seed-003-004-mod-jk-workers.yaml imports to that example's pool", async () => {
  const example = readFileSync(new URL("../../../deploy/examples/seed-003-004-mod-jk-workers.yaml", import.meta.url), "utf8");
  const quoted = example.split("\n").filter((line) => /^# {3}\S/.test(line)).map((line) => line.slice(4));
  const workers = { path: "workers.properties", text: quoted.filter((line) => line.startsWith("worker.")).join("\n") };
  const conf = { path: "httpd.conf", text: quoted.filter((line) => line.startsWith("Jk")).join("\n") };
  assert.ok(workers.text.split("\n").length >= 25 && conf.text.split("\n").length === 3, "the example still quotes its workers.properties and httpd lines");
  const { draft, report } = await importFiles(workers, conf);
  assertValid(draft);
  assertEveryLineAccounted(report, workers, conf);
  const expected = (parseDocument(example).toJS() as { pools: { loadbalancer: Record<string, unknown> } }).pools.loadbalancer;
  const imported = draft.get(["pools", "loadbalancer"]) as Record<string, unknown>;
  const byName = (members: unknown) => [...(members as { name: string }[])].sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(byName(imported.members), byName(expected.members));
  for (const key of ["strategy", "sticky", "retries", "recoverTime"]) assert.deepEqual(imported[key], expected[key], key);
  assert.equal(draft.get(["defaultPool"]), "loadbalancer");
  assert.deepEqual(draft.get(["admin"]), {});
});

test("method Request, stated or by default, is approximated where sessions stick: mod_jk counts a session's later requests too, tandem's roundrobin only the sessions it places; Busyness is leastconn", async () => {
  const farm = (method: string) => ({
    path: "workers.properties",
    text: `worker.list=lb\nworker.a.port=8009\nworker.b.port=8010\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n${method}`,
  });
  const stated = await importFiles(farm("worker.lb.method=R\n"));
  assertEveryLineAccounted(stated.report, farm("worker.lb.method=R\n"));
  assert.equal(stated.draft.get(["pools", "lb", "strategy"]), "roundrobin");
  assert.equal(entryAt(stated.report, "workers.properties", 6).disposition, "approximated");
  assert.match(entryAt(stated.report, "workers.properties", 6).detail, /^pools\.lb\.strategy roundrobin: mod_jk's Request method counts every request, a session's later ones too/);
  assert.equal(entryAt(stated.report, "workers.properties", 4).disposition, "carried", "the method line says it");

  const unstated = await importFiles(farm(""));
  assertEveryLineAccounted(unstated.report, farm(""));
  assert.equal(entryAt(unstated.report, "workers.properties", 4).disposition, "approximated");
  assert.match(entryAt(unstated.report, "workers.properties", 4).detail, /^pools\.lb; .*counts every request.* \(Request is mod_jk's default method\)$/);

  const notSticky = await importFiles(farm("worker.lb.sticky_session=false\nworker.lb.method=R\n"));
  assert.equal(entryAt(notSticky.report, "workers.properties", 4).disposition, "carried", "without stickiness every request is placed anew");
  assert.equal(entryAt(notSticky.report, "workers.properties", 7).disposition, "carried");

  const busyness = await importFiles(farm("worker.lb.method=Busyness\n"));
  assert.equal(busyness.draft.get(["pools", "lb", "strategy"]), "leastconn");
  assert.equal(entryAt(busyness.report, "workers.properties", 6).disposition, "carried");
});
