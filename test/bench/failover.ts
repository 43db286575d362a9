/**
 * Failover benchmark: tandem's VRRP agent (on Bun and on Deno) against keepalived (`vrrp_version
 * 3`, same priorities and intervals) in the same namespace topology (test/support/vrrp-lab.ts).
 * Every node runs tandem as the balancer in front of a backend that answers with the node's
 * name; with keepalived the balancer runs without `vrrp` and keepalived moves the address.
 *
 * Measured from the client namespace, polling HTTP through the virtual address:
 * - kill: the master's machine dies (every process in its namespace gets SIGKILL) until the VIP
 *   answers from the backup;
 * - graceful: the VRRP agent gets SIGTERM (tandem resigns, then drains; keepalived resigns)
 *   until the VIP answers from the backup;
 * - flaps: with 20 % of the backup's incoming advertisements dropped (iptables statistic) for
 *   20 s, how often the backup became master.
 *
 * Run alone, as root: `bun test/bench/failover.ts [--rounds 3] [--only TEXT]` (only the cases whose
 * label contains TEXT). Prints a markdown table.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { median } from "./report.ts";
import { ADMIN_PORT, BACKEND_PORT, HTTP_PORT, labUnavailable, type LabProcess, sh, VIP, VrrpLab, waitUntil } from "../support/vrrp-lab.ts";

type Implementation = "tandem (bun)" | "tandem (deno)" | "keepalived";
const root = new URL("../../", import.meta.url).pathname;
const KEY = "failover benchmark shared key";
const PRIORITY = { n1: 150, n2: 100 } as Record<string, number>;
const LOSS_SECONDS = 20;

const _option = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const rounds = Number(_option("--rounds")) || 3;
const only = _option("--only");

function tandemArgv(implementation: Implementation, configPath: string): string[] {
  return implementation === "tandem (deno)"
    ? [join(root, "node_modules/.bin/deno"), "run", "--unstable-net", "-A", join(root, "runtimes/deno/main.ts"), "serve", "--config", configPath]
    : [process.execPath, "run", join(root, "runtimes/bun/main.ts"), "serve", "--config", configPath];
}

/** Starts a node: the backend, tandem (with or without vrrp), keepalived when that is the agent. */
async function startNode(lab: VrrpLab, node: string, implementation: Implementation, intervalMs: number): Promise<{ agent: LabProcess }> {
  const vrrp = implementation === "keepalived" ? undefined : {
    key: KEY,
    address: lab.ipOf(node),
    instances: [{ name: "web", vrid: 51, priority: PRIORITY[node], advertInterval: intervalMs, interface: "eth0", virtualAddresses: [`${VIP}/24`] }],
  };
  const config = {
    listeners: [{ address: `0.0.0.0:${HTTP_PORT}` }],
    pools: { app: { members: [{ name: node, url: `http://127.0.0.1:${BACKEND_PORT}` }] } },
    accessLog: false,
    drainTimeout: "1s",
    admin: { address: `127.0.0.1:${ADMIN_PORT}` },
    ...(vrrp ? { vrrp } : {}),
  };
  const configPath = join(lab.dir, `${node}.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const tandem = lab.spawn(node, tandemArgv(implementation === "keepalived" ? "tandem (bun)" : implementation, configPath));
  await tandem.waitForLine((line) => line.event === "listening", 20_000);
  if (implementation !== "keepalived") return { agent: tandem };
  const conf = join(lab.dir, `keepalived-${node}.conf`);
  writeFileSync(conf, `global_defs {
  vrrp_version 3
  router_id ${node}
}
vrrp_instance web {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${PRIORITY[node]}
  advert_int ${intervalMs / 1000}
  virtual_ipaddress {
    ${VIP}/24
  }
}
`);
  const pid = (name: string) => join(lab.dir, `${node}-${name}.pid`);
  const agent = lab.spawn(node, ["keepalived", "--dont-fork", "--log-console", "--vrrp", "-f", conf, "-p", pid("main"), "-r", pid("vrrp"), "-c", pid("checkers")]);
  return { agent };
}

/**
 * Every process in the node's namespace dies at once: the machine died. Stopped first, because
 * keepalived's VRRP child gets SIGTERM when its parent dies (PR_SET_PDEATHSIG) and would resign
 * gracefully in the gap between two kills.
 */
function killMachine(lab: VrrpLab, node: string): void {
  const pids = sh(["ip", "netns", "pids", lab.ns(node)], true).stdout.split(/\s+/).filter(Boolean);
  sh(["kill", "-STOP", ...pids], true);
  sh(["kill", "-KILL", ...pids], true);
}

/** A fresh lab with n1 master and the client's view of the VIP warm; ends with `measure`. */
async function round<T>(implementation: Implementation, intervalMs: number, measure: (lab: VrrpLab, agents: Record<string, LabProcess>) => Promise<T>): Promise<T> {
  const lab = new VrrpLab(2);
  try {
    lab.setUp();
    const backendArgv = (script: string) => [process.execPath, script];
    for (const node of lab.nodes) await lab.startBackend(node, backendArgv);
    const agents: Record<string, LabProcess> = {};
    for (const node of lab.nodes) agents[node] = (await startNode(lab, node, implementation, intervalMs)).agent;
    if (await waitUntil(() => lab.getVip() === "n1", 30_000) === undefined) throw new Error(`${implementation}: n1 never served the VIP`);
    // Settled: n2 has heard n1 for a while, the client's ARP entry is fresh.
    await new Promise((resolve) => setTimeout(resolve, Math.max(1000, 5 * intervalMs)));
    return await measure(lab, agents);
  } finally {
    lab.tearDown();
  }
}

/** Milliseconds from now until HTTP through the VIP answers from n2 (polled as fast as curl runs). */
async function untilBackupAnswers(lab: VrrpLab, start: number): Promise<number> {
  // A short timeout: a request sent to the old master's MAC after it let the address go is lost,
  // and waiting long for it would hide the moment the new master answers.
  const took = await waitUntil(() => lab.get(`http://${VIP}:${HTTP_PORT}/`, 0.03) === "n2", 30_000, 2);
  if (took === undefined) throw new Error("the backup never answered on the VIP");
  return performance.now() - start;
}

async function failover(implementation: Implementation, intervalMs: number, how: "kill" | "graceful"): Promise<number> {
  return await round(implementation, intervalMs, async (lab, agents) => {
    const start = performance.now();
    if (how === "kill") killMachine(lab, "n1");
    else agents.n1.kill("SIGTERM");
    return await untilBackupAnswers(lab, start);
  });
}

/**
 * How many times the backup became master while 20 % of its incoming adverts are dropped, from
 * its own log (a takeover undone within a millisecond would escape sampling the address).
 */
async function flaps(implementation: Implementation, intervalMs: number): Promise<number> {
  return await round(implementation, intervalMs, async (lab, agents) => {
    const match = implementation === "keepalived" ? ["-p", "112"] : ["-p", "udp", "--dport", "5798"];
    const becameMaster = () =>
      implementation === "keepalived"
        ? agents.n2.output().split("Entering MASTER STATE").length - 1
        : agents.n2.lines.filter((line) => line.event === "vrrp-transition" && line.to === "master").length;
    const before = becameMaster();
    sh(["ip", "netns", "exec", lab.ns("n2"), "iptables", "-A", "INPUT", ...match, "-m", "statistic", "--mode", "random", "--probability", "0.2", "-j", "DROP"]);
    await new Promise((resolve) => setTimeout(resolve, LOSS_SECONDS * 1000));
    return becameMaster() - before;
  });
}

async function main(): Promise<void> {
  const reason = labUnavailable();
  if (reason) {
    console.error(`failover benchmark: ${reason}`);
    process.exit(1);
  }
  const implementations: Implementation[] = ["tandem (bun)", "tandem (deno)"];
  if (spawnSync("keepalived", ["--version"]).status === 0) implementations.push("keepalived");
  else console.error("keepalived is not installed (apt-get install -y keepalived): measuring tandem only");
  const cases: { label: string; run: (implementation: Implementation) => Promise<number> }[] = [
    { label: "SIGKILL, advert 1 s (ms)", run: (i) => failover(i, 1000, "kill") },
    { label: "SIGKILL, advert 0.1 s (ms)", run: (i) => failover(i, 100, "kill") },
    { label: "graceful stop, advert 1 s (ms)", run: (i) => failover(i, 1000, "graceful") },
    { label: "graceful stop, advert 0.1 s (ms)", run: (i) => failover(i, 100, "graceful") },
    { label: `backup became master in ${LOSS_SECONDS} s at 20 % advert loss, 0.1 s`, run: (i) => flaps(i, 100) },
  ];
  const results = new Map<string, Map<Implementation, number[]>>();
  for (const { label, run } of cases.filter((c) => only === undefined || c.label.includes(only))) {
    const row = new Map<Implementation, number[]>();
    results.set(label, row);
    for (const implementation of implementations) {
      const samples: number[] = [];
      for (let index = 0; index < rounds; index++) {
        try {
          samples.push(await run(implementation));
        } catch (error) {
          console.error(`${label}, ${implementation}: ${(error as Error).message}`);
        }
      }
      row.set(implementation, samples);
      console.error(`${label}, ${implementation}: ${samples.map((value) => Math.round(value)).join(", ")}`);
    }
  }
  const lines = [
    `| failover (median of ${rounds}; samples) | ${implementations.join(" | ")} |`,
    `|---|${implementations.map(() => "---:").join("|")}|`,
    ...[...results].map(([label, row]) =>
      `| ${label} | ${implementations.map((implementation) => {
        const samples = row.get(implementation) ?? [];
        const middle = median(samples);
        return middle === undefined ? "failed" : `${Math.round(middle)} (${samples.map((value) => Math.round(value)).join(", ")})`;
      }).join(" | ")} |`
    ),
  ];
  console.log(lines.join("\n"));
}

await main();
