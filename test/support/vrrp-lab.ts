/**
 * A VRRP lab in network namespaces, for the failover tests and the failover benchmark: a bridge
 * in its own namespace, one namespace per balancer node and one for the client, all on
 * 10.88.0.0/24, with the virtual address 10.88.0.50. Names carry a random prefix per lab, so
 * runs never collide, and `tearDown` kills whatever runs inside before deleting the namespaces.
 * Every address lives inside the lab's namespaces: nothing reaches the host's network.
 *
 *   <prefix>br      bridge br0 and the host ends of the veths
 *   <prefix>c       the client                         10.88.0.100
 *   <prefix>n1 …    the nodes: tandem (or keepalived)  10.88.0.11 …, a backend on 127.0.0.1:8081
 *
 * Linux and root only.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsonLines } from "./json-lines.ts";

export const VIP = "10.88.0.50";
export const CLIENT_IP = "10.88.0.100";
export const HTTP_PORT = 8080;
export const BACKEND_PORT = 8081;
export const ADMIN_PORT = 9900;

/** Runs a command to completion; throws with its output when it fails (unless `allowFailure`). */
export function sh(argv: readonly string[], allowFailure = false): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 20_000 });
  const outcome = { code: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  if (!allowFailure && (result.status !== 0 || result.error)) {
    throw new Error(`${argv.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${outcome.stderr.trim()}`);
  }
  return outcome;
}

/** Why the lab cannot run here, or undefined when it can. */
export function labUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces need root (CI runs as root)";
  if (sh(["ip", "-V"], true).code !== 0) return "iproute2 (ip) is not installed";
  return undefined;
}

export interface LabProcess {
  pid: number;
  /** stdout lines so far, parsed as JSON where possible. */
  lines: Record<string, unknown>[];
  output: () => string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  /** Waits until a stdout line matches (bounded); rejects when the process exits first. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export class VrrpLab {
  readonly prefix = `tv${Math.random().toString(16).slice(2, 8)}`;
  readonly nodes: string[];
  readonly dir = mkdtempSync(join(tmpdir(), "tandem-vrrp-"));
  /** The backend last started in each node's namespace. */
  readonly backends = new Map<string, LabProcess>();
  #processes: LabProcess[] = [];

  constructor(nodeCount: number) {
    this.nodes = Array.from({ length: nodeCount }, (_, index) => `n${index + 1}`);
  }

  ns(host: string): string {
    return `${this.prefix}${host}`;
  }

  ipOf(node: string): string {
    return `10.88.0.${10 + Number(node.slice(1))}`;
  }

