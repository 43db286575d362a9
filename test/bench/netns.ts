/**
 * The benchmark's network: one network namespace per server and one for the load generator, so
 * that every server can listen on the same ports without colliding with each other or with
 * anything else on the machine, and so that no traffic takes the loopback shortcut that one
 * proxy would get and another would not.
 *
 *   tb-br       a bridge (br0) and the host end of every veth pair
 *   tb-client   wrk, curl and the idle-connection client     10.77.0.10
 *   tb-backend  the nginx members and the upload sink        10.77.0.20
 *   tb-haproxy, tb-nginx, tb-bun, tb-deno, tb-node, tb-stunnel,
 *   tb-bun-relay, tb-deno-relay, tb-bun-web, tb-deno-web        10.77.0.30 …
 *
 * Everything is named with the `tb-` prefix, so a crashed run's leftovers can be found and
 * removed by name at the next start.
 *
 * @module
 */
import { spawnSync } from "node:child_process";

export const PREFIX = "tb-";
const BRIDGE_NS = `${PREFIX}br`;
const SUBNET = "10.77.0";

/** The last octet of each host's address. */
export const HOSTS = {
  client: 10,
  backend: 20,
  haproxy: 30,
  nginx: 31,
  bun: 32,
  deno: 33,
  node: 34,
  stunnel: 35,
  "bun-relay": 36,
  "deno-relay": 37,
  "bun-web": 38,
  "deno-web": 39,
} as const;
export type Host = keyof typeof HOSTS;

export const nsName = (host: Host): string => `${PREFIX}${host}`;
export const ipOf = (host: Host): string => `${SUBNET}.${HOSTS[host]}`;

/** The argv that runs `command` inside the host's namespace (`ip netns exec` execs, so the PID is the command's). */
export function inNamespace(host: Host, command: readonly string[]): string[] {
  return ["ip", "netns", "exec", nsName(host), ...command];
}

/** Runs a command to completion; throws with its stderr when it fails (unless `allowFailure`). */
export function sh(command: readonly string[], allowFailure = false): string {
  const result = spawnSync(command[0], command.slice(1), { encoding: "utf8" });
  if (!allowFailure && (result.status !== 0 || result.error)) {
    throw new Error(`${command.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr.trim()}`);
  }
  return result.stdout ?? "";
}

/** The names of existing `tb-` namespaces. */
export function existingNamespaces(): string[] {
  return sh(["ip", "netns", "list"], true)
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter((name) => name.startsWith(PREFIX));
}

/**
 * Removes every `tb-` namespace, killing whatever still runs in it first: deleting a namespace's
 * name does not stop its processes, and a leftover nginx or wrk would skew the next run. Those
 * processes can only be ours (a previous run of this harness), found by namespace, killed by PID.
 */
export function tearDownNetwork(): void {
  const namespaces = existingNamespaces();
  const pidsIn = (ns: string) => sh(["ip", "netns", "pids", ns], true).split(/\s+/).filter(Boolean).map(Number);
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const pids = namespaces.flatMap(pidsIn);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    if (signal === "SIGTERM") Bun.sleepSync(500);
  }
  // Deleting a namespace deletes the veth ends inside it, and with them their peers on the bridge.
  for (const ns of namespaces) sh(["ip", "netns", "delete", ns], true);
}

/**
 * Loopback's MTU on every link. veth has no receive coalescing (GRO) by default, so at 1500 bytes
 * a proxy reads a 64 KiB response in 1500-byte packets: HAProxy lost two thirds of its 64 KiB
 * throughput that way (nginx a third), which a real NIC with GRO would not do to it. At 64 KiB
 * the namespaces cost about what loopback costs, for every proxy alike.
 */
const MTU = "65535";

/**
 * Creates the bridge namespace and one namespace per host, each with loopback up and a veth to
 * the bridge. Per-namespace sysctls: the handshake scenario opens tens of thousands of short
 * connections, so TIME_WAIT reuse and a wide port range keep the client from running out of ports.
 */
export function setUpNetwork(hosts: readonly Host[]): void {
  sh(["ip", "netns", "add", BRIDGE_NS]);
  sh(["ip", "-n", BRIDGE_NS, "link", "set", "lo", "up"]);
  sh(["ip", "-n", BRIDGE_NS, "link", "add", "br0", "mtu", MTU, "type", "bridge"]);
  sh(["ip", "-n", BRIDGE_NS, "link", "set", "br0", "up"]);
  for (const host of hosts) {
    const ns = nsName(host);
    sh(["ip", "netns", "add", ns]);
    sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    // Created in the bridge namespace with its peer placed directly in the host's namespace.
    sh(["ip", "-n", BRIDGE_NS, "link", "add", `v-${host}`, "mtu", MTU, "type", "veth", "peer", "name", "eth0", "mtu", MTU, "netns", ns]);
    sh(["ip", "-n", BRIDGE_NS, "link", "set", `v-${host}`, "master", "br0", "up"]);
    sh(["ip", "-n", ns, "addr", "add", `${ipOf(host)}/24`, "dev", "eth0"]);
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000", "net.core.somaxconn=8192"]);
  }
}
