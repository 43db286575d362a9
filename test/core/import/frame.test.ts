/** The parts of `tandem import` every language shares: the report, the draft's YAML with its quotes. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDocument } from "yaml";
import { Draft } from "../../../core/import/draft.ts";
import { ImportError, ImportReport } from "../../../core/import/report.ts";

const at = (line: number, text: string) => ({ file: "/etc/haproxy/haproxy.cfg", line, text });

test("the report lists every directive in file and line order with what became of it, then the counts", () => {
  const report = new ImportReport();
  report.notCarried(at(3, "  stats socket /run/haproxy/admin.sock"), "the admin API replaces the stats socket");
  report.carried(at(1, "  balance leastconn"), "pools.app.strategy");
  report.approximated({ file: "/etc/keepalived/keepalived.conf", line: 9, text: "advert_int 1" }, "advertInterval 1s");
  assert.equal(report.format(), [
    "/etc/haproxy/haproxy.cfg:1: carried: balance leastconn -> pools.app.strategy",
    "/etc/haproxy/haproxy.cfg:3: not carried: stats socket /run/haproxy/admin.sock -> the admin API replaces the stats socket",
    "/etc/keepalived/keepalived.conf:9: approximated: advert_int 1 -> advertInterval 1s",
    "3 directives: 1 carried, 1 approximated, 1 not carried",
    "",
  ].join("\n"));
});

test("an ImportError names the file and line", () => {
  const error = new ImportError("workers.properties", 12, "lbfactor: not a number (\"ten\")");
  assert.equal(error.message, "workers.properties:12: lbfactor: not a number (\"ten\")");
});

test("the draft builds nested objects and lists along a path; the YAML quotes each key's directive beside it", () => {
  const draft = new Draft();
  draft.cite(["pools", "app"], at(30, "backend app"));
  draft.set(["pools", "app", "strategy"], "leastconn", at(31, "  balance leastconn"));
  draft.set(["pools", "app", "members", 0], { name: "web1", url: "http://10.0.0.1:8080", cookie: "w1" }, at(40, "  server web1 10.0.0.1:8080 check cookie w1"));
  draft.set(["pools", "app", "members", 1, "name"], "web2");
  draft.cite(["pools", "app", "members", 1, "name"], at(41, "  server web2 10.0.0.2:8080"));
  draft.cite(["pools", "app", "members", 1, "name"], at(41, "  server web2 10.0.0.2:8080"));
  assert.deepEqual(draft.get(["pools", "app", "members", 1]), { name: "web2" });
  assert.equal(draft.get(["pools", "shop", "strategy"]), undefined);
  const yaml = draft.toYaml("Imported by tandem import");
  assert.deepEqual(parseDocument(yaml).toJS(), draft.config, "the YAML is the config");
  const lines = yaml.split("\n");
  assert.equal(lines[0], "# Imported by tandem import");
  assert.ok(lines.includes("    # haproxy.cfg:30 backend app"), yaml);
  assert.ok(lines.includes("    strategy: leastconn # haproxy.cfg:31 balance leastconn"), yaml);
  assert.ok(lines.includes("      # haproxy.cfg:40 server web1 10.0.0.1:8080 check cookie w1"), yaml);
  assert.equal(lines.filter((line) => line.includes("haproxy.cfg:41")).length, 1, "a directive cited twice is quoted once");
  assert.ok(lines.includes("      - name: web2 # haproxy.cfg:41 server web2 10.0.0.2:8080"), yaml);
});

test("the draft refuses an empty path", () => {
  assert.throws(() => new Draft().set([], 1), /empty path/);
});
