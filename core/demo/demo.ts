/**
 * The embedded demo: what `tandem serve` runs when there is no config.
 *
 * @module
 */
import { mintToken } from "../admin/auth.ts";
import { formatProblem, validateConfig } from "../config/load.ts";
import type { Platform } from "../platform.ts";
import { serve } from "../serve.ts";
import { defaultListenerConfig, type Listener, listenHttp1 } from "../frontend/http1-listener.ts";
import { webHandler } from "../http/web.ts";
import { createSessionApp } from "./session-app.ts";

export interface DemoOptions {
  /** The balancer's port (default 8080). */
  port?: number;
  /** The admin plane's port (default 8404). */
  adminPort?: number;
}

/** Two session apps on free loopback ports and the balancer on 127.0.0.1:8080 (or `port`) in front of them. */
export async function serveDemo(platform: Platform, options: DemoOptions = {}): Promise<void> {
  const balancer = `127.0.0.1:${options.port ?? 8080}`;
  const admin = `127.0.0.1:${options.adminPort ?? 8404}`;
  const backends: Listener[] = [];
  for (const name of ["demo1", "demo2"]) {
    const app = createSessionApp(`backend-${name}`, name);
    backends.push(await listenHttp1(platform, "127.0.0.1", 0, webHandler((request) => app(request)), { config: defaultListenerConfig("127.0.0.1:0") }));
  }
  const secret = Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) => byte.toString(16).padStart(2, "0")).join("");
  const token = await mintToken({ secret, audience: "tandem-admin", subject: "demo", scope: "admin", ttlSeconds: 12 * 3600 });
  const result = validateConfig({
    listeners: [{ address: balancer }],
    pools: {
      demo: {
        sticky: { mode: "route" },
        members: backends.map((backend, index) => ({
          name: `demo${index + 1}`,
          url: `http://127.0.0.1:${backend.port}`,
        })),
      },
    },
    drainTimeout: "5s",
    // Auth on even here: the demo shows how it is meant to run.
    admin: { address: admin, auth: { secret } },
  });
  if (!result.ok) throw new Error(`demo config invalid: ${result.problems.map(formatProblem).join("; ")}`);
  await serve(platform, result.config, { extraListeners: backends });
  platform.stderr(`
tandem demo (${platform.runtime}): balancer http://${balancer}/ in front of
  demo1 http://127.0.0.1:${backends[0].port}/  and  demo2 http://127.0.0.1:${backends[1].port}/
sticky by jvmRoute: the session cookie JSESSIONID=<id>.<route> keeps a client on its backend.
Try it (the same backend and a growing count each time; a new cookie jar may land elsewhere):
  curl -s -c /tmp/jar -b /tmp/jar -H 'Accept: application/json' http://${balancer}/
  for i in 1 2 3; do curl -s -c /tmp/jar -b /tmp/jar -H 'Accept: application/json' http://${balancer}/; done
Dashboard and admin API on http://${admin}/ (sign in with this admin token, valid 12 h):
  export TANDEM_TOKEN=${token}
  tandem ctl status --admin ${admin}
  curl -s -H "Authorization: Bearer $TANDEM_TOKEN" http://${admin}/api/v1/status
Stop with Ctrl-C. Run with --config FILE (or put a tandem.yaml here) for your own farm.
`);
}
