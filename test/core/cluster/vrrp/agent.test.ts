import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { type ReplicationSync, startVrrpAgent, type VrrpAgent } from "../../../../core/cluster/vrrp/agent.ts";
import { decodeAdvertisement } from "../../../../core/cluster/vrrp/packet.ts";
import { type VrrpConfig, VrrpSchema } from "../../../../core/cluster/vrrp/schema.ts";
import type { RunCommand } from "../../../../core/ports.ts";
import { FakeClock } from "../../../support/fake-clock.ts";
import { MemoryDatagramNetwork } from "../../../support/memory-datagrams.ts";

const KEY = "a shared secret for the tests";

interface Command {
  argv: readonly string[];
  env?: Record<string, string>;
}

/** A node: its agent, the commands it ran, and switches for its tracker results. */
async function node(
  clock: FakeClock,
  network: MemoryDatagramNetwork,
  address: string,
  vrrp: Record<string, unknown>,
  key = KEY,
  replication?: () => ReplicationSync,
) {
  const commands: Command[] = [];
  const state = { ready: true, trackerExit: 0 };
  const runCommand: RunCommand = (argv, options) => {
    commands.push({ argv, env: options.env });
    return Promise.resolve({ code: argv[0] === "check-app" ? state.trackerExit : 0, output: "" });
  };
  const config = v.parse(VrrpSchema, { key, address, ...vrrp });
  const logs: Record<string, unknown>[] = [];
  const agent = await startVrrpAgent({
    config,
    key,
    clock,
    bindDatagram: network.bindFor(address),
    runCommand,
    ready: () => state.ready,
    log: (line) => logs.push(line),
    epoch: 1000,
    replication,
  });
  const instance = (name = "web") => agent.status().instances.find((i) => i.name === name)!;
  return { agent, commands, state, logs, instance, config };
}

