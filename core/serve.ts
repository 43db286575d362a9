/**
 * `tandem serve`: listeners, the balancer, the admin plane, hot reload and graceful shutdown,
 * on any {@link Platform}.
 *
 * @module
 */
import { createAdminApp } from "./admin/app.ts";
import { createVerifier, type Verifier } from "./admin/auth.ts";
import { createAdminControl } from "./admin/control.ts";
import { dashboardHtml } from "./admin/dashboard.ts";
import type { ReloadResult } from "./admin/model.ts";
import { createBalancer } from "./balancer/balancer.ts";
import { createBalancerMetrics } from "./balancer/metrics.ts";
import { formatProblem, parseConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { Registry } from "./metrics/registry.ts";
import type { Listener, Platform } from "./platform.ts";
import type { ConnInfo } from "./ports.ts";
import { Http1Client } from "./proxy/http1-client.ts";

export interface ServeOptions {
  /** The file reloads re-read; without one (the demo) there is nothing to reload. */
  configPath?: string;
  /** Listeners to drain with the balancer's (the demo's backends). */
  extraListeners?: Listener[];
}

/**
 * Runs the balancer for `config` until SIGTERM/SIGINT, then drains and exits 0. SIGHUP (and, with
 * `watchConfig`, a change of the file) reloads: an invalid file is reported and changes nothing.
 */
export async function serve(platform: Platform, config: Config, options: ServeOptions = {}): Promise<void> {
  const startedAt = Date.now();
  const log = (record: Record<string, unknown>) => platform.stdout(JSON.stringify(record));
  // Admin settings are read once: the admin listener and its keys do not change on reload.
  const verify = config.admin ? await _verifier(platform, config) : undefined;
  const client = new Http1Client({ connect: platform.connect, clock: platform.clock });
  const probeClient = new Http1Client({ connect: platform.connect, clock: platform.clock });
  const registry = new Registry();
  const metrics = createBalancerMetrics(registry, () => balancer.pools);
  const balancer = createBalancer(config, {
    clock: platform.clock,
    upstream: (origin, request, timeouts) => client.request(origin, request, timeouts),
    log,
    webSocket: platform.webSocket,
    probeClient,
    metrics,
  });
  const listeners = new Map<string, Listener>();
  let admin: Listener | undefined;
  const handler = async (request: Request, conn: ConnInfo) => {
    try {
      return await balancer.fetch(request, conn);
    } catch (error) {
      // A bug must cost one request, never the process.
      logEvent(platform, "error", { message: String((error as Error)?.stack ?? error) });
      return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
    }
  };
  /**
   * Opens listeners the config has and the process lacks, closes the others. A listener already
   * bound to the same host and port is kept under its new spelling (":0" that became the port it
   * got, "0.0.0.0:80" written ":80"): rebinding would refuse connections in between.
   */
  const syncListeners = async (wanted: Config["listeners"]): Promise<string[]> => {
    const problems: string[] = [];
    const addresses = new Set(wanted.map((listener) => listener.address));
    for (const address of addresses) {
      if (listeners.has(address)) continue;
      const { hostname, port } = splitAddress(address);
      for (const [oldAddress, listener] of listeners) {
        if (!addresses.has(oldAddress) && listener.hostname === hostname && listener.port === port) {
          listeners.delete(oldAddress);
          listeners.set(address, listener);
          break;
        }
      }
    }
    for (const [address, listener] of listeners) {
      if (addresses.has(address)) continue;
      listeners.delete(address);
      void listener.shutdown();
      logEvent(platform, "listener-closed", { address });
    }
    for (const address of addresses) {
      if (listeners.has(address)) continue;
      const { hostname, port } = splitAddress(address);
      try {
        const listener = await platform.serve(hostname, port, handler);
        listeners.set(address, listener);
        logEvent(platform, "listening", { address: `${listener.hostname}:${listener.port}`, runtime: platform.runtime });
      } catch (error) {
        problems.push(`listeners: cannot listen on ${address}: ${(error as Error).message}`);
      }
    }
    return problems;
  };

  let reloads = 0;
  const reload = async (trigger: string): Promise<ReloadResult> => {
    const result = await _reload(trigger);
    metrics.reload(result.ok ? "ok" : "invalid");
    return result;
  };
  const _reload = async (trigger: string): Promise<ReloadResult> => {
    const path = options.configPath;
    if (path === undefined) return { ok: false, problems: ["no config file to reload (the embedded demo)"] };
    let text: string;
    try {
      text = await platform.readTextFile(path);
    } catch (error) {
      return _reloadFailed(platform, trigger, [`${path}: cannot read: ${(error as Error).message}`]);
    }
    const result = parseConfig(text);
    if (!result.ok) return _reloadFailed(platform, trigger, result.problems.map(formatProblem));
    balancer.reload(result.config);
    const problems = await syncListeners(result.config.listeners);
    if (problems.length > 0) return _reloadFailed(platform, trigger, problems);
    reloads++;
    const summary = summarize(result.config);
    logEvent(platform, "reloaded", { trigger, reloads, summary });
    return { ok: true, summary };
  };
  // Signals first: a SIGTERM right after the listening line must drain, not kill.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logEvent(platform, "shutdown-forced", { signal });
      platform.exit(1);
    }
    stopping = true;
    const { drainTimeout } = balancer.config;
    logEvent(platform, "shutdown", { signal, inFlight: balancer.inFlight, drainTimeout });
    let timedOut = false;
    await Promise.race([
      Promise.all([...listeners.values(), ...(options.extraListeners ?? [])].map((listener) => listener.shutdown())),
      new Promise<void>((resolve) => platform.clock.setTimer(() => {
        timedOut = true;
        resolve();
      }, drainTimeout)),
    ]);
    balancer.close();
    void admin?.shutdown();
    client.close();
    probeClient.close();
    logEvent(platform, "stopped", { drained: !timedOut });
    platform.exit(0);
  };
  platform.onSignal("SIGTERM", () => void stop("SIGTERM"));
  platform.onSignal("SIGINT", () => void stop("SIGINT"));
  platform.onSignal("SIGHUP", () => void reload("SIGHUP"));
  if (config.watchConfig && options.configPath) {
    // Editors write a file in several steps; wait for the burst to settle before reading it.
    let cancel: (() => void) | undefined;
    platform.watchFile(options.configPath, () => {
      cancel?.();
      cancel = platform.clock.setTimer(() => void reload("file change"), 200);
    });
  }
  const problems = await syncListeners(config.listeners);
  if (problems.length > 0) {
    for (const problem of problems) platform.stderr(problem);
    platform.exit(1);
  }
  if (config.admin) {
    const app = createAdminApp({
      control: createAdminControl({ balancer, registry, runtime: platform.runtime, startedAt, reloads: () => reloads, reload, log }),
      verify,
      publicMetrics: config.admin.publicMetrics,
      dashboardHtml,
      log,
    });
    const { hostname, port } = splitAddress(config.admin.address);
    try {
      admin = await platform.serve(hostname, port, (request, conn) => app.fetch(request, { remoteAddress: conn.remoteAddress }));
    } catch (error) {
      platform.stderr(`admin.address: cannot listen on ${config.admin.address}: ${(error as Error).message}`);
      platform.exit(1);
    }
    logEvent(platform, "admin-listening", { address: `${admin.hostname}:${admin.port}`, auth: verify !== undefined });
  }
}

