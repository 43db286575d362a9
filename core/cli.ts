/**
 * The tandem program, shared by every runtime: `serve` (default), `check` and `schema`.
 *
 * ```sh
 * bun run runtimes/bun/main.ts serve --config tandem.yaml
 * deno task serve --config tandem.yaml
 * bun run runtimes/bun/main.ts check --config tandem.yaml
 * ```
 * @module
 */
import { createBalancer } from "./balancer/balancer.ts";
import { configJsonSchema } from "./config/json-schema.ts";
import { formatProblem, parseConfig, validateConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { createSessionApp } from "./demo/session-app.ts";
import type { ReloadResult } from "./admin/model.ts";
import type { Listener, Platform } from "./platform.ts";
import type { ConnInfo } from "./ports.ts";
import { Http1Client } from "./proxy/http1-client.ts";

const USAGE = `usage: tandem [serve] [--config FILE]   run the balancer (the embedded demo when there is no config)
       tandem check --config FILE        validate a config file
       tandem schema                     print the config's JSON Schema`;

const DEFAULT_CONFIG = "tandem.yaml";

export async function runCli(platform: Platform): Promise<void> {
  const { command, configPath, error } = _parseArgs(platform.args);
  if (error) {
    platform.stderr(`${error}\n${USAGE}`);
    platform.exit(2);
  }
  switch (command) {
    case "help":
      platform.stdout(USAGE);
      return platform.exit(0);
    case "schema":
      platform.stdout(JSON.stringify(configJsonSchema(), null, 2));
      return platform.exit(0);
    case "check": {
      const path = configPath ?? DEFAULT_CONFIG;
      platform.stdout(`${path}: OK (${_summary(await _loadConfig(platform, path))})`);
      return platform.exit(0);
    }
    case "serve": {
      const path = configPath ?? ((await platform.exists(DEFAULT_CONFIG)) ? DEFAULT_CONFIG : undefined);
      if (path === undefined) return await _serveDemo(platform);
      await serve(platform, await _loadConfig(platform, path), { configPath: path });
    }
  }
}

function _parseArgs(args: readonly string[]): { command: string; configPath?: string; error?: string } {
  let command: string | undefined;
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--config" || arg === "-c") {
      configPath = args[++i];
      if (configPath === undefined) return { command: "help", error: "--config needs a file" };
    } else if (arg.startsWith("--config=")) {
      configPath = arg.slice("--config=".length);
    } else if (arg === "--help" || arg === "-h") {
      command = "help";
    } else if (!arg.startsWith("-") && command === undefined && ["serve", "check", "schema", "help"].includes(arg)) {
      command = arg;
    } else {
      return { command: "help", error: `unknown argument: ${arg}` };
    }
  }
  return { command: command ?? "serve", configPath };
}

async function _loadConfig(platform: Platform, path: string): Promise<Config> {
  let text: string;
  try {
    text = await platform.readTextFile(path);
  } catch (error) {
    platform.stderr(`${path}: cannot read: ${(error as Error).message}`);
    return platform.exit(1);
  }
  const result = parseConfig(text);
  if (!result.ok) {
    platform.stderr(`${path}: ${result.problems.length} problem(s):`);
    for (const problem of result.problems) platform.stderr(`  ${formatProblem(problem)}`);
    return platform.exit(1);
  }
  return result.config;
}