/** Lets real promises (WebCrypto, deliveries) settle, then moves fake time in small steps. */
async function run(clock: FakeClock, ms: number, step = 10): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += step) {
    clock.advance(step);
    for (let i = 0; i < 4; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

const web = (priority: number, extra: Record<string, unknown> = {}) => ({
  instances: [{ name: "web", vrid: 51, priority, advertInterval: "100ms", interface: "eth0", virtualAddresses: ["10.0.0.100/24"], ...extra }],
});

async function stopAll(...agents: VrrpAgent[]) {
  await Promise.all(agents.map((agent) => agent.stop()));
}

describe("VRRP agent over an in-memory UDP segment", () => {
  test("multicast: the higher priority becomes master, adds the address, announces it and notifies", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const notify = { master: ["notify-master"], backup: ["notify-backup"] };
    const a = await node(clock, network, "10.0.0.11", web(150, { notify }));
    const b = await node(clock, network, "10.0.0.12", web(100, { notify }));
    await run(clock, 2000);
    assert.equal(a.instance().state, "master");
    assert.equal(b.instance().state, "backup");
    assert.equal(b.instance().masterAddress, "10.0.0.11");
    assert.ok(network.sent.every((datagram) => datagram.to === "224.0.0.18"));
    const argvs = a.commands.map((command) => command.argv.join(" "));
    assert.deepEqual(argvs, [
      "ip -4 addr del 10.0.0.100/24 dev eth0",
      "notify-backup",
      "ip -4 addr add 10.0.0.100/24 dev eth0",
      "arping -U -c 1 -I eth0 10.0.0.100",
      "notify-master",
    ]);
    assert.deepEqual(a.commands.at(-1)!.env, {
      TANDEM_VRRP_STATE: "MASTER",
      TANDEM_VRRP_INSTANCE: "web",
      TANDEM_VRRP_VRID: "51",
      TANDEM_VRRP_PRIORITY: "150",
      TANDEM_VRRP_VIRTUAL_ADDRESSES: "10.0.0.100/24",
    });
    assert.ok(!b.commands.some((command) => command.argv.includes("add")));
    await stopAll(a.agent, b.agent);
  });

  test("graceful stop: the master resigns and removes its address; the backup takes over within Skew_Time", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const a = await node(clock, network, "10.0.0.11", web(150));
    const b = await node(clock, network, "10.0.0.12", web(100));
    await run(clock, 1000);
    assert.equal(a.instance().state, "master");
    await a.agent.stop();
    assert.equal(a.commands.at(-1)!.argv.join(" "), "ip -4 addr del 10.0.0.100/24 dev eth0");
    // Skew_Time at priority 100 and 100 ms is 60.9 ms: well before Master_Down_Interval (360.9 ms).
    await run(clock, 100);
    assert.equal(b.instance().state, "master");
    assert.match(b.instance().lastTransition!.reason, /resigned/);
    await stopAll(b.agent);
  });

  test("unicast: forged, replayed, wrong-key, wrong-VRID, truncated and stranger datagrams are dropped and counted", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const a = await node(clock, network, "10.0.0.11", { peers: ["10.0.0.12"], ...web(150) });
    const b = await node(clock, network, "10.0.0.12", { peers: ["10.0.0.11"], ...web(100) });
    await run(clock, 1000);
    assert.equal(a.instance().state, "master");
    assert.ok(network.sent.every((datagram) => datagram.to === "10.0.0.12" || datagram.to === "10.0.0.11"));
    const fromA = network.sent.filter((datagram) => datagram.from === "10.0.0.11").map((datagram) => decodeAdvertisement(datagram.data));
    // Every advertisement twice, back to back, each copy with its own counter.
    assert.deepEqual(fromA.slice(0, 4).map((decoded) => decoded.ok && [decoded.advert.priority, decoded.trailer.counter]), [[150, 1], [150, 2], [150, 3], [150, 4]]);
    const captured = network.sent.find((datagram) => datagram.from === "10.0.0.11")!.data;
    const forged = captured.slice();
    forged[2] = 255; // claim priority 255 ...
    forged[7] = 0; // ... and patch nothing else: the checksum or the MAC must catch it
    const forgedChecksum = captured.slice();
    forgedChecksum[forgedChecksum.length - 1] ^= 1;
    const stranger = await node(clock, network, "10.0.0.66", { peers: ["10.0.0.12"], ...web(254) }, "a different key entirely");
    const otherVrid = await node(clock, network, "10.0.0.77", { peers: ["10.0.0.12"], instances: [{ name: "other", vrid: 52, advertInterval: "100ms", interface: "eth0" }] });
    const from = { address: "10.0.0.11", port: 5798 };
    network.inject(captured, from, "10.0.0.12", 5798);
    network.inject(forged, from, "10.0.0.12", 5798);
    network.inject(forgedChecksum, from, "10.0.0.12", 5798);
    network.inject(captured.subarray(0, 30), from, "10.0.0.12", 5798);
    await run(clock, 1000);
    const drops = b.agent.status().drops;
    assert.equal(drops.replay, 1);
    assert.ok(drops.checksum + drops.auth >= 2, JSON.stringify(drops));
    assert.equal(drops.truncated, 1);
    assert.ok(drops["unknown-sender"] >= 5, "the stranger and the other VRID's node are not peers");
    assert.equal(b.instance().drops.replay, 1, "attributed to the instance of VRID 51");
    assert.equal(b.instance().state, "backup");
    assert.equal(b.instance().masterAddress, "10.0.0.11");
    await stopAll(a.agent, b.agent, stranger.agent, otherVrid.agent);
  });

  test("a dead unicast peer: refused sends are counted as lost and skip no copy and no other peer", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const peersOf = (self: string) => ["10.0.0.11", "10.0.0.12", "10.0.0.13"].filter((address) => address !== self);
    const a = await node(clock, network, "10.0.0.11", { peers: peersOf("10.0.0.11"), ...web(150) });
    const b = await node(clock, network, "10.0.0.12", { peers: peersOf("10.0.0.12"), ...web(100) });
    // 10.0.0.13 is dead, and listed first by b: on Bun every send to it throws.
    network.refusing.add("10.0.0.13");
    await run(clock, 2000);
    assert.equal(a.instance().state, "master");
    assert.equal(b.instance().state, "backup");
    assert.equal(b.instance().transitions, 1, "b never took over: it heard every advertisement");
    const fromA = network.sent.filter((datagram) => datagram.from === "10.0.0.11");
    assert.ok(fromA.length >= 30, `a's adverts reached b: ${fromA.length}`);
    assert.ok(fromA.every((datagram) => datagram.to === "10.0.0.12"));
    assert.equal(a.agent.status().sendErrors, fromA.length, "one refused send to the dead peer per datagram to the live one");
    assert.equal(a.logs.filter((line) => line.event === "vrrp-send-failed").length, 0);
    await stopAll(a.agent, b.agent);
  });

  test("after a start with replication: held at priority 1 (no preemption) until a resync, then preempts", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const b = await node(clock, network, "10.0.0.12", { peers: ["10.0.0.11"], ...web(100) });
    await run(clock, 1000);
    assert.equal(b.instance().state, "master");
    let replication: ReplicationSync = "waiting";
    const a = await node(clock, network, "10.0.0.11", { peers: ["10.0.0.12"], ...web(200) }, KEY, () => replication);
    await run(clock, 2000);
    assert.equal(a.instance().state, "backup", "no preemption while the session table is missing");
    assert.equal(a.instance().effectivePriority, 1);
    assert.equal(b.instance().state, "master");
    assert.equal(a.agent.status().sync.state, "waiting");
    replication = "synced";
    await run(clock, 1000);
    assert.equal(a.instance().state, "master");
    assert.equal(b.instance().state, "backup");
    assert.equal(a.instance().effectivePriority, 200);
    const sync = a.logs.find((line) => line.event === "vrrp-sync")!;
    assert.equal(sync.state, "synced");
    assert.ok((sync.waitedMs as number) >= 2000 && (sync.waitedMs as number) < 2200, String(sync.waitedMs));
    const transition = a.logs.findIndex((line) => line.event === "vrrp-transition" && line.to === "master");
    assert.ok(a.logs.indexOf(sync) < transition, "synced before it took the address");
    assert.deepEqual(a.agent.status().sync, { state: "synced", timeoutMs: 5000, waitedMs: sync.waitedMs });
    await stopAll(a.agent, b.agent);
  });

  test("without a resync the wait ends at syncTimeout; alone, a waiting node still becomes master (at priority 1)", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const b = await node(clock, network, "10.0.0.12", { peers: ["10.0.0.11"], ...web(100) });
    await run(clock, 1000);
    const a = await node(clock, network, "10.0.0.11", { peers: ["10.0.0.12"], syncTimeout: "2s", ...web(200) }, KEY, () => "waiting");
    await run(clock, 1500);
    assert.equal(a.instance().state, "backup");
    await run(clock, 1500);
    assert.equal(a.instance().state, "master");
    assert.equal(a.logs.find((line) => line.event === "vrrp-sync")?.state, "timed-out");
    await stopAll(a.agent, b.agent);
    const aloneClock = new FakeClock();
    const aloneNetwork = new MemoryDatagramNetwork();
    const alone = await node(aloneClock, aloneNetwork, "10.0.0.11", web(200), KEY, () => "waiting");
    await run(aloneClock, 1000);
    assert.equal(alone.instance().state, "master", "no one else speaks: it takes over as any backup would");
    const advertised = aloneNetwork.sent.map((datagram) => decodeAdvertisement(datagram.data)).map((decoded) => decoded.ok && decoded.advert.priority);
    assert.ok(advertised.length > 0 && advertised.every((priority) => priority === 1), JSON.stringify(advertised));
    await stopAll(alone.agent);
  });

  test("multicast without peers: a node holding another key or another VRID changes nothing, and is counted", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const a = await node(clock, network, "10.0.0.11", web(150));
    const intruder = await node(clock, network, "10.0.0.66", web(254), "not the shared key at all");
    const neighbour = await node(clock, network, "10.0.0.77", { instances: [{ name: "other", vrid: 52, advertInterval: "100ms", interface: "eth0" }] });
    await run(clock, 1000);
    assert.equal(a.instance().state, "master");
    const drops = a.agent.status().drops;
    assert.ok(drops.auth >= 5 && drops.vrid >= 5, JSON.stringify(drops));
    await stopAll(a.agent, intruder.agent, neighbour.agent);
  });

  test("trackers: a failing weighted command lowers the priority (after `fall`), readiness sends to Fault", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const track = { commands: [{ argv: ["check-app"], interval: "100ms", fall: 2, rise: 2, weight: 60 }], readiness: { interval: "100ms" } };
    const a = await node(clock, network, "10.0.0.11", web(150, { track, notify: { fault: ["notify-fault"] } }));
    const b = await node(clock, network, "10.0.0.12", web(100));
    await run(clock, 1000);
    assert.equal(a.instance().state, "master");
    a.state.trackerExit = 1;
    await run(clock, 1000);
    assert.equal(a.instance().effectivePriority, 90);
    assert.equal(a.instance().state, "backup");
    assert.equal(b.instance().state, "master");
    assert.deepEqual(a.instance().trackers.map((t) => [t.name, t.passing, t.weight]), [["readiness", true, null], ["check-app", false, 60]]);
    a.state.trackerExit = 0;
    await run(clock, 1000);
    assert.equal(a.instance().state, "master", "preempts back once the check passes twice");
    a.state.ready = false;
    await run(clock, 300);
    assert.equal(a.instance().state, "fault");
    assert.equal(b.instance().state, "master");
    const fault = a.commands.find((command) => command.argv[0] === "notify-fault")!;
    assert.equal(fault.env!.TANDEM_VRRP_STATE, "FAULT");
    a.state.ready = true;
    await run(clock, 1000);
    assert.equal(a.instance().state, "master");
    await stopAll(a.agent, b.agent);
  });

  test("several VRIDs: an active-active pair, each node master of one", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const pair = (first: number, second: number) => ({
      instances: [
        { name: "one", vrid: 1, priority: first, advertInterval: "100ms", interface: "eth0", virtualAddresses: ["10.0.0.101/24"] },
        { name: "two", vrid: 2, priority: second, advertInterval: "100ms", interface: "eth0", virtualAddresses: ["10.0.0.102/24"] },
      ],
    });
    const a = await node(clock, network, "10.0.0.11", pair(200, 100));
    const b = await node(clock, network, "10.0.0.12", pair(100, 200));
    await run(clock, 1000);
    assert.deepEqual([a.instance("one").state, a.instance("two").state], ["master", "backup"]);
    assert.deepEqual([b.instance("one").state, b.instance("two").state], ["backup", "master"]);
    await stopAll(a.agent, b.agent);
  });

  test("reload: unchanged instances keep running, changed ones restart, new ones start, removed ones resign", async () => {
    const clock = new FakeClock();
    const network = new MemoryDatagramNetwork();
    const a = await node(clock, network, "10.0.0.11", {
      instances: [
        { name: "keep", vrid: 1, advertInterval: "100ms", interface: "eth0" },
        { name: "change", vrid: 2, advertInterval: "100ms", interface: "eth0" },
        { name: "drop", vrid: 3, advertInterval: "100ms", interface: "eth0", virtualAddresses: ["10.0.0.103/24"] },
      ],
    });
    await run(clock, 1000);
    const keepTransitions = a.instance("keep").transitions;
    const next: VrrpConfig = v.parse(VrrpSchema, {
      key: KEY,
      address: "10.0.0.11",
      instances: [
        { name: "keep", vrid: 1, advertInterval: "100ms", interface: "eth0" },
        { name: "change", vrid: 2, priority: 120, advertInterval: "100ms", interface: "eth0" },
        { name: "new", vrid: 4, advertInterval: "100ms", interface: "eth0" },
      ],
    });
    await a.agent.reload(next, KEY);
    assert.deepEqual(a.agent.status().instances.map((i) => [i.name, i.state]), [["keep", "master"], ["change", "backup"], ["new", "backup"]]);
    assert.equal(a.instance("keep").transitions, keepTransitions);
    assert.equal(a.instance("change").priority, 120);
    assert.equal(a.commands.at(-1)!.argv.join(" "), "ip -4 addr del 10.0.0.103/24 dev eth0");
    await a.agent.reload(next, "a brand new shared key");
    assert.deepEqual(a.agent.status().instances.map((i) => [i.name, i.state]), [["keep", "backup"], ["change", "backup"], ["new", "backup"]]);
    await stopAll(a.agent);
  });
});