  /** The bridge, the client and the nodes, each with loopback up and a veth to the bridge. */
  setUp(): void {
    const bridge = this.ns("br");
    sh(["ip", "netns", "add", bridge]);
    sh(["ip", "-n", bridge, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", bridge, "link", "set", "br0", "up"]);
    for (const [host, address] of [["c", CLIENT_IP], ...this.nodes.map((node) => [node, this.ipOf(node)])]) {
      const ns = this.ns(host);
      sh(["ip", "netns", "add", ns]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      sh(["ip", "-n", bridge, "link", "add", `v-${host}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      sh(["ip", "-n", bridge, "link", "set", `v-${host}`, "master", "br0", "up"]);
      sh(["ip", "-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"]);
      sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    }
  }

  /** Kills every process inside the lab's namespaces, then deletes them. Safe to call twice. */
  tearDown(): void {
    for (const process of this.#processes) process.kill("SIGKILL");
    const namespaces = sh(["ip", "netns", "list"], true).stdout.split("\n").map((line) => line.split(" ")[0]).filter((name) => name.startsWith(this.prefix));
    for (const ns of namespaces) {
      for (const pid of sh(["ip", "netns", "pids", ns], true).stdout.split(/\s+/).filter(Boolean)) sh(["kill", "-9", pid], true);
    }
    for (const ns of namespaces) sh(["ip", "netns", "delete", ns], true);
  }

  /** Starts `argv` inside `host`'s namespace (`ip netns exec` execs: the PID is the program's). */
  spawn(host: string, argv: readonly string[]): LabProcess {
    const child: ChildProcess = spawn("ip", ["netns", "exec", this.ns(host), ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const { lines, push, waitForLine } = jsonLines({ name: `${argv.join(" ")} in ${host}`, exited, context: () => text });
    child.stdout!.on("data", (chunk) => {
      text += chunk;
      push(String(chunk));
    });
    child.stderr!.on("data", (chunk) => (text += chunk));
    let done = false;
    void exited.then(() => (done = true));
    const process: LabProcess = {
      pid: child.pid!,
      lines,
      output: () => text,
      exited,
      kill: (signal) => {
        if (!done) child.kill(signal);
      },
      waitForLine,
    };
    this.#processes.push(process);
    return process;
  }

  /** A backend in `node`'s namespace on 127.0.0.1:8081 answering with the node's name. */
  async startBackend(node: string, runtimeArgv: (script: string) => string[]): Promise<LabProcess> {
    const script = join(this.dir, `backend-${node}.mjs`);
    writeFileSync(script, `import http from "node:http";
http.createServer((request, response) => response.end(${JSON.stringify(node)})).listen(${BACKEND_PORT}, "127.0.0.1", () => console.log("ready"));
`);
    const backend = this.spawn(node, runtimeArgv(script));
    await backend.waitForLine((line) => line.text === "ready");
    this.backends.set(node, backend);
    return backend;
  }

  /** One HTTP GET from the client namespace; the body, or undefined when it failed. */
  get(url: string, timeoutSeconds = 0.5): string | undefined {
    const result = sh(["ip", "netns", "exec", this.ns("c"), "curl", "-s", "--max-time", String(timeoutSeconds), url], true);
    return result.code === 0 ? result.stdout : undefined;
  }

  /** GET through the virtual address. */
  getVip(path = "/"): string | undefined {
    return this.get(`http://${VIP}:${HTTP_PORT}${path}`);
  }

  /** A JSON document from a node's loopback admin listener. */
  admin(node: string, path: string): any {
    const result = sh(["ip", "netns", "exec", this.ns(node), "curl", "-s", "--max-time", "2", `http://127.0.0.1:${ADMIN_PORT}${path}`], true);
    return result.code === 0 ? JSON.parse(result.stdout) : undefined;
  }

  /** Whether `node` has the virtual address on its eth0. */
  holdsVip(node: string): boolean {
    return sh(["ip", "-n", this.ns(node), "-4", "addr", "show", "dev", "eth0"], true).stdout.includes(`inet ${VIP}/`);
  }

  /** eth0's MAC address in `host`'s namespace. */
  macOf(host: string): string {
    const mac = sh(["ip", "-n", this.ns(host), "link", "show", "eth0"]).stdout.match(/link\/ether ([0-9a-f:]{17})/)?.[1];
    if (mac === undefined) throw new Error(`no MAC address on eth0 in ${host}`);
    return mac;
  }

  /** The MAC address `host` has in its neighbour (ARP) table for `address`, or undefined. */
  neighbour(host: string, address: string): string | undefined {
    return sh(["ip", "-n", this.ns(host), "neigh", "show", address, "dev", "eth0"]).stdout.match(/lladdr ([0-9a-f:]{17})/)?.[1];
  }

  /** The kernel's UDP counters in `host`'s namespace (/proc/net/snmp is per namespace): InDatagrams, NoPorts… */
  udpCounters(host: string): Record<string, number> {
    const [names, values] = sh(["ip", "netns", "exec", this.ns(host), "cat", "/proc/net/snmp"]).stdout.split("\n")
      .filter((line) => line.startsWith("Udp:"))
      .map((line) => line.split(/\s+/).slice(1));
    return Object.fromEntries(names.map((name, index) => [name, Number(values[index])]));
  }

  /** A directory holding only `tools` (links to the installed ones): a PATH on which nothing else is found. */
  pathWithOnly(tools: string[]): string {
    const dir = join(this.dir, `path-${tools.join("-")}`);
    mkdirSync(dir, { recursive: true });
    for (const tool of tools.filter((tool) => !existsSync(join(dir, tool)))) {
      symlinkSync(sh(["sh", "-c", `command -v ${tool}`]).stdout.trim(), join(dir, tool));
    }
    return dir;
  }

  /** Cuts (or restores) a node's link to the bridge: a partition. */
  setLink(node: string, up: boolean): void {
    sh(["ip", "-n", this.ns("br"), "link", "set", `v-${node}`, up ? "up" : "down"]);
  }
}

/** Polls `condition` every `everyMs` until it holds or `timeoutMs` passes; the time it took, or undefined. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, everyMs = 20): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (condition()) return performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return condition() ? performance.now() - start : undefined;
}
