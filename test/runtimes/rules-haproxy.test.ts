/**
 * HAProxy's rules and the traffic rules `tandem import` makes of them answer alike: the same
 * haproxy.cfg (acl, http-request deny / tarpit / redirect / return / set-header / del-header,
 * http-response set-header, use_backend on negated and url_param conditions) runs in the real
 * HAProxy and, imported, in tandem (on the runtime of the test), in front of the same two
 * members; every request goes to both and their answers are compared. Only 127.0.0.1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Backend, startBackend } from "../support/backends.ts";
import { haproxyBinary, haproxySkipReason } from "../support/haproxy.ts";
import { freePort } from "../support/ports.ts";
import { startWithConfig } from "../support/reference-process.ts";
import { runtime, runTandem, startTandem } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const LIMIT = { timeout: 90_000 };

function haproxyCfg(port: number, app: Backend, api: Backend): string {
  return `defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  timeout tarpit 300ms
frontend www
  bind 127.0.0.1:${port}
  acl local src 127.0.0.1
  acl api path_beg /api
  acl scanner hdr_sub(user-agent) -i sqlmap
  http-request deny deny_status 403 if { path_beg /admin } local
  http-request deny deny_status 405 if METH_POST { path_beg /readonly }
  http-request tarpit if scanner
  http-request redirect location https://shop.example.com/new code 301 if { path_reg ^/old/[0-9]+$ }
  http-request redirect prefix https://www.example.com code 302 if { hdr(host) -i example.com }
  http-request return status 200 content-type text/plain string pong if { path /ping }
  http-request set-header X-Env prod
  http-request del-header X-Debug
  http-response set-header X-Frame-Options DENY
  use_backend api if api !{ hdr(x-test) beta }
  use_backend api if { url_param(v) 2 }
  default_backend app
backend app
  server app1 127.0.0.1:${app.port}
backend api
  server api1 127.0.0.1:${api.port}
`;
}

interface Answer {
  status: number;
  location: string | undefined;
  /** On a member's answer (see README: http-response is imported as tandem's responseHeaders, which edit tandem's own answers too). */
  frameOptions: string | undefined;
  /** The echo member that served, and what it saw of X-Env and X-Debug; or the body tandem or HAProxy gave. */
  served: string;
}

function ask(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: { connection: "close", ...options.headers }, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => {
        let served = response.statusCode === 200 ? body : "";
        if (response.headers["content-type"] === "application/json") {
          const echoed = JSON.parse(body) as { backend: string; headers: Record<string, string> };
          served = `${echoed.backend} x-env=${echoed.headers["x-env"]} x-debug=${echoed.headers["x-debug"]}`;
        }
        // HAProxy's http-response rules edit members' answers only; tandem's (as http-after-response) its own too.
        const fromMember = response.headers["content-type"] === "application/json";
        resolve({ status: response.statusCode!, location: response.headers.location, frameOptions: fromMember ? response.headers["x-frame-options"] as string : undefined, served });
      });
    });
    outgoing.setTimeout(20_000, () => outgoing.destroy(new Error(`no answer to ${path} within 20 s`)));
    outgoing.on("error", reject);
    outgoing.end();
  });
}

const REQUESTS: [string, { method?: string; headers?: Record<string, string> }][] = [
  ["/admin/users", {}],
  ["/readonly/x", { method: "POST" }],
  ["/readonly/x", {}],
  ["/search", { headers: { "user-agent": "sqlmap/1.7" } }],
  ["/old/12", {}],
  ["/old/12x", {}],
  ["/page?a=1", { headers: { host: "example.com" } }],
  ["/ping", {}],
  ["/api/orders", { headers: { "x-debug": "1" } }],
  ["/api/orders", { headers: { "x-test": "beta" } }],
  ["/shop?v=2", {}],
  ["/shop?v=3", { headers: { "x-env": "dev" } }],
];

describe(`HAProxy rules, imported, on ${runtime}`, () => {
  const skip = requireTool("rules-haproxy.test.ts", haproxySkipReason());

  test("answer every request as HAProxy does", { ...LIMIT, skip }, async () => {
    const cleanups: (() => Promise<unknown> | void)[] = [];
    try {
      const [app, api] = await Promise.all([startBackend("app"), startBackend("api")]);
      cleanups.push(() => app.close(), () => api.close());
      const haproxy = await startWithConfig((path) => [haproxyBinary()!, "-db", "-f", path], (port) => haproxyCfg(port, app, api));
      cleanups.push(() => haproxy.stop());

      const dir = mkdtempSync(join(tmpdir(), "tandem-rules-import-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const tandemPort = await freePort();
      writeFileSync(join(dir, "haproxy.cfg"), haproxyCfg(tandemPort, app, api));
      const imported = await runTandem(["import", join(dir, "haproxy.cfg"), "--out", join(dir, "tandem.yaml"), "--report", join(dir, "report.txt")]);
      assert.equal(imported.code, 0, imported.stderr);
      const report = readFileSync(join(dir, "report.txt"), "utf8");
      assert.doesNotMatch(report, /not carried: (?:http-request|http-response|use_backend|acl)/, report);
      const tandem = await startTandem(undefined, { args: ["--config", join(dir, "tandem.yaml")] });
      cleanups.push(() => tandem.stop());

      for (const [path, options] of REQUESTS) {
        const [fromHaproxy, fromTandem] = await Promise.all([ask(haproxy.port, path, options), ask(tandemPort, path, options)]);
        assert.deepEqual(fromTandem, fromHaproxy, `${options.method ?? "GET"} ${path} ${JSON.stringify(options.headers ?? {})}`);
      }
      // The comparison is not vacuous: the rules did act, on both.
      const admin = await ask(tandemPort, "/admin/users");
      assert.equal(admin.status, 403);
      assert.equal((await ask(tandemPort, "/api/orders")).served, "api x-env=prod x-debug=undefined");
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
    }
  });
});
