/**
 * Failover in network namespaces: two or three real tandem nodes on a bridge share a virtual
 * address; a client namespace talks HTTP to it. Each node's pool is a backend in its own
 * namespace that answers with the node's name, so the answer says who holds the address.
 * Waits are on what can be seen (the answer on the VIP, a state in the admin API, a log line, the
 * kernel's counters and neighbour table), never on the clock: VRRP's intervals set the pace.
 * Root and Linux only (CI runs as root); skipped with the reason otherwise.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtime, tandemCommand } from "../support/tandem.ts";
import { ADMIN_PORT, BACKEND_PORT, CLIENT_IP, HTTP_PORT, labUnavailable, type LabProcess, sh, VIP, VrrpLab, waitUntil } from "../support/vrrp-lab.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("vrrp.test.ts", labUnavailable());
const arpingSkip = skip || requireTool("vrrp.test.ts", sh(["sh", "-c", "command -v arping"], true).code === 0 ? false : "arping is not installed (Debian package iputils-arping)");

const KEY = "the lab's shared vrrp key";
/** A second virtual address beside the lab's VIP. */
const SECOND_VIP = "10.88.0.51";
const runtimeArgv = (script: string) => (runtime === "bun" ? [process.execPath, script] : [process.execPath, "run", "-A", script]);

interface NodeOptions {
  priority: number;
  preempt?: boolean;
  advertInterval?: string;
  peers?: string[];
  virtualAddresses?: string[];
  /** track.readiness's weight; without it a pool with no usable member sends the instance to Fault. */
  readinessWeight?: number;
  /** Active health checks on the node's backend, so that stopping it makes the pool unusable. */
  healthChecks?: boolean;
  /** The PATH tandem runs with (the test's own by default). */
  path?: string;
}

function nodeConfig(lab: VrrpLab, node: string, options: NodeOptions) {
  // Two failed checks take the member down: a refused connection fails at once, a slow answer on
  // a loaded machine has 2 s before it counts as one.
  const health = options.healthChecks ? { health: { check: { path: "/", interval: "200ms", timeout: "2s", rise: 1, fall: 2 } } } : {};
  return {
    listeners: [{ address: `0.0.0.0:${HTTP_PORT}` }],
    pools: { app: { members: [{ name: node, url: `http://127.0.0.1:${BACKEND_PORT}` }], ...health } },
    accessLog: false,
    drainTimeout: "1s",
    admin: { address: `127.0.0.1:${ADMIN_PORT}` },
    vrrp: {
      key: KEY,
      address: lab.ipOf(node),
      ...(options.peers ? { peers: options.peers } : {}),
      instances: [{
        name: "web",
        vrid: 51,
        priority: options.priority,
        preempt: options.preempt ?? true,
        advertInterval: options.advertInterval ?? "100ms",
        interface: "eth0",
        virtualAddresses: options.virtualAddresses ?? [`${VIP}/24`],
        track: { readiness: options.readinessWeight === undefined ? {} : { weight: options.readinessWeight } },
      }],
    },
  };
}

/** Starts tandem in `node`'s namespace and waits for its VRRP agent's first state. */
async function startNode(lab: VrrpLab, node: string, options: NodeOptions): Promise<LabProcess> {
  const path = join(lab.dir, `${node}.json`);
  writeFileSync(path, JSON.stringify(nodeConfig(lab, node, options)));
  const command = tandemCommand(["serve", "--config", path]);
  const tandem = lab.spawn(node, options.path === undefined ? command : ["env", `PATH=${options.path}`, ...command]);
  await tandem.waitForLine((line) => line.event === "vrrp-transition", 20_000);
  return tandem;
}

const stateOf = (lab: VrrpLab, node: string): string | undefined => lab.admin(node, "/api/v1/vrrp")?.instances?.[0]?.state;
const masters = (lab: VrrpLab, nodes: string[]) => nodes.filter((node) => stateOf(lab, node) === "master");

/** A lab with a backend per node; `run` gets it and the lab is torn down whatever happens. */
async function withLab(nodeCount: number, run: (lab: VrrpLab) => Promise<void>): Promise<void> {
  const lab = new VrrpLab(nodeCount);
  try {
    lab.setUp();
    for (const node of lab.nodes) await lab.startBackend(node, runtimeArgv);
    await run(lab);
  } finally {
    lab.tearDown();
  }
}

