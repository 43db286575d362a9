/**
 * The tandem program, shared by every runtime: `serve` (default), `check`, `schema`, `token`,
 * `ctl` (see {@link ./ctl.ts}), `version` and `help`.
 *
 * ```sh
 * tandem serve --config tandem.yaml              # package.json "bin": bin/tandem runs it on Bun
 * bun run runtimes/bun/main.ts check --config tandem.yaml
 * deno task serve --config tandem.yaml
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
import { CTL_USAGE, runCtl } from "./ctl.ts";
import { serveDemo } from "./demo/demo.ts";
import type { Platform } from "./platform.ts";
import { adminVerifier, serve, startFailed, summarize } from "./serve.ts";
import { VERSION } from "./version.ts";
import { importConfigs, SOURCE_FORMATS, type SourceFormat } from "./import/import.ts";
import { loadConfigFiles } from "./config/files.ts";
import { superviseWorkers } from "./workers.ts";

const CONFIG_OPTION = "  --config FILE, -c FILE   the config file (default: tandem.yaml in the working directory)";

const USAGE = `usage: tandem [COMMAND] [OPTIONS]

commands:
  serve      run the balancer (the default command; the embedded demo when there is no config)
  check      validate a config file as serve would, short of binding
  schema     print the config's JSON Schema
  token      mint an admin API token
  ctl        query and change a running tandem through its admin API (status, drain, weight, ...)
  import     convert haproxy.cfg, keepalived.conf, workers.properties or httpd balancer config
  version    print tandem's version and the runtime's
  help       print this, or a command's usage: tandem help COMMAND, tandem COMMAND --help

options:
${CONFIG_OPTION}
  --help, -h               print this, or after a command its usage
  --version, -v            the same as tandem version`;

interface CommandSpec {
  usage: string;
  /** Accepts --config. */
  config?: boolean;
  /** Options that take a value, besides --config. */
  values?: string[];
  /** Options without a value; present means on. */
  flags?: string[];
  /** Arguments after the command: ctl's subcommand and its arguments, help's command. */
  operands?: number;
}

const COMMANDS: Record<string, CommandSpec> = {
  serve: {
    config: true,
    values: ["--port", "--admin-port"],
    usage: `usage: tandem [serve] [--config FILE]
       tandem [serve] [--port 8080] [--admin-port 8404]

Runs the balancer with the config file, or with tandem.yaml in the working directory. Without
either it runs the embedded demo: two session apps behind a sticky balancer on loopback.

options:
${CONFIG_OPTION}
  --port PORT              the demo's balancer port (default 8080); a config sets its own listeners
  --admin-port PORT        the demo's admin API and dashboard port (default 8404)

exit status: 0 after a graceful stop (SIGTERM, SIGINT), 1 when it cannot start (with a "fatal" line), 2 usage`,
  },
  check: {
    config: true,
    flags: ["--edge"],
    usage: `usage: tandem check [--edge] [--config FILE]

Validates the config file as serve does at start, short of binding: the config, certificates and
keys, CA files, the admin API's auth, the error pages. Prints a one-line summary, or every problem.

options:
${CONFIG_OPTION}
  --edge                   check it for an edge worker instead, warning about the settings it ignores

exit status: 0 valid, 1 problems (listed on stderr), 2 usage`,
  },
  schema: {
    usage: `usage: tandem schema

Prints the config's JSON Schema, for editor completion: tandem schema > tandem.schema.json

exit status: 0`,
  },
  token: {
    config: true,
    values: ["--scope", "--ttl", "--sub"],
    usage: `usage: tandem token --scope read|admin [--ttl 15m] [--sub NAME] [--config FILE]

Mints an HS256 token for the admin API with admin.auth.secret of the config file, or
TANDEM_ADMIN_SECRET. "read" may query, "admin" may also change.

options:
  --scope read|admin       what the token allows (required)
  --ttl DURATION           its lifetime (default 15m; at most admin.auth.maxTokenLifetime,
                           or maxReadTokenLifetime for read: a wall display's --ttl 30d)
  --sub NAME               its subject, logged with every change made with it (default cli)
${CONFIG_OPTION}

exit status: 0 the token on stdout, 1 no secret or an invalid config, 2 usage`,
  },
  ctl: {
    config: true,
    values: ["--admin", "--token-file", "--timeout"],
    flags: ["--json"],
    operands: Infinity,
    usage: CTL_USAGE,
  },
  import: {
    values: ["--from", "--out", "--report"],
    operands: Infinity,
    usage: `usage: tandem import [--from haproxy|keepalived|modjk|httpd] FILE... [--out tandem.yaml] [--report FILE]

Converts existing balancer configs into one tandem config: haproxy.cfg (listeners, pools,
stickiness, health checks), keepalived.conf (the vrrp section), mod_jk's workers.properties with
uriworkermap.properties or JkMount lines, httpd's mod_proxy_balancer. Several files combine, e.g.
haproxy.cfg and keepalived.conf. Each key of the output quotes the directive it came from; the
report lists every directive as carried, approximated (how) or not carried (why). Secrets are
never written out: the report names the environment variable to set instead.

options:
  --from FORMAT            the language of every FILE (default: recognised from each file's content)
  --out FILE               write the config there instead of stdout
  --report FILE            write the report there as well as to stderr

exit status: 0 written (it passes tandem check's validation), 1 input that cannot be read or
converted (every problem with its file and line), 2 usage`,
  },
  version: {
    usage: `usage: tandem version   (or tandem --version)

Prints "tandem VERSION (RUNTIME VERSION)", such as "tandem 0.1.0 (bun 1.4.5)".

exit status: 0`,
  },
  help: {
    operands: 1,
    usage: `usage: tandem help [COMMAND]

exit status: 0, or 2 for an unknown command`,
  },
};

