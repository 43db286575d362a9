/**
 * tandem as an edge worker: a module whose default export is `{ fetch }`, the shape both
 * Cloudflare Workers (workerd) and `deno serve` / Deno Deploy call. The balancer is the same core
 * as on servers; the platform's `fetch` is the upstream, and health checks run lazily when traffic
 * arrives (inside `ctx.waitUntil` where the platform has it), since a worker may not keep timers.
 *
 * The config is, in this order: the one the build bundled, the `TANDEM_CONFIG` binding (Workers:
 * a text or JSON binding), or the `TANDEM_CONFIG` environment variable (Deno). It is validated on
 * the first request with the same messages as `tandem check`; an invalid or missing one answers
 * every request with 503 and the problems, and logs them once.
 *
 * ```sh
 * # --allow-env: the yaml package (unbundled, Node build) also reads LOG_TOKENS and LOG_STREAM
 * TANDEM_CONFIG="$(cat tandem.yaml)" deno serve --allow-net --allow-env runtimes/edge/worker.ts
 * ```
 * @module
 */
import { createBalancer } from "../../core/balancer/balancer.ts";
import { systemClock } from "../../core/clock.ts";
import { edgeWarnings, formatEdgeWarning } from "../../core/config/edge-warnings.ts";
import { type ConfigResult, formatProblem, parseConfig, validateConfig } from "../../core/config/load.ts";
import { lineSink } from "../../core/log.ts";
import type { ConnInfo, LogSink } from "../../core/ports.ts";
import { fetchUpstream } from "./fetch-upstream.ts";

/** The binding and environment variable the config is read from. */
export const CONFIG_VARIABLE = "TANDEM_CONFIG";

/** What Workers pass as the third argument. */
export interface ExecutionContext {
  waitUntil(task: Promise<unknown>): void;
}

export interface EdgeWorker {
  /** Workers call it as (request, env, ctx); `deno serve` as (request, info). */
  fetch(request: Request, envOrInfo?: unknown, ctx?: ExecutionContext): Promise<Response>;
}

export interface EdgeWorkerOptions {
  /** A config value bundled by the build (parsed YAML/JSON, not yet validated). */
  config?: unknown;
  log?: LogSink;
}

type Handler = (request: Request, conn: ConnInfo) => Promise<Response>;

export function createEdgeWorker(options: EdgeWorkerOptions = {}): EdgeWorker {
  const log = options.log ?? lineSink(systemClock, (line) => console.log(line));
  // Built on the first request: Workers expose bindings only then, and forbid I/O and timers
  // at start-up. The isolate keeps it for the requests that follow.
  let handler: Handler | undefined;
  return {
    async fetch(request, envOrInfo, ctx) {
      handler ??= _createHandler(_loadConfig(options.config, envOrInfo), log);
      const conn: ConnInfo = {
        remoteAddress: _remoteAddress(request, envOrInfo),
        tls: new URL(request.url).protocol === "https:",
        waitUntil: ctx?.waitUntil ? (task) => ctx.waitUntil(task) : undefined,
      };
      return await handler(request, conn);
    },
  };
}

function _createHandler(result: ConfigResult | { ok: false; problems: string[] }, log: LogSink): Handler {
  const time = () => new Date().toISOString();
  if (!result.ok) {
    const problems = result.problems.map((problem) => (typeof problem === "string" ? problem : formatProblem(problem)));
    log({ time: time(), event: "config-invalid", problems });
    const body = `503 tandem: the config is invalid, ${problems.length} problem(s):\n${problems.map((p) => `  ${p}\n`).join("")}`;
    return () => Promise.resolve(new Response(body, { status: 503, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } }));
  }
  const { config } = result;
  const warnings = edgeWarnings(config).map(formatEdgeWarning);
  log({ time: time(), event: "started", runtime: "edge", pools: Object.keys(config.pools), ...(warnings.length > 0 ? { ignored: warnings } : {}) });
  const upstream = fetchUpstream((input, init) => fetch(input, init), systemClock);
  const balancer = createBalancer(config, {
    clock: systemClock,
    upstream,
    log,
    probeClient: { request: upstream },
    lazyHealth: true,
  });
  return async (request, conn) => {
    try {
      return (await balancer.fetch(request, conn))!;
    } catch (error) {
      // A bug must cost one request, never the isolate.
      log({ time: time(), event: "error", message: String((error as Error)?.stack ?? error) });
      return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
    }
  };
}

/** The bundled config, else the binding, else the environment variable; text is YAML or JSON. */
function _loadConfig(bundled: unknown, envOrInfo: unknown): ConfigResult | { ok: false; problems: string[] } {
  if (bundled !== undefined) return validateConfig(bundled);
  let value = (envOrInfo as Record<string, unknown> | undefined)?.[CONFIG_VARIABLE];
  try {
    value ??= _denoEnv(CONFIG_VARIABLE);
  } catch (error) {
    const hint = "deno serve --allow-env";
    return { ok: false, problems: [`${CONFIG_VARIABLE}: cannot read the environment variable (${hint}): ${(error as Error).message}`] };
  }
  if (value === undefined || value === "") {
    return { ok: false, problems: [`no config: bundle one (runtimes/edge/build.ts --config FILE) or set the ${CONFIG_VARIABLE} binding or environment variable`] };
  }
  return typeof value === "string" ? parseConfig(value) : validateConfig(value);
}

/** Deno's environment, without naming Deno where it does not exist (Workers). */
function _denoEnv(name: string): string | undefined {
  const deno = (globalThis as { Deno?: { env: { get(name: string): string | undefined } } }).Deno;
  return deno?.env.get(name);
}

/**
 * Deno passes the socket's address; Cloudflare puts the client's in CF-Connecting-IP. Plain
 * workerd has neither: "unknown", as RFC 7239 writes an address it cannot tell.
 */
function _remoteAddress(request: Request, envOrInfo: unknown): string {
  const remoteAddr = (envOrInfo as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr;
  return remoteAddr?.hostname ?? request.headers.get("cf-connecting-ip") ?? "unknown";
}

export default createEdgeWorker();
