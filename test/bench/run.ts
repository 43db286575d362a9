/**
 * The benchmark harness: `npm run bench` (= `bun test/bench/run.ts`).
 *
 * tandem on Bun and on Deno against HAProxy, nginx and @fastify/reply-from on Node, with wrk
 * straight at a member as the floor, a minimal raw-socket relay on each runtime (raw-relay.ts)
 * as the floor of a JavaScript proxy there, and tandem's balancer behind Bun.serve/Deno.serve
 * (web-front-end.ts, the web front end); every server in its own network namespace. Prints a
 * markdown table per scenario (progress goes to stderr) and writes test/bench/results/<date>.json and .md.
 * Needs root (network namespaces); installs missing tools with apt-get and the Node peer with
 * npm ci. See USAGE.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { existingNamespaces, HOSTS, type Host, setUpNetwork, tearDownNetwork } from "./netns.ts";
import { Supervisor } from "./procs.ts";
import { BUN, DENO, PROXY_IDS, type ProxyId, startBackends, type Workspace, writeCertificate } from "./proxies.ts";
import { formatNumber, renderTable } from "./report.ts";
import { type Context, formatCount, SCENARIOS, type ScenarioResult } from "./scenarios.ts";

const USAGE = `usage: bun test/bench/run.ts [--quick] [--only=SCENARIO,…] [--proxies=PROXY,…] [--rounds=N] [--duration=SECONDS] [--keep]
  --quick      1 round, 3 s runs, 500 idle connections: for development, not for figures
  --only       scenarios by name or number: small (1), 64k (2), upload (3), idle (4), tls (5), workers (6), rules (7), h2 (8)
  --proxies    haproxy, nginx, bun, deno, node, bun-relay, deno-relay, bun-web, deno-web (default all; the
               direct-to-member floor always runs; bun-relay and deno-relay are raw-relay.ts, the JavaScript
               floor per runtime; bun-web and deno-web are web-front-end.ts, tandem's balancer behind
               Bun.serve/Deno.serve: the web front end, plain HTTP only)
  --rounds     interleaved rounds (default 3)     --duration  seconds per timed run (default 5)
  --keep       keep the scratch directory (configs, logs) instead of deleting it`;

const REPO = join(dirname(new URL(import.meta.url).pathname), "../..");
const RESULTS = join(REPO, "test/bench/results");
const LOCK = join(tmpdir(), "tandem-bench.lock");
const SCRATCH_PREFIX = "tandem-bench-";
const NODE_PEER = "test/bench/node-peer";
/** What to install when a tool is missing (Debian package names). */
const TOOLS: Record<string, string> = { haproxy: "haproxy", nginx: "nginx", wrk: "wrk", h2load: "nghttp2-client", stunnel: "stunnel4", curl: "curl", openssl: "openssl", ip: "iproute2" };

const startedAt = Date.now();
function log(message: string): void {
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  // Without the tables' footnote marks.
  console.error(`[${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}] ${message.replace(/ [¹²³⁴]/g, "")}`);
}

interface Options {
  quick: boolean;
  scenarios: string[];
  proxies: ProxyId[];
  rounds: number;
  seconds: number;
  keep: boolean;
}

