/**
 * The benchmark's web front-end rows (proxy ids bun-web and deno-web): tandem's balancer behind
 * the runtime's own HTTP server, Bun.serve or Deno.serve handing each `Request` to
 * `balancer.fetch` (the web front end, core/http/web.ts). It is what the edge build uses, not a way
 * of running tandem that operators get: `tandem serve` answers HTTP/1.1 listeners on its own
 * socket-level front end (core/frontend/), and h2/h3 listeners through core/frontend/web-listener.ts
 * (measured by scenario 8).
 *
 * Everything behind the front end is as in the tandem rows: the same config file, read and
 * checked by core's loader, the same balancer with the runtime's connect adapter under an
 * Http1Client for the members and a second one for the active health checks, the same log
 * records (access lines only when the config asks for them, which the bench's does not), and the
 * balancer's metrics. Only the first listener is served, plain HTTP, on one thread; no admin
 * plane, no reload, no cluster roles, no WebSocket (no `upgrade` port).
 *
 *   bun run test/bench/web-front-end.ts --config /tmp/tandem-bench-…/bun-web.json
 *   deno run -A test/bench/web-front-end.ts --config /tmp/tandem-bench-…/deno-web.json
 */
import { readFileSync } from "node:fs";
import { createBalancer } from "../../core/balancer/balancer.ts";
import { createBalancerMetrics } from "../../core/balancer/metrics.ts";
import { systemClock } from "../../core/clock.ts";
import { splitAddress } from "../../core/config/fields.ts";
import { formatProblem, parseConfig } from "../../core/config/load.ts";
import { lineSink } from "../../core/log.ts";
import { Registry } from "../../core/metrics/registry.ts";
import type { Connect, ConnInfo } from "../../core/ports.ts";
import { Http1Client } from "../../core/proxy/http1-client.ts";

// biome-ignore lint/suspicious/noExplicitAny: Deno's types are not loaded when Bun's are
const Deno = (globalThis as { Deno?: any }).Deno;
const runtime = typeof Bun !== "undefined" ? "bun" : Deno !== undefined ? "deno" : undefined;
if (runtime === undefined) throw new Error("web-front-end.ts runs on Bun or Deno");
const args: string[] = runtime === "bun" ? Bun.argv.slice(2) : Deno.args;

function fail(message: string): never {
  console.error(`web-front-end: ${message}`);
  if (runtime === "bun") process.exit(2);
  Deno.exit(2);
  throw new Error(message);
}

// `--config FILE` or `--config=FILE`, as `tandem serve` takes it.
const at = args.findIndex((arg) => arg === "--config" || arg.startsWith("--config="));
const path = at < 0 ? undefined : args[at].includes("=") ? args[at].slice("--config=".length) : args[at + 1];
if (!path) fail("usage: web-front-end.ts --config FILE");

let text: string;
try {
  text = readFileSync(path, "utf8");
} catch (error) {
  fail(`${path}: cannot read: ${(error as Error).message}`);
}
const result = parseConfig(text);
if (!result.ok) fail(`${path}: ${result.problems.length} problem(s):\n${result.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`);
const { config } = result;
const listener = config.listeners[0];
if (listener.tls) fail(`${path}: listeners[0] has tls; this entry serves plain HTTP only`);
if (config.workers > 1) fail(`${path}: workers: ${config.workers}; this entry runs one balancer on one thread`);

// The runtime's connect adapter, as its platform hands it to `serve()`.
const { connect }: { connect: Connect } = await import(`../../runtimes/${runtime}/connect.ts`);

// As core/log.ts's process sink: one JSON line per record on stdout. Access records (they carry no
// `event`) are dropped: the balancer emits them only with `accessLog: true`, which the bench's
// config does not set, and even then they would only measure the terminal.
const lines = lineSink(systemClock, (line) => console.log(line));
const log = (record: Record<string, unknown>) => {
  if (record.event !== undefined) lines(record);
};

const client = new Http1Client({ connect, clock: systemClock });
const probeClient = new Http1Client({ connect, clock: systemClock });
const balancer = createBalancer(config, {
  clock: systemClock,
  upstream: (origin, request, timeouts) => client.request(origin, request, timeouts),
  log,
  probeClient,
  metrics: createBalancerMetrics(new Registry(), () => balancer.pools),
});

/** As serve.ts: a bug costs one request, never the process. No `upgrade` port, so never undefined. */
async function answer(request: Request, conn: ConnInfo): Promise<Response> {
  try {
    return (await balancer.fetch(request, conn)) ?? new Response("500 internal error\n", { status: 500 });
  } catch (error) {
    log({ event: "error", message: String((error as Error)?.stack ?? error) });
    return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
  }
}

const { hostname, port } = splitAddress(listener.address);
if (runtime === "bun") {
  Bun.serve({
    hostname,
    port,
    // Bodies stream through; Bun's 128 MiB default would cut large uploads (tandem has no limit).
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Bun's longest (default 10 s); tandem's own front end closes idle keep-alive connections after `timeouts.keepAlive`.
    idleTimeout: 255,
    fetch: (request, server) => answer(request, { remoteAddress: server.requestIP(request)?.address ?? "", tls: false }),
  });
} else {
  Deno.serve(
    {
      hostname,
      port,
      onListen() {},
      onError(error: unknown) {
        log({ event: "error", message: String((error as Error)?.stack ?? error) });
        return new Response("500 internal error\n", { status: 500 });
      },
    },
    (request: Request, info: { remoteAddr: { hostname: string } }) => answer(request, { remoteAddress: info.remoteAddr.hostname, tls: false }),
  );
}
log({ event: "started", runtime: `${runtime} (web front end)`, listener: listener.address, pools: Object.keys(config.pools) });
