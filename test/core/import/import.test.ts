/**
 * `tandem import` as a whole (core/import/import.ts): each fixture's language recognised from its
 * content, languages combined into one config that passes tandem's validation, and what an
 * operator gets when that cannot be.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseDocument } from "yaml";
import { validateConfig } from "../../../core/config/load.ts";
import { detectFormat, importConfigs } from "../../../core/import/import.ts";
import type { SourceFile } from "../../../core/import/parser.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const fixture = (path: string): SourceFile => ({ path: join(FIXTURES, path), text: readFileSync(join(FIXTURES, path), "utf8") });
const noIncludes = () => Promise.reject(new Error("no include expected"));

function filesUnder(directory: string): string[] {
  return readdirSync(join(FIXTURES, directory)).flatMap((name) => {
    const path = join(directory, name);
    return statSync(join(FIXTURES, path)).isDirectory() ? filesUnder(path) : [path];
  });
}


describe("import: languages recognised from their content", () => {
  // Fixtures that are parts of a bigger whole (a conf-enabled snippet, an include target) are
  // named by the file that includes them, not on their own.
  const expected: [string, string | undefined][] = [
    ...filesUnder("haproxy").filter((path) => path.endsWith(".cfg")).map((path): [string, string] => [path, "haproxy"]),
    ...filesUnder("keepalived").filter((path) => !path.endsWith(".md")).map((path): [string, string] => [path, "keepalived"]),
    ["combined/keepalived-lb1.conf", "keepalived"],
    ["modjk/workers.properties", "modjk"],
    ["modjk/workers-classic.properties", "modjk"],
    ["modjk/uriworkermap.properties", "modjk"],
    ["modjk/jk.conf", "modjk"],
    ["modjk/jk-classic.conf", "modjk"],
    ["httpd/classic/tomcat-cluster.conf", "httpd"],
    ["httpd/site/app.example.org.conf", "httpd"],
  ];
  for (const [path, format] of expected) {
    test(`${path}: ${format}`, () => assert.equal(detectFormat(fixture(path).text), format));
  }
  test("text in none of the languages is not guessed", () => {
    assert.equal(detectFormat("hello world\n[section]\nkey = value\n"), undefined);
    assert.equal(detectFormat("# only comments\n; and more\n"), undefined);
  });
});

describe("import: several languages into one config", () => {
  test("haproxy.cfg and keepalived.conf: the balancer and the vrrp section in one valid config, every directive of both in the report, no secret", async () => {
    const haproxy = fixture("haproxy/classic-pair.cfg");
    const keepalived = fixture("combined/keepalived-lb1.conf");
    const outcome = await importConfigs([haproxy, keepalived], { readInclude: noIncludes });
    assert.ok(outcome.ok, outcome.ok ? "" : outcome.errors.join("\n"));
    const config = parseDocument(outcome.yaml).toJS();
    const validated = validateConfig(config);
    assert.ok(validated.ok, "the written YAML validates as tandem check does");
    assert.ok(Object.keys(config.pools).length > 0, "pools from haproxy.cfg");
    assert.equal(config.vrrp.instances[0].vrid, 51);
    assert.deepEqual(config.vrrp.instances[0].virtualAddresses, ["10.0.0.100/24"]);
    assert.equal(config.vrrp.address, "10.0.0.11");
    assert.deepEqual(config.vrrp.peers, ["10.0.0.12"]);
    assert.doesNotMatch(outcome.yaml, /s3cr3tpw/, "auth_pass is never written");
    const files = new Set(outcome.report.entries.map((entry) => entry.origin.file));
    assert.deepEqual(files, new Set([haproxy.path, keepalived.path]));
    assert.ok(outcome.report.entries.some((entry) => /TANDEM_VRRP_KEY/.test(entry.detail)), "the report says where the VRRP key goes");
    assert.match(outcome.yaml, /^# Imported by tandem import from /);
    assert.match(outcome.yaml, /vrid: 51 # keepalived-lb1\.conf:9 virtual_router_id 51/);
  });

  test("keepalived.conf alone: refused, saying to import it with the balancer's config", async () => {
    const outcome = await importConfigs([fixture("combined/keepalived-lb1.conf")], { readInclude: noIncludes });
    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? "" : outcome.errors[0], /import it together with the balancer's config/);
  });

  test("a file in none of the languages is refused with its name and --from; --from overrides detection", async () => {
    const unknown = await importConfigs([{ path: "notes.txt", text: "hello\n" }], { readInclude: noIncludes });
    assert.equal(unknown.ok, false);
    assert.deepEqual(unknown.ok ? [] : unknown.errors, ["notes.txt: not recognised as haproxy, keepalived, modjk, httpd (name it with --from)"]);
    const forced = await importConfigs([{ path: "notes.txt", text: "hello\n" }], { from: "haproxy", readInclude: noIncludes });
    assert.equal(forced.ok, false);
    assert.match(forced.ok ? "" : forced.errors[0], /^notes\.txt:1: "hello" outside any section/, "read as HAProxy, which refuses it as HAProxy does");
  });

  test("input that cannot be read stops the import with file and line", async () => {
    const outcome = await importConfigs([{ path: "workers.properties", text: "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a\nworker.a.lbfactor=ten\n" }], { readInclude: noIncludes });
    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? "" : outcome.errors[0], /^workers\.properties:4: /);
  });
});
