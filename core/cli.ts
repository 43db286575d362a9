/**
 * The tandem program, shared by every runtime: `serve` (default), `check`, `schema` and `token`.
 *
 * ```sh
 * bun run runtimes/bun/main.ts serve --config tandem.yaml
 * deno task serve --config tandem.yaml
 * bun run runtimes/bun/main.ts check --config tandem.yaml
 * ```
 * @module
 */
import * as v from "valibot";
import { mintToken } from "./admin/auth.ts";
import { AdminAuthSchema } from "./admin/schema.ts";
import { configJsonSchema } from "./config/json-schema.ts";
import { parseDuration } from "./config/duration.ts";
import { edgeWarnings, formatEdgeWarning } from "./config/edge-warnings.ts";
import { formatProblem, parseConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { serveDemo } from "./demo/demo.ts";
import type { Platform } from "./platform.ts";
import { adminVerifier, serve, startFailed, summarize } from "./serve.ts";
import { loadConfigFiles } from "./config/files.ts";
import { superviseWorkers } from "./workers.ts";

const USAGE = `usage: tandem [serve] [--config FILE]   run the balancer (the embedded demo when there is no config)
       tandem check --config FILE        validate a config file
       tandem check --edge --config FILE also warn about settings an edge worker ignores
       tandem schema                     print the config's JSON Schema
       tandem token --scope read|admin [--ttl 15m] [--sub NAME] [--config FILE]
                                         mint an admin API token (secret from the config or TANDEM_ADMIN_SECRET)`;

const DEFAULT_CONFIG = "tandem.yaml";

export async function runCli(platform: Platform): Promise<void> {
  const { command, configPath, options, error } = _parseArgs(platform.args);
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
      const config = await _loadConfig(platform, path);
      if (options.edge !== undefined) {
        // Certificates and CA files are not used there; what is, is the config alone.
        for (const warning of edgeWarnings(config)) platform.stderr(`warning: ${formatEdgeWarning(warning)}`);
        platform.stdout(`${path}: OK for the edge (${summarize(config)})`);
        return platform.exit(0);
      }
      // What only the files, the runtime and the environment can tell: certificates, keys, CA
      // bundles, TLS versions, shared keys given as TANDEM_CLUSTER_KEY / TANDEM_VRRP_KEY.
      const loaded = await loadConfigFiles(config, path, platform);
      const admin = await adminVerifier(platform, config, path);
      const problems = [...(loaded.ok ? [] : loaded.problems), ...("problems" in admin ? admin.problems : [])];
      if (problems.length > 0) {
        platform.stderr(`${path}: ${problems.length} problem(s):`);
        for (const problem of problems) platform.stderr(`  ${problem}`);
        return platform.exit(1);
      }
      platform.stdout(`${path}: OK (${summarize(config)})`);
      return platform.exit(0);
    }
    case "token":
      return await _token(platform, configPath ?? DEFAULT_CONFIG, options);
    case "serve": {
      const path = configPath ?? ((await platform.exists(DEFAULT_CONFIG)) ? DEFAULT_CONFIG : undefined);
      if (path === undefined) return await serveDemo(platform);
      const config = await _loadConfig(platform, path);
      if (config.workers > 1 && platform.worker === undefined) {
        // Refused here, once, rather than by every worker in a restart loop.
        const loaded = await loadConfigFiles(config, path, platform);
        if (!loaded.ok) return startFailed(platform, loaded.problems);
        return await superviseWorkers(platform, config);
      }
      await serve(platform, config, { configPath: path });
    }
  }
}

const COMMANDS = ["serve", "check", "schema", "token", "help"];
/** Options that take a value, besides --config. */
const VALUE_OPTIONS = ["--scope", "--ttl", "--sub"];
/** Options without a value; present means on. */
const FLAG_OPTIONS = ["--edge"];

interface Args {
  command: string;
  configPath?: string;
  options: Record<string, string>;
  error?: string;
}

function _parseArgs(args: readonly string[]): Args {
  let command: string | undefined;
  let configPath: string | undefined;
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (name === "--config" || name === "-c" || VALUE_OPTIONS.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) return { command: "help", options, error: `${name} needs a value` };
      if (name === "--config" || name === "-c") configPath = value;
      else options[name.slice(2)] = value;
    } else if (FLAG_OPTIONS.includes(arg)) {
      options[arg.slice(2)] = "on";
    } else if (arg === "--help" || arg === "-h") {
      command = "help";
    } else if (!arg.startsWith("-") && command === undefined && COMMANDS.includes(arg)) {
      command = arg;
    } else {
      return { command: "help", options, error: `unknown argument: ${arg}` };
    }
  }
  return { command: command ?? "serve", configPath, options };
}

/** Mints a token with the configured HS256 secret, for scripts and the dashboard. */
async function _token(platform: Platform, path: string, options: Record<string, string>): Promise<never> {
  const scope = options.scope;
  if (scope !== "read" && scope !== "admin") {
    platform.stderr(`token: --scope must be "read" or "admin" (got ${scope === undefined ? "nothing" : `"${scope}"`})`);
    return platform.exit(2);
  }
  const ttl = parseDuration(options.ttl ?? "15m");
  if (ttl === undefined || ttl < 1000) {
    platform.stderr(`token: --ttl must be a duration of at least 1s, such as "15m" (got "${options.ttl}")`);
    return platform.exit(2);
  }
  const admin = (await platform.exists(path)) ? (await _loadConfig(platform, path)).admin : undefined;
  // Without a config file, the defaults a config would get.
  const auth = admin?.auth ?? v.parse(AdminAuthSchema, {});
  const secret = platform.env("TANDEM_ADMIN_SECRET") ?? auth.secret;
  if (secret === undefined) {
    platform.stderr(`token: no secret: set admin.auth.secret in ${path} or TANDEM_ADMIN_SECRET`);
    return platform.exit(1);
  }
  if (ttl > auth.maxTokenLifetime) {
    platform.stderr(`token: --ttl ${options.ttl} is longer than admin.auth.maxTokenLifetime (${auth.maxTokenLifetime / 1000} s): the API would refuse the token`);
    return platform.exit(2);
  }
  const audience = auth.audience;
  platform.stdout(await mintToken({ secret, audience, subject: options.sub ?? "cli", scope, ttlSeconds: Math.floor(ttl / 1000) }));
  return platform.exit(0);
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