function _event(platform: Platform, event: string, fields: Record<string, unknown> = {}): void {
  platform.stdout(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
}

/** Splits "host:port", "[v6]:port" or ":port" (all interfaces). */
export function splitAddress(address: string): { hostname: string; port: number } {
  const colon = address.lastIndexOf(":");
  let hostname = address.slice(0, colon);
  if (hostname.startsWith("[")) hostname = hostname.slice(1, -1);
  return { hostname: hostname || "0.0.0.0", port: Number(address.slice(colon + 1)) };
}

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
  const client = new Http1Client({ connect: platform.connect, clock: platform.clock });
  const probeClient = new Http1Client({ connect: platform.connect, clock: platform.clock });
  const balancer = createBalancer(config, {
    clock: platform.clock,
    upstream: (origin, request, timeouts) => client.request(origin, request, timeouts),
    log: (record) => platform.stdout(JSON.stringify(record)),
    webSocket: platform.webSocket,
    probeClient,
  });
  const listeners = new Map<string, Listener>();
  const handler = async (request: Request, conn: ConnInfo) => {
    try {
      return await balancer.fetch(request, conn);
    } catch (error) {
      // A bug must cost one request, never the process.
      _event(platform, "error", { message: String((error as Error)?.stack ?? error) });
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
      _event(platform, "listener-closed", { address });
    }
    for (const address of addresses) {
      if (listeners.has(address)) continue;
      const { hostname, port } = splitAddress(address);
      try {
        const listener = await platform.serve(hostname, port, handler);
        listeners.set(address, listener);
        _event(platform, "listening", { address: `${listener.hostname}:${listener.port}`, runtime: platform.runtime });
      } catch (error) {
        problems.push(`listeners: cannot listen on ${address}: ${(error as Error).message}`);
      }
    }
    return problems;
  };

  let reloads = 0;
  const reload = async (trigger: string): Promise<ReloadResult> => {
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
    const summary = _summary(result.config);
    _event(platform, "reloaded", { trigger, reloads, summary });
    return { ok: true, summary };
  };
  // Signals first: a SIGTERM right after the listening line must drain, not kill.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      _event(platform, "shutdown-forced", { signal });
      platform.exit(1);
    }
    stopping = true;
    const { drainTimeout } = balancer.config;
    _event(platform, "shutdown", { signal, inFlight: balancer.inFlight, drainTimeout });
    let timedOut = false;
    await Promise.race([
      Promise.all([...listeners.values(), ...(options.extraListeners ?? [])].map((listener) => listener.shutdown())),
      new Promise<void>((resolve) => platform.clock.setTimer(() => {
        timedOut = true;
        resolve();
      }, drainTimeout)),
    ]);
    balancer.close();
    client.close();
    probeClient.close();
    _event(platform, "stopped", { drained: !timedOut });
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
}

function _reloadFailed(platform: Platform, trigger: string, problems: string[]): ReloadResult {
  _event(platform, "reload-failed", { trigger, problems });
  return { ok: false, problems };
}

function _summary(config: Config): string {
  const members = Object.values(config.pools).reduce((sum, pool) => sum + pool.members.length, 0);
  return `${config.listeners.length} listener(s), ${Object.keys(config.pools).length} pool(s), ${members} member(s), ${config.routes.length} route(s)`;
}

/** Two session apps on free loopback ports and the balancer on 127.0.0.1:8080 in front of them. */
async function _serveDemo(platform: Platform): Promise<void> {
  const backends: Listener[] = [];
  for (const name of ["demo1", "demo2"]) {
    const app = createSessionApp(`backend-${name}`, name);
    backends.push(await platform.serve("127.0.0.1", 0, (request) => app(request)));
  }
  const result = validateConfig({
    listeners: [{ address: "127.0.0.1:8080" }],
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
  });
  if (!result.ok) throw new Error(`demo config invalid: ${result.problems.map(formatProblem).join("; ")}`);
  await serve(platform, result.config, { extraListeners: backends });
  platform.stderr(`
tandem demo (${platform.runtime}): balancer http://127.0.0.1:8080/ in front of
  demo1 http://127.0.0.1:${backends[0].port}/  and  demo2 http://127.0.0.1:${backends[1].port}/
sticky by jvmRoute: the session cookie JSESSIONID=<id>.<route> keeps a client on its backend.
Try it (the same backend and a growing count each time; a new cookie jar may land elsewhere):
  curl -s -c /tmp/jar -b /tmp/jar -H 'Accept: application/json' http://127.0.0.1:8080/
  for i in 1 2 3; do curl -s -c /tmp/jar -b /tmp/jar -H 'Accept: application/json' http://127.0.0.1:8080/; done
Stop with Ctrl-C. Run with --config FILE (or put a tandem.yaml here) for your own farm.
`);
}