describe(`VRRP failover in network namespaces (${runtime})`, { skip }, () => {
  test("SIGKILL of the master: the backup takes the address and answers; the restarted master preempts back", { timeout: 90_000 }, async () => {
    await withLab(2, async (lab) => {
      const n1 = await startNode(lab, "n1", { priority: 150 });
      await startNode(lab, "n2", { priority: 100 });
      assert.ok(await waitUntil(() => lab.getVip() === "n1", 10_000), "n1 serves the VIP");
      assert.equal(lab.holdsVip("n2"), false);
      n1.kill("SIGKILL");
      await n1.exited;
      const took = await waitUntil(() => lab.getVip() === "n2", 10_000);
      assert.ok(took !== undefined, `n2 did not answer on the VIP: ${JSON.stringify(lab.admin("n2", "/api/v1/vrrp"))}`);
      assert.equal(lab.holdsVip("n2"), true);
      assert.equal(stateOf(lab, "n2"), "master");
      // The killed master left its address behind; coming back it removes it, then preempts.
      await startNode(lab, "n1", { priority: 150 });
      assert.ok(await waitUntil(() => lab.getVip() === "n1", 10_000), "n1 preempted back");
      assert.ok(await waitUntil(() => !lab.holdsVip("n2") && stateOf(lab, "n2") === "backup", 10_000), "n2 gave the address back");
    });
  });

  test("graceful stop: the master resigns (priority 0) and the backup takes over at once; nopreempt keeps it there", { timeout: 90_000 }, async () => {
    await withLab(2, async (lab) => {
      const n1 = await startNode(lab, "n1", { priority: 150, advertInterval: "1s" });
      await startNode(lab, "n2", { priority: 100, advertInterval: "1s" });
      assert.ok(await waitUntil(() => lab.getVip() === "n1", 15_000), "n1 serves the VIP");
      n1.kill("SIGTERM");
      assert.ok(await waitUntil(() => lab.getVip() === "n2", 10_000), "n2 serves the VIP");
      // Worker 0 holds the agent: its stop comes after the resignation (another worker may stop first).
      await n1.waitForLine((line) => line.event === "stopped" && (line.worker ?? 0) === 0);
      assert.equal(lab.holdsVip("n1"), false, "the resigning master removed its address");
      // With 1 s adverts Master_Down_Interval is 3.6 s; the resignation let n2 take over after Skew_Time.
      const n2Status = lab.admin("n2", "/api/v1/vrrp");
      assert.match(n2Status.instances[0].lastTransition.reason, /resigned/);
      // n1 comes back with nopreempt: higher priority, yet it leaves the live master alone. With
      // preempt it would take over Master_Down_Interval (3.4 s at 150) after its start, whatever
      // it hears (the first test shows it): 16 copies of n2's advertisements (8 s of them) later
      // it must still be backup.
      await startNode(lab, "n1", { priority: 150, advertInterval: "1s", preempt: false });
      const heardAtStart = lab.udpCounters("n1").InDatagrams;
      assert.ok(await waitUntil(() => lab.udpCounters("n1").InDatagrams - heardAtStart >= 16, 60_000, 100), "n1 hears n2's advertisements");
      assert.equal(stateOf(lab, "n2"), "master", "nopreempt: the higher-priority node that came back stays backup");
      assert.equal(stateOf(lab, "n1"), "backup");
      assert.equal(lab.getVip(), "n2");
    });
  });

  test("readiness tracking: the master's pool loses its member, its priority drops by the weight and the backup takes the address; the member back, the master preempts", { timeout: 90_000 }, async () => {
    await withLab(2, async (lab) => {
      // 1 s advertisements: a loaded machine cannot delay one past Master_Down_Interval (3.6 s) and
      // make the backup take over before the test breaks the pool.
      const tracked = { readinessWeight: 60, healthChecks: true, advertInterval: "1s" };
      const n1 = await startNode(lab, "n1", { priority: 150, ...tracked });
      const n2 = await startNode(lab, "n2", { priority: 100, ...tracked });
      assert.ok(await waitUntil(() => lab.getVip() === "n1" && stateOf(lab, "n2") === "backup", 20_000), "n1 serves the VIP");
      const n1Instance = () => lab.admin("n1", "/api/v1/vrrp").instances[0];
      assert.deepEqual(n1Instance().trackers, [{ name: "readiness", passing: true, weight: 60 }]);
      assert.equal(n1Instance().effectivePriority, 150);

      // The control: the backup has stayed backup while the master's pool was usable.
      const becameMaster = (node: LabProcess, from = 0) => node.lines.slice(from).filter((line) => line.event === "vrrp-transition" && line.to === "master");
      assert.deepEqual(becameMaster(n2), [], "n2 did not take over while n1's pool was usable");
      const atBreak = { n1: n1.lines.length, n2: n2.lines.length };
      lab.backends.get("n1")!.kill("SIGKILL");
      await n1.waitForLine((line) => line.event === "vrrp-tracker" && line.passing === false, 15_000);
      assert.ok(await waitUntil(() => lab.getVip() === "n2", 15_000), `n2 serves the VIP: ${JSON.stringify(lab.admin("n2", "/api/v1/vrrp"))}`);
      // Output lines arrive through a pipe, a moment after what they say happened.
      assert.ok(await waitUntil(() => becameMaster(n2, atBreak.n2).length === 1, 10_000), "n2 took over once the pool was unusable");
      assert.ok(await waitUntil(() => !lab.holdsVip("n1"), 10_000), "n1 gave the address up");
      assert.equal(n1Instance().state, "backup", "a weighted tracker lowers the priority, it does not fault");
      assert.equal(n1Instance().effectivePriority, 90, "150 - 60");
      const unusableAt = n1.lines.slice(atBreak.n1).findIndex((line) => line.event === "health" && line.up === false);
      const trackerAt = n1.lines.slice(atBreak.n1).findIndex((line) => line.event === "vrrp-tracker" && line.passing === false);
      assert.ok(unusableAt !== -1 && unusableAt < trackerAt, `the health check took the member down, then the tracker failed: ${JSON.stringify(n1.lines.slice(atBreak.n1))}`);

      // The member answers again: n1's priority is 150 again, above n2's, and preempt gives it the address back.
      const atRepair = n1.lines.length;
      await lab.startBackend("n1", runtimeArgv);
      await n1.waitForLine((line) => line.event === "vrrp-tracker" && line.passing === true, 15_000);
      assert.ok(await waitUntil(() => lab.getVip() === "n1" && stateOf(lab, "n2") === "backup", 15_000), "n1 preempted back");
      assert.ok(await waitUntil(() => becameMaster(n1, atRepair).length === 1, 10_000), "n1 logged its return to master");
      assert.equal(n1Instance().effectivePriority, 150);
      assert.ok(await waitUntil(() => !lab.holdsVip("n2"), 10_000), "n2 gave the address back");
    });
  });

  test("arping missing: the address still moves to the node and answers, one vrrp-arping-missing line; the control node with arping announces it (the client learns its MAC unasked)", { timeout: 90_000, skip: arpingSkip }, async () => {
    await withLab(2, async (lab) => {
      // The client takes a gratuitous ARP into its neighbour table even for an address it never asked for.
      sh(["ip", "netns", "exec", lab.ns("c"), "sysctl", "-qw", "net.ipv4.conf.eth0.arp_accept=1"]);
      // Two addresses: the first failing arping must not be followed by one for the second.
      const virtualAddresses = [`${VIP}/24`, `${SECOND_VIP}/24`];
      // 1 s advertisements, so that n2 does not become master (and announce) by a delayed advertisement.
      const n1 = await startNode(lab, "n1", { priority: 150, advertInterval: "1s", virtualAddresses, path: lab.pathWithOnly(["ip"]) });
      const n2 = await startNode(lab, "n2", { priority: 100, advertInterval: "1s", virtualAddresses });
      const missing = await n1.waitForLine((line) => line.event === "vrrp-arping-missing", 15_000);
      assert.match(String(missing.message), /arping cannot run/);
      assert.ok(lab.holdsVip("n1"), "n1 added the address without arping");
      assert.equal(lab.neighbour("c", VIP), undefined, "no gratuitous ARP reached the client");
      assert.ok(await waitUntil(() => lab.getVip() === "n1", 10_000), "the client reaches n1 on the VIP (it asked by ARP itself)");
      assert.equal(lab.neighbour("c", VIP), lab.macOf("n1"));

      // The control: n2, with arping, takes over; the client, whose entry is gone, gets n2's MAC without asking.
      sh(["ip", "-n", lab.ns("c"), "neigh", "flush", "dev", "eth0"]);
      n1.kill("SIGTERM");
      await n1.waitForLine((line) => line.event === "stopped", 15_000);
      assert.equal(n1.lines.filter((line) => line.event === "vrrp-arping-missing").length, 1, "one line, for two addresses");
      assert.deepEqual(n1.lines.filter((line) => line.event === "vrrp-command-failed"), [], "and no other failure");
      const n2Mac = lab.macOf("n2");
      assert.ok(
        await waitUntil(() => lab.neighbour("c", VIP) === n2Mac && lab.neighbour("c", SECOND_VIP) === n2Mac, 15_000),
        `the client learned n2's MAC for both addresses from its gratuitous ARP: ${sh(["ip", "-n", lab.ns("c"), "neigh"]).stdout}`,
      );
      assert.ok(await waitUntil(() => lab.getVip() === "n2", 10_000), "the client reaches n2 on the VIP");
      assert.deepEqual(n2.lines.filter((line) => /^vrrp-(arping-missing|command-failed)$/.test(String(line.event))), []);
    });
  });

  test("partition and heal: both become master while cut off, exactly one after (unicast peers, three nodes)", { timeout: 90_000 }, async () => {
    await withLab(3, async (lab) => {
      const peers = (self: string) => lab.nodes.filter((node) => node !== self).map((node) => lab.ipOf(node));
      await startNode(lab, "n1", { priority: 200, peers: peers("n1") });
      const n2 = await startNode(lab, "n2", { priority: 150, peers: peers("n2") });
      await startNode(lab, "n3", { priority: 100, peers: peers("n3") });
      assert.ok(await waitUntil(() => masters(lab, lab.nodes).join() === "n1", 10_000));
      lab.setLink("n1", false);
      assert.ok(await waitUntil(() => masters(lab, lab.nodes).sort().join() === "n1,n2", 10_000), "n2 takes over beside the isolated n1");
      assert.equal(stateOf(lab, "n3"), "backup");
      assert.ok(await waitUntil(() => lab.getVip() === "n2", 10_000), `the client reaches n2: ${JSON.stringify(n2.lines.filter((line) => /^vrrp/.test(String(line.event))))} ${sh(["ip", "-n", lab.ns("n2"), "addr"]).stdout} ${sh(["ip", "-n", lab.ns("c"), "neigh"]).stdout} ${sh(["ip", "netns", "exec", lab.ns("c"), "curl", "-sv", "--max-time", "1", "http://10.88.0.50:8080/"], true).stderr}`);
      lab.setLink("n1", true);
      assert.ok(await waitUntil(() => masters(lab, lab.nodes).join() === "n1", 10_000), "after healing, exactly one master: the highest");
      assert.ok(await waitUntil(() => lab.getVip() === "n1", 10_000));
      assert.ok(await waitUntil(() => !lab.holdsVip("n2") && !lab.holdsVip("n3"), 10_000), "only n1 holds the address");
    });
  });

  test("forged, replayed, wrong-VRID, truncated and wrongly signed datagrams are dropped and counted", { timeout: 90_000 }, async () => {
    await withLab(2, async (lab) => {
      await startNode(lab, "n1", { priority: 150 });
      await startNode(lab, "n2", { priority: 100 });
      assert.ok(await waitUntil(() => stateOf(lab, "n1") === "master" && stateOf(lab, "n2") === "backup", 10_000));
      const forger = lab.spawn("c", [...runtimeArgv(new URL("../support/vrrp-forger.ts", import.meta.url).pathname), CLIENT_IP, lab.ipOf("n1"), lab.ipOf("n2")]);
      await forger.waitForLine((line) => line.event === "captured", 15_000);
      // The attacker on the segment takes n1's address as a second one to spoof its source.
      sh(["ip", "-n", lab.ns("c"), "addr", "add", `${lab.ipOf("n1")}/32`, "dev", "eth0"]);
      const done = await forger.waitForLine((line) => line.event === "sent", 15_000);
      assert.deepEqual(done.kinds, ["replay", "forged", "wrong-vrid", "truncated", "wrong-key", "garbage"]);
      let drops: Record<string, number> = {};
      const counted = await waitUntil(() => {
        drops = lab.admin("n2", "/api/v1/vrrp")?.drops ?? {};
        return drops.replay >= 1 && drops.auth >= 2 && drops.vrid >= 1 && drops.truncated >= 1 && drops.version >= 1;
      }, 15_000);
      assert.ok(counted !== undefined, JSON.stringify(drops));
      assert.equal(stateOf(lab, "n2"), "backup", "nothing forged moved the address");
      assert.equal(lab.admin("n2", "/api/v1/vrrp").instances[0].masterAddress, lab.ipOf("n1"));
      const metrics = sh(["ip", "netns", "exec", lab.ns("n2"), "curl", "-s", `http://127.0.0.1:${ADMIN_PORT}/metrics`]).stdout;
      assert.match(metrics, /tandem_vrrp_drops_total\{reason="replay"\} [1-9]/);
      assert.match(metrics, /tandem_vrrp_state\{instance="web",vrid="51",state="backup"\} 1/);
    });
  });
});