function _parseArgs(args: readonly string[]): Options {
  const fail = (message: string): never => {
    console.error(`${message}\n${USAGE}`);
    process.exit(2);
  };
  const options: Options = { quick: false, scenarios: SCENARIOS.map((s) => s.id), proxies: [...PROXY_IDS], rounds: 3, seconds: 5, keep: false };
  let rounds: number | undefined;
  let seconds: number | undefined;
  for (const arg of args) {
    const [name, value = ""] = arg.split(/=(.*)/s);
    const list = () => value.split(",").map((item) => item.trim()).filter(Boolean);
    if (name === "--quick") options.quick = true;
    else if (name === "--keep") options.keep = true;
    else if (name === "--only") {
      options.scenarios = list().map((item) => (/^\d$/.test(item) ? SCENARIOS[Number(item) - 1]?.id : SCENARIOS.find((s) => s.id === item)?.id) ?? fail(`unknown scenario: ${item}`));
    } else if (name === "--proxies") {
      options.proxies = list().map((item) => (PROXY_IDS.includes(item as ProxyId) ? (item as ProxyId) : fail(`unknown proxy: ${item}`)));
    } else if (name === "--rounds" && Number(value) >= 1) rounds = Math.floor(Number(value));
    else if (name === "--duration" && Number(value) >= 1) seconds = Math.floor(Number(value));
    else if (name === "--help" || name === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown argument: ${arg}`);
  }
  options.rounds = rounds ?? (options.quick ? 1 : 3);
  options.seconds = seconds ?? (options.quick ? 3 : 5);
  return options;
}

/** Installs missing tools with apt-get, saying what it runs; without root it only says what to run. */
function _ensureTools(): void {
  const missing = Object.keys(TOOLS).filter((tool) => !Bun.which(tool));
  if (missing.length === 0) return;
  const packages = [...new Set(["haproxy", "nginx", "wrk", "stunnel4", ...missing.map((tool) => TOOLS[tool])])];
  const command = ["apt-get", "install", "-y", ...packages];
  if (process.getuid?.() !== 0) {
    console.error(`bench: missing ${missing.join(", ")}. Install them as root:\n  ${command.join(" ")}`);
    process.exit(2);
  }
  log(`missing ${missing.join(", ")}: running ${command.join(" ")}`);
  // As in .ci/run: keep the packages' scripts from starting haproxy and nginx as services.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    if (spawnSync(command[0], command.slice(1), { stdio: "inherit", env }).status !== 0) {
      log("apt-get install failed; running apt-get update and trying again");
      spawnSync("apt-get", ["update"], { stdio: "inherit", env });
      spawnSync(command[0], command.slice(1), { stdio: "inherit", env });
    }
  } finally {
    if (ownPolicy) unlinkSync(policy);
  }
  const still = Object.keys(TOOLS).filter((tool) => !Bun.which(tool));
  if (still.length > 0) {
    console.error(`bench: still missing after apt-get: ${still.join(", ")}`);
    process.exit(2);
  }
}

/** fastify and @fastify/reply-from, pinned by test/bench/node-peer/package-lock.json. */
function _ensureNodePeer(): void {
  if (existsSync(join(REPO, NODE_PEER, "node_modules"))) return;
  const command = ["npm", "ci", "--prefix", NODE_PEER, "--no-audit", "--no-fund"];
  log(`the Node peer is not installed: running ${command.join(" ")}`);
  if (spawnSync(command[0], command.slice(1), { cwd: REPO, stdio: ["ignore", 2, 2] }).status !== 0) {
    console.error(`bench: ${command.join(" ")} failed (leave the node peer out with --proxies=haproxy,nginx,bun,deno,bun-relay,deno-relay,bun-web,deno-web)`);
    process.exit(2);
  }
}

/** Scratch directories of runs that were killed before they could clean up (not --keep ones). */
function _removeStaleScratch(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const owner = join(tmpdir(), name, "owner.pid");
    if (!existsSync(owner)) continue;
    if (existsSync(`/proc/${Number(readFileSync(owner, "utf8"))}`)) continue;
    log(`removing a previous run's scratch directory ${join(tmpdir(), name)}`);
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** One run at a time: a second run would tear down the first's namespaces as leftovers. */
function _takeLock(): void {
  if (existsSync(LOCK)) {
    const pid = Number(readFileSync(LOCK, "utf8"));
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      // not running
    }
    if (pid !== process.pid && cmdline.includes("bench/run.ts")) {
      console.error(`bench: another run is in progress (pid ${pid}); wait for it or stop it`);
      process.exit(2);
    }
  }
  writeFileSync(LOCK, String(process.pid));
}

function _firstLine(command: string[], pattern: RegExp): string {
  const result = spawnSync(command[0], command.slice(1), { encoding: "utf8" });
  return `${result.stdout}\n${result.stderr}`.match(pattern)?.[1] ?? "?";
}

function _packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(REPO, NODE_PEER, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

function _versions(): Record<string, string> {
  return {
    bun: _firstLine([BUN, "--version"], /^([\d.]+)/m),
    deno: _firstLine([DENO, "--version"], /deno ([\d.]+)/),
    node: _firstLine(["node", "--version"], /v([\d.]+)/),
    haproxy: _firstLine(["haproxy", "-v"], /version ([\d.]+)/),
    nginx: _firstLine(["nginx", "-v"], /nginx\/([\d.]+)/),
    stunnel: _firstLine(["stunnel", "-version"], /stunnel ([\d.]+)/),
    wrk: _firstLine(["wrk", "-v"], /wrk (?:\S+\/)?([\d.]+)/),
    fastify: _packageVersion("fastify"),
    replyFrom: _packageVersion("@fastify/reply-from"),
  };
}

function _machine() {
  const model = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpus()[0]?.model ?? "?";
  return { cores: cpus().length, cpu: model.trim(), kernel: `Linux ${release()}`, memoryGiB: Math.round(totalmem() / 2 ** 30) };
}

function _command(args: readonly string[]): string {
  const rest = args.join(" ");
  return process.env.npm_lifecycle_event === "bench" ? `npm run bench${rest ? ` -- ${rest}` : ""}` : `bun test/bench/run.ts${rest ? ` ${rest}` : ""}`;
}

function _header(info: { date: string; command: string; machine: ReturnType<typeof _machine>; versions: Record<string, string>; options: Options; idle: number }): string {
  const { machine: m, versions: v, options: o } = info;
  return `# tandem benchmark

- date: ${info.date}
- command: \`${info.command}\`
- machine: ${m.cores} cores, ${m.cpu}, ${m.kernel}, ${m.memoryGiB} GiB RAM
- versions: Bun ${v.bun}, Deno ${v.deno}, Node ${v.node}, HAProxy ${v.haproxy}, nginx ${v.nginx}, stunnel ${v.stunnel}, wrk ${v.wrk}, fastify ${v.fastify} + @fastify/reply-from ${v.replyFrom}
- setup: every server in its own network namespace (veth pairs to a bridge, 10.77.0.0/24), wrk in another. Members: one nginx process, one worker, two \`server\` blocks (13-byte and 64 KiB bodies). Every proxy: one worker/thread, round robin over the two members, sticky cookie insert, active checks every 2 s, X-Forwarded-For, no logging (exceptions in the footnotes). Client, members and proxy share the ${m.cores} cores: compare rows with each other, not with other machines.
- runs: ${o.rounds} interleaved round(s) of ${o.seconds} s per figure, medians${o.quick ? " (--quick: development figures only)" : ""}; ${formatCount(info.idle)} idle connections in scenario 4.
`;
}

interface Verdict {
  target: string;
  value: string;
  met: boolean;
}

/** The issue's targets, checked against this run's medians. */
function _verdicts(results: readonly ScenarioResult[], idle: number): Verdict[] {
  const verdicts: Verdict[] = [];
  const row = (scenario: string, id: string) => results.find((r) => r.id === scenario)?.tables[0]?.rows.find((r) => r.id === id)?.values;
  const num = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : undefined);
  const ratio = (scenario: string, a: string, b: string, key: string) => {
    const x = num(row(scenario, a)?.[key]);
    const y = num(row(scenario, b)?.[key]);
    return x !== undefined && y !== undefined && y > 0 ? x / y : undefined;
  };
  const add = (target: string, value: number | undefined, met: (value: number) => boolean, format: (value: number) => string) => {
    if (value !== undefined) verdicts.push({ target, value: format(value), met: met(value) });
  };
  const times = (value: number) => `${value.toFixed(2)}×`;
  // The socket-level front end issue: per runtime, [id, name, small req/s, CPU per request].
  const runtimes = [["bun", "Bun", 0.8, 1.5], ["deno", "Deno", 0.7, 2]] as const;
  for (const [id, name, rps, cpu] of runtimes) {
    add(`scenario 1: ${name} req/s ≥ ${rps}× HAProxy`, ratio("small", id, "haproxy", "rps"), (x) => x >= rps, times);
    add(`scenario 1: ${name} CPU/request ≤ ${cpu}× HAProxy`, ratio("small", id, "haproxy", "cpuUsPerRequest"), (x) => x <= cpu, times);
    add(`scenario 1: ${name} p99 ≤ 1.5× HAProxy's`, ratio("small", id, "haproxy", "p99Ms"), (x) => x <= 1.5, times);
    add(`scenario 2: ${name} 64 KiB req/s ≥ 0.8× HAProxy`, ratio("64k", id, "haproxy", "rps"), (x) => x >= 0.8, times);
    add(`scenario 3: ${name} upload MiB/s ≥ HAProxy's`, ratio("upload", id, "haproxy", "mibPerSec"), (x) => x >= 1, times);
    // Flat: in no round does the RSS keep rising through the second half of the upload.
    const growth = num(row("upload", id)?.maxGrowthMiB);
    add(`scenario 3: ${name} memory flat during the upload (late growth ≤ 8 MiB in every round)`, num(row("upload", id)?.lateGrowthMiB), (x) => x <= 8, (x) => `worst round: ${formatNumber(x, 1)} MiB late, ${formatNumber(growth ?? Number.NaN, 1)} MiB in all`);
    // Scaled to 5,000 connections when fewer were opened (--quick): before + per-connection × 5,000.
    const idleRow = row("idle", id);
    const before = num(idleRow?.rssBeforeMiB);
    const per = num(idleRow?.kibPerConnection);
    const rss = idle === 5000 ? num(idleRow?.rssWithMiB) : before !== undefined && per !== undefined ? before + (per * 5000) / 1024 : undefined;
    add(`scenario 4: ${name} RSS with 5,000 idle connections ≤ 40 MiB${idle === 5000 ? "" : ` (extrapolated from ${idle})`}`, rss, (x) => x <= 40, (x) => `${formatNumber(x, 1)} MiB`);
    add(`scenario 5a: ${name} TLS keep-alive req/s ≥ 0.7× HAProxy ssl`, ratio("tls", `${id}-tls`, "haproxy-tls", "rps"), (x) => x >= 0.7, times);
  }
  return verdicts;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const options = _parseArgs(args);
  process.chdir(REPO);
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root, to create network namespaces (ip netns). Run it as root, e.g. sudo npm run bench");
    return 2;
  }
  _ensureTools();
  if (options.proxies.includes("node")) _ensureNodePeer();
  _takeLock();

  const leftovers = existingNamespaces();
  if (leftovers.length > 0) log(`removing a previous run's leftovers: ${leftovers.join(", ")}`);
  tearDownNetwork();

  _removeStaleScratch();
  const dir = mkdtempSync(join(tmpdir(), SCRATCH_PREFIX));
  mkdirSync(join(dir, "logs"));
  // Marks the directory as this run's; a directory whose owner died is removed by the next run.
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  const supervisor = new Supervisor(join(dir, "logs"));
  let tornDown = false;
  let keep = options.keep;
  const tearDown = () => {
    if (tornDown) return;
    tornDown = true;
    supervisor.killAllNow();
    tearDownNetwork();
    if (keep) {
      rmSync(join(dir, "owner.pid"), { force: true });
      rmSync(join(dir, "upload.bin"), { force: true });
      log(`kept ${dir}`);
    } else rmSync(dir, { recursive: true, force: true });
    rmSync(LOCK, { force: true });
  };
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      log(`${signal}: stopping every process and removing the namespaces`);
      tearDown();
      process.exit(code);
    });
  }
  process.on("exit", tearDown);

  const versions = _versions();
  const ws: Workspace = { dir, supervisor, versions };
  const idle = options.quick ? 500 : 5000;
  const context: Context = {
    ws,
    rounds: options.rounds,
    seconds: options.seconds,
    warmSeconds: options.quick ? 1 : 2,
    idleConnections: idle,
    uploadMiB: 100,
    proxies: options.proxies,
    log,
  };
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const info = { date, command: _command(args), machine: _machine(), versions, options, idle };
  const header = _header(info);
  console.log(header);
  const markdown = [header];
  const results: ScenarioResult[] = [];
  let failed = false;

  try {
    log("setting up namespaces");
    setUpNetwork(Object.keys(HOSTS) as Host[]);
    writeCertificate(dir);
    log("starting the members (nginx) and the upload sink (Bun)");
    await startBackends(ws);

    for (const scenario of SCENARIOS.filter((s) => options.scenarios.includes(s.id))) {
      log(`scenario ${scenario.title}`);
      const began = Date.now();
      let result: ScenarioResult;
      try {
        result = await scenario.run(context);
      } catch (error) {
        failed = true;
        keep = true; // the logs say why
        log(`${scenario.title} failed: ${(error as Error).stack ?? error}`);
        result = { id: scenario.id, title: scenario.title, tables: [], samples: {}, skipped: `failed: ${(error as Error).message}` };
      }
      // A proxy that did not start is a row of the table; its log is in the scratch directory.
      if (result.tables.some((table) => table.rows.some((row) => row.values.error !== undefined))) keep = true;
      const text = result.skipped ? `### ${scenario.title}\n\n${result.skipped}\n` : result.tables.map(renderTable).join("\n");
      console.log(text);
      markdown.push(text);
      results.push(result);
      log(`${scenario.title}: ${Math.round((Date.now() - began) / 1000)} s`);
    }
  } finally {
    await supervisor.stopAll();
    tearDown();
  }

  const verdicts = _verdicts(results, idle);
  if (verdicts.length > 0) {
    const text = `### The issue's targets\n\n${verdicts.map((v) => `- ${v.met ? "met" : "**not met**"}: ${v.target} (${v.value})`).join("\n")}\n`;
    console.log(text);
    markdown.push(text);
  }
  const duration = Math.round((Date.now() - startedAt) / 1000);
  const footer = `Total duration: ${Math.floor(duration / 60)} min ${duration % 60} s.\n`;
  console.log(footer);
  markdown.push(footer);

  mkdirSync(RESULTS, { recursive: true });
  const stem = join(RESULTS, date.replace(/:/g, "-"));
  writeFileSync(`${stem}.json`, `${JSON.stringify({ ...info, durationSeconds: duration, verdicts, scenarios: results }, null, 2)}\n`);
  writeFileSync(`${stem}.md`, markdown.join("\n"));
  log(`wrote ${stem}.json and .md`);
  return failed ? 1 : 0;
}

process.exit(await main());