const DEFAULT_CONFIG = "tandem.yaml";

export async function runCli(platform: Platform): Promise<void> {
  const { command, configPath, options, operands, help, error } = _parseArgs(platform.args);
  const usage = COMMANDS[command]?.usage ?? USAGE;
  if (error) {
    platform.stderr(`${error}\n${usage}`);
    return platform.exit(2);
  }
  if (help) {
    platform.stdout(command === "help" ? USAGE : usage);
    return platform.exit(0);
  }
  switch (command) {
    case "help": {
      const topic = operands[0];
      if (topic === undefined) platform.stdout(USAGE);
      else if (topic in COMMANDS) platform.stdout(COMMANDS[topic].usage);
      else {
        platform.stderr(`unknown command: ${topic}\n${USAGE}`);
        return platform.exit(2);
      }
      return platform.exit(0);
    }
    case "version":
      platform.stdout(`tandem ${VERSION} (${platform.runtime})`);
      return platform.exit(0);
    case "schema":
      platform.stdout(JSON.stringify(configJsonSchema(), null, 2));
      return platform.exit(0);
    case "check": {
      const path = configPath ?? DEFAULT_CONFIG;
      const config = await _loadConfig(platform, path);
      if (options.edge !== undefined) {
        // Certificates and CA files are not used there; what is, is the config alone.
        const warnings = edgeWarnings(config);
        for (const warning of warnings) platform.stderr(`${warning.refused ? "error" : "warning"}: ${formatEdgeWarning(warning)}`);
        if (warnings.some((warning) => warning.refused)) return platform.exit(1);
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
    case "import":
      return await _import(platform, operands, options, usage);
    case "ctl":
      return await runCtl(platform, operands, {
        admin: options.admin,
        configPath,
        tokenFile: options["token-file"],
        timeout: options.timeout,
        json: options.json !== undefined,
      }, (path) => _loadConfig(platform, path));
    case "serve": {
      const demo = { port: _port(platform, options, "port"), adminPort: _port(platform, options, "admin-port") };
      const path = configPath ?? ((await platform.exists(DEFAULT_CONFIG)) ? DEFAULT_CONFIG : undefined);
      if (path === undefined) return await serveDemo(platform, demo);
      if (demo.port !== undefined || demo.adminPort !== undefined) {
        platform.stderr(`serve: --port and --admin-port are for the demo; ${path} sets its own listeners and admin.address\n${usage}`);
        return platform.exit(2);
      }
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

interface Args {
  command: string;
  configPath?: string;
  /** By name without the dashes: `--token-file FILE` is `options["token-file"]`; a flag is "on". */
  options: Record<string, string>;
  /** What follows the command that is not an option (ctl's subcommand and its arguments). */
  operands: string[];
  /** --help or -h was given: print the command's usage. */
  help: boolean;
  error?: string;
}

/**
 * Options may come before or after the command (`tandem --config x check`); each must be one the
 * command takes. After `--`, everything is an operand.
 */
function _parseArgs(args: readonly string[]): Args {
  const valueOptions = new Set(["--config", "-c", ...Object.values(COMMANDS).flatMap((spec) => spec.values ?? [])]);
  const flagOptions = new Set(Object.values(COMMANDS).flatMap((spec) => spec.flags ?? []));
  let configPath: string | undefined;
  const options: Record<string, string> = {};
  const given: string[] = [];
  const positional: string[] = [];
  let help = false;
  let version = false;
  const fail = (error: string, command: string): Args => ({ command, options, operands: [], help, error });
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (valueOptions.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) return fail(`${name} needs a value`, _commandOf(positional));
      if (name === "--config" || name === "-c") configPath = value;
      else options[name.slice(2)] = value;
      given.push(name);
    } else if (inline === undefined && flagOptions.has(name)) {
      options[name.slice(2)] = "on";
      given.push(name);
    } else if (inline === undefined && (name === "--help" || name === "-h")) {
      help = true;
    } else if (inline === undefined && (name === "--version" || name === "-v")) {
      version = true;
    } else {
      return fail(`unknown argument: ${arg}`, _commandOf(positional));
    }
  }
  const named = positional.length > 0 && positional[0] in COMMANDS;
  if (positional.length > 0 && !named) return fail(`unknown command: ${positional[0]}`, "");
  const command = named ? positional[0] : version ? "version" : help ? "help" : "serve";
  const operands = named ? positional.slice(1) : [];
  const spec = COMMANDS[command];
  if (version && command !== "version") return fail(`unknown argument: --version (tandem version, or tandem --version alone)`, command);
  for (const name of given) {
    const takes = name === "--config" || name === "-c" ? spec.config : [...(spec.values ?? []), ...(spec.flags ?? [])].includes(name);
    if (!takes) return fail(`unknown argument: ${name} (${command} does not take it)`, command);
  }
  if (operands.length > (spec.operands ?? 0)) return fail(`unexpected argument: ${operands[spec.operands ?? 0]}`, command);
  return { command, configPath, options, operands, help };
}

/** The command the arguments so far name, for the usage that goes with an error ("": the global usage). */
function _commandOf(positional: string[]): string {
  return positional.length > 0 && positional[0] in COMMANDS ? positional[0] : "";
}

/** A demo port option (`--port`, `--admin-port`) as a number, or undefined when not given; exits 2 when it is not a port. */
function _port(platform: Platform, options: Record<string, string>, name: string): number | undefined {
  const text = options[name];
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    platform.stderr(`serve: --${name} must be a port from 1 to 65535 (got ${JSON.stringify(text)})`);
    return platform.exit(2);
  }
  return Number(text);
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
  const [limit, setting] = scope === "read" ? [auth.maxReadTokenLifetime, "maxReadTokenLifetime"] : [auth.maxTokenLifetime, "maxTokenLifetime"];
  if (ttl > limit) {
    platform.stderr(`token: --ttl ${options.ttl} is longer than admin.auth.${setting} (${limit / 1000} s): the API would refuse the token`);
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


/** `tandem import`: the files read, converted, written; the report on stderr (and to --report). */
async function _import(platform: Platform, paths: readonly string[], options: Record<string, string>, usage: string): Promise<never> {
  const from = options.from;
  if (from !== undefined && !(SOURCE_FORMATS as readonly string[]).includes(from)) {
    platform.stderr(`import: --from ${from}: expected one of ${SOURCE_FORMATS.join(", ")}\n${usage}`);
    return platform.exit(2);
  }
  if (paths.length === 0) {
    platform.stderr(`import: name at least one file\n${usage}`);
    return platform.exit(2);
  }
  const read = async (path: string) => ({ path, text: await platform.readTextFile(path) });
  let files;
  try {
    files = await Promise.all(paths.map(read));
  } catch (error) {
    platform.stderr(`import: ${(error as Error).message}`);
    return platform.exit(1);
  }
  const outcome = await importConfigs(files, {
    from: from as SourceFormat | undefined,
    readInclude: async (pattern, including) => {
      const path = pattern.startsWith("/") ? pattern : `${including.slice(0, including.lastIndexOf("/") + 1)}${pattern}`;
      const slash = path.lastIndexOf("/");
      const [directory, name] = [path.slice(0, slash + 1) || "./", path.slice(slash + 1)];
      if (/[*?[]/.test(directory)) throw new Error(`${pattern}: a wildcard in a directory name is not supported`);
      if (!/[*?[]/.test(name)) return [await read(path)];
      const matching = (await platform.listDirectory(directory)).filter((entry) => _globMatches(name, entry)).sort();
      return await Promise.all(matching.map((entry) => read(`${directory}${entry}`)));
    },
  });
  const report = outcome.report.format();
  platform.stderr(report.trimEnd());
  if (options.report !== undefined) await platform.writeTextFileAtomic(options.report, report);
  if (!outcome.ok) {
    for (const error of outcome.errors) platform.stderr(`import: ${error}`);
    return platform.exit(1);
  }
  if (options.out === undefined) platform.stdout(outcome.yaml.trimEnd());
  else await platform.writeTextFileAtomic(options.out, outcome.yaml);
  return platform.exit(0);
}

/** Shell-style matching of one name: `*`, `?` and `[...]` (as keepalived's and httpd's Include use glob(3)). */
function _globMatches(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(/\[!/g, "[^");
  return !name.startsWith(".") && new RegExp(`^${source}$`).test(name);
}
