/**
 * `tandem import` as an operator runs it, on the runtime of the test: haproxy.cfg and a
 * keepalived.conf made of includes (a wildcard, read through Platform.listDirectory) become one
 * file that `tandem check` accepts once the secrets the report names are set; bad input is refused
 * with file and line and writes nothing.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runTandem, runtime } from "../support/tandem.ts";

const FIXTURES = new URL("../core/import/fixtures/", import.meta.url).pathname;


describe(`tandem import on ${runtime}`, () => {
  test("haproxy.cfg + keepalived.conf with a conf.d include: one config written with its report; check accepts it once TANDEM_VRRP_KEY is set", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-import-"));
    copyFileSync(join(FIXTURES, "haproxy/quick-test.cfg"), join(dir, "haproxy.cfg"));
    mkdirSync(join(dir, "conf.d"));
    writeFileSync(join(dir, "keepalived.conf"), "include conf.d/*.conf\n");
    copyFileSync(join(FIXTURES, "combined/keepalived-lb1.conf"), join(dir, "conf.d", "web.conf"));
    writeFileSync(join(dir, "conf.d", "README"), "not a .conf: the wildcard leaves it out\n");
    const out = join(dir, "tandem.yaml");
    const reportFile = join(dir, "report.txt");
    const imported = await runTandem(["import", join(dir, "haproxy.cfg"), join(dir, "keepalived.conf"), "--out", out, "--report", reportFile]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stdout, "", "with --out, nothing on stdout");
    const report = readFileSync(reportFile, "utf8");
    assert.equal(imported.stderr.trim(), report.trim(), "the report on stderr and in --report");
    assert.match(report, /conf\.d\/web\.conf:9: carried: virtual_router_id 51 -> vrrp\.instances\[0\]\.vrid/, "the included file's directives are imported");
    assert.match(report, /haproxy\.cfg:29: carried: server s1 172\.31\.32\.33:8000 -> pools\.p\.members\[0\]/);
    assert.match(report, /auth_pass s3cr3tpw -> a secret, not written to the config: set TANDEM_VRRP_KEY/);
    assert.doesNotMatch(report, /README/, "the wildcard matched *.conf only");
    assert.match(report, /^\d+ directives: \d+ carried, \d+ approximated, \d+ not carried$/m);
    const yaml = readFileSync(out, "utf8");
    assert.doesNotMatch(yaml, /s3cr3tpw/);
    assert.match(yaml, /vrid: 51 # web\.conf:9 virtual_router_id 51/);

    const withoutKey = await runTandem(["check", "--config", out]);
    assert.equal(withoutKey.code, 1, "the key the report names is missing");
    assert.match(withoutKey.stderr, /vrrp\.key/);
    process.env.TANDEM_VRRP_KEY = "imported-pair-key-0123456789";
    try {
      const checked = await runTandem(["check", "--config", out]);
      assert.equal(checked.code, 0, checked.stderr);
      assert.match(checked.stdout, /: OK \(/);
    } finally {
      delete process.env.TANDEM_VRRP_KEY;
    }
  });

  test("without --out the config goes to stdout; --from names the language of a file detection cannot tell", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-import-"));
    const workers = join(dir, "farm.txt");
    writeFileSync(workers, readFileSync(join(FIXTURES, "modjk/workers-classic.properties"), "utf8"));
    const imported = await runTandem(["import", "--from", "modjk", workers]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^# Imported by tandem import from /);
    assert.match(imported.stdout, /mode: route/);
  });

  test("bad input: file and line, exit 1, no output file; an unknown --from is a usage error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-import-"));
    const broken = join(dir, "keepalived.conf");
    writeFileSync(broken, "vrrp_instance VI_1 {\n    virtual_router_id 51\n    priority high\n}\n");
    const out = join(dir, "tandem.yaml");
    const refused = await runTandem(["import", broken, "--out", out]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`import: ${broken.replace(/[.]/g, "\\.")}:3: `));
    assert.equal(existsSync(out), false, "nothing written");
    const missing = await runTandem(["import", join(dir, "nope.cfg")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.cfg/);
    const usage = await runTandem(["import", "--from", "nginx", broken]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--from nginx: expected one of haproxy, keepalived, modjk, httpd/);
  });
});