/**
 * The admin API's token check from the config (or TANDEM_ADMIN_SECRET). Without any key the API
 * is open, which is only allowed on loopback: anything else exits with the reason.
 */
async function _verifier(platform: Platform, config: Config): Promise<Verifier | undefined> {
  const { address, auth } = config.admin!;
  const secret = platform.env("TANDEM_ADMIN_SECRET") ?? auth.secret;
  let jwks: { keys: Record<string, unknown>[] } | undefined;
  if (auth.jwksFile !== undefined) {
    try {
      jwks = JSON.parse(await platform.readTextFile(auth.jwksFile));
    } catch (error) {
      platform.stderr(`admin.auth.jwksFile: cannot read ${auth.jwksFile}: ${(error as Error).message}`);
      return platform.exit(1);
    }
  }
  if (secret === undefined && jwks === undefined) {
    const { hostname } = splitAddress(address);
    if (!["127.0.0.1", "::1", "localhost"].includes(hostname)) {
      platform.stderr(`admin.address: ${address} is not loopback and no auth is configured (admin.auth.secret, admin.auth.jwksFile or TANDEM_ADMIN_SECRET)`);
      return platform.exit(1);
    }
    return undefined;
  }
  try {
    return createVerifier({ secret, jwks: jwks as never, audience: auth.audience });
  } catch (error) {
    platform.stderr(`admin.auth: ${(error as Error).message}`);
    return platform.exit(1);
  }
}

function _reloadFailed(platform: Platform, trigger: string, problems: string[]): ReloadResult {
  logEvent(platform, "reload-failed", { trigger, problems });
  return { ok: false, problems };
}

export function summarize(config: Config): string {
  const members = Object.values(config.pools).reduce((sum, pool) => sum + pool.members.length, 0);
  return `${config.listeners.length} listener(s), ${Object.keys(config.pools).length} pool(s), ${members} member(s), ${config.routes.length} route(s)`;
}

export function logEvent(platform: Platform, event: string, fields: Record<string, unknown> = {}): void {
  platform.stdout(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
}

/** Splits "host:port", "[v6]:port" or ":port" (all interfaces). */
export function splitAddress(address: string): { hostname: string; port: number } {
  const colon = address.lastIndexOf(":");
  let hostname = address.slice(0, colon);
  if (hostname.startsWith("[")) hostname = hostname.slice(1, -1);
  return { hostname: hostname || "0.0.0.0", port: Number(address.slice(colon + 1)) };
}
