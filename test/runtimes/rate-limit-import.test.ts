/**
 * A stick-table rate limit behaves alike in the real HAProxy (Debian's /usr/sbin/haproxy) and in
 * tandem running what `tandem import` made of the same file: the same burst from one client gets
 * the budget's worth of 200 and the rest 429. HAProxy's come in that order; tandem's total is the
 * same, but with a worker per core (the imported config's default) a request may be refused while
 * another worker still holds tokens it leased, which a later request then spends (README: Rate
 * limits, workers).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startBackend } from "../support/backends.ts";
import { haproxyBinary, haproxySkipReason } from "../support/haproxy.ts";
import { freePort } from "../support/ports.ts";
import { startWithConfig } from "../support/reference-process.ts";
import { runTandem, startTandem } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const BUDGET = 12;
const BURST = 30;

function haproxyConfig(listen: number, member: number): string {
  return [
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 30s",
    "  timeout server 30s",
    "frontend web",
    `  bind 127.0.0.1:${listen}`,
    "  stick-table type ip size 100k expire 1m store http_req_rate(1m)",
    "  http-request track-sc0 src",
    `  http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${BUDGET} }`,
    "  default_backend app",
    "backend app",
    `  server m1 127.0.0.1:${member}`,
    "",
  ].join("\n");
}

/** One request at a time, each on a connection of its own: the statuses in order. */
async function statuses(url: string): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < BURST; i++) {
    seen.push(await new Promise<number>((resolve, reject) => {
      get(url, { agent: false }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode!));
      }).on("error", reject);
    }));
  }
  return seen;
}

test("a stick-table rate limit: HAProxy and the imported tandem answer a burst alike", { skip: requireTool("rate-limit-import.test.ts", haproxySkipReason()), timeout: 60_000 }, async () => {
  const member = await startBackend("m1");
  const dir = mkdtempSync(join(tmpdir(), "tandem-rate-import-"));
  const haproxy = await startWithConfig((path) => [haproxyBinary()!, "-db", "-f", path], (port) => haproxyConfig(port, member.port));
  try {
    writeFileSync(join(dir, "haproxy.cfg"), haproxyConfig(await freePort(), member.port));
    const imported = await runTandem(["import", join(dir, "haproxy.cfg"), "--out", join(dir, "tandem.yaml"), "--report", join(dir, "report.txt")]);
    assert.equal(imported.code, 0, imported.stderr);
    const report = readFileSync(join(dir, "report.txt"), "utf8");
    assert.match(report, /approximated: http-request deny deny_status 429 .* -> listeners\[0\]\.rules\[0\]; rateLimits\.web-sc0-requests/);
    assert.doesNotMatch(report, /: not carried:/);
    const tandem = await startTandem(undefined, { args: ["--config", join(dir, "tandem.yaml")] });
    try {
      const expected = [...Array(BUDGET).fill(200), ...Array(BURST - BUDGET).fill(429)];
      assert.deepEqual(await statuses(haproxy.url), expected, "HAProxy");
      const answered = await statuses(tandem.url);
      assert.deepEqual([...answered].sort(), expected, `tandem: ${answered.join(" ")}`);
      assert.equal(answered[0], 200);
    } finally {
      await tandem.stop();
    }
  } finally {
    await haproxy.stop();
    await member.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
