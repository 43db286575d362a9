import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../../core/config/load.ts";
import { Draft } from "../../../core/import/draft.ts";
import { importHaproxy } from "../../../core/import/haproxy.ts";
import { ImportReport } from "../../../core/import/report.ts";

async function run(text: string): Promise<{ draft: Draft; report: ImportReport }> {
  const draft = new Draft();
  const report = new ImportReport();
  await importHaproxy([{ path: "haproxy.cfg", text }], { draft, report, readInclude: () => Promise.resolve([]) });
  return { draft, report };
}

/** The report entry of each directive line, by line number. */
function byLine(report: ImportReport): Map<number, string> {
  return new Map(report.entries.map((entry) => [entry.origin.line, `${entry.disposition}: ${entry.detail}`]));
}

const CONFIG = `resolvers dns
  nameserver ns1 10.0.0.2:53
  nameserver ns2 [fd00::2]:5353
  hold valid 10s
  hold nx 30s
  hold obsolete 45s
  hold timeout 20s
  timeout resolve 2s
  timeout retry 1s
  resolve_retries 3
  accepted_payload_size 8192

resolvers unused
  nameserver ns 10.9.9.9:53

frontend web
  mode http
  bind :80
  default_backend app

backend app
  mode http
  option httpchk GET /health
  server-template web 10 app.internal:8080 check inter 3s resolvers dns resolve-prefer ipv4 init-addr none
  server-template more 5 other.internal:8080 resolvers dns

backend api
  mode http
  server-template api 1-4 _http._tcp.api.service.consul resolvers dns agent-check
  server static1 10.0.1.1:8080

backend once
  mode http
  server-template once 3 app.internal:8080
`;

test("server-template with resolvers becomes a pool's discover block; A with port, SRV by its leading underscore; every line accounted for", async () => {
  const { draft, report } = await run(CONFIG);
  const config = draft.config as { pools: Record<string, Record<string, unknown>> };
  const resolved = { nameservers: ["10.0.0.2:53", "[fd00::2]:5353"], hold: { valid: "10s", nx: "30s" }, removeAfter: "45s", interval: "2s", timeout: "1s" };
  assert.deepEqual(config.pools.app.members, []);
  assert.deepEqual(config.pools.app.discover, { servers: 10, name: "app.internal", port: 8080, type: "a", ...resolved });
  assert.deepEqual((config.pools.app.health as { check: Record<string, unknown> }).check.path, "/health");
  assert.deepEqual(config.pools.api.discover, { servers: 4, name: "_http._tcp.api.service.consul", type: "srv", ...resolved });
  assert.equal((config.pools.api.members as unknown[]).length, 1);
  assert.equal(config.pools.once, undefined, "a template without resolvers is resolved once by HAProxy: not a discover block");
  const validated = validateConfig(draft.config);
  assert.ok(validated.ok, JSON.stringify(!validated.ok && validated.problems));

  const lines = byLine(report);
  const directives = CONFIG.split("\n").flatMap((line, index) => (line.trim() === "" ? [] : [index + 1]));
  assert.deepEqual([...lines.keys()].sort((a, b) => a - b), directives, report.format());
  assert.match(lines.get(1)!, /^carried: discover \(resolvers dns\)/);
  assert.match(lines.get(2)!, /^carried: discover\.nameservers/);
  assert.match(lines.get(6)!, /^carried: discover\.removeAfter/);
  assert.match(lines.get(7)!, /^approximated: tandem holds the last good answer for hold\.valid/);
  assert.match(lines.get(13)!, /^not carried: no server-template of a carried backend uses this resolvers section/);
  assert.match(lines.get(24)!, /^carried: pools\.app\.discover .*, pools\.app\.health\.check/);
  assert.match(lines.get(25)!, /^not carried: tandem takes one discover block per pool: the template of line 24 is carried/);
  assert.match(lines.get(29)!, /^approximated: pools\.api\.discover .*not carried: agent-check/);
  assert.match(lines.get(34)!, /^not carried: server-template without resolvers/);
});
