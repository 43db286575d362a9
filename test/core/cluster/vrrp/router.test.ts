import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createVirtualRouter, masterDownInterval, skewTime, type VirtualRouter, type VirtualRouterOptions } from "../../../../core/cluster/vrrp/router.ts";
import { FakeClock } from "../../../support/fake-clock.ts";

interface Node {
  name: string;
  address: string;
  router: VirtualRouter;
  /** Every state change as "state@ms". */
  history: string[];
  /** Priorities of the advertisements it sent, with times. */
  sent: [number, number][];
  interval: number;
}

/**
 * Routers on a synchronous in-memory segment: an advertisement reaches every other live node
 * at the instant it is sent. `cut` nodes neither send nor hear (a partition or a dead machine).
 */
function segment(clock: FakeClock) {
  const nodes: Node[] = [];
  const cut = new Set<string>();
  const queue: [Node, number][] = [];
  let delivering = false;
  const deliver = () => {
    if (delivering) return;
    delivering = true;
    while (queue.length > 0) {
      const [from, priority] = queue.shift()!;
      for (const node of nodes) {
        if (node === from || cut.has(node.name)) continue;
        node.router.received({ priority, interval: from.interval, sender: from.address });
      }
    }
    delivering = false;
  };
  type Spec = Partial<Omit<VirtualRouterOptions, "clock" | "send" | "onTransition">> & { name: string; address: string };
  const add = (spec: Spec): Node => {
    const node = { name: spec.name, address: spec.address, history: [] as string[], sent: [] as [number, number][], interval: spec.advertInterval ?? 1000 } as Node;
    node.router = createVirtualRouter({
      clock,
      vrid: 51,
      priority: 100,
      advertInterval: 1000,
      preempt: true,
      preemptDelay: 0,
      ...spec,
      send(priority) {
        node.sent.push([priority, clock.now()]);
        if (cut.has(node.name)) return;
        queue.push([node, priority]);
        deliver();
      },
      onTransition: (transition) => node.history.push(`${transition.to}@${transition.at}`),
    });
    nodes.push(node);
    return node;
  };
  /** A machine that dies: no resignation, nothing sent or heard any more. */
  const kill = (node: Node) => {
    cut.add(node.name);
    node.router.stop();
  };
  return { add, kill, cut };
}

const mdi = masterDownInterval;

describe("VRRP state machine (RFC 5798 / 9568 timings)", () => {
  test("Skew_Time and Master_Down_Interval follow the RFC formulas", () => {
    assert.equal(skewTime(100, 1000), 609.375);
    assert.equal(mdi(100, 1000), 3609.375);
    assert.equal(mdi(254, 100), 300 + 0.78125);
    assert.equal(mdi(1, 1000), 3000 + 996.09375);
  });

  test("a lone backup becomes master after exactly Master_Down_Interval, then advertises every interval", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1" });
    a.router.start();
    assert.equal(a.router.state, "backup");
    clock.advance(3609.374);
    assert.equal(a.router.state, "backup");
    clock.advance(0.001);
    assert.equal(a.router.state, "master");
    assert.deepEqual(a.history, ["backup@0", "master@3609.375"]);
    assert.equal(a.router.masterAddress, "10.0.0.1");
    clock.advance(2000);
    assert.deepEqual(a.sent, [[100, 3609.375], [100, 4609.375], [100, 5609.375]]);
  });

  test("the address owner (priority 255) is master at once", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const owner = add({ name: "owner", address: "10.0.0.1", priority: 255 });
    owner.router.start();
    assert.deepEqual(owner.history, ["master@0"]);
    assert.deepEqual(owner.sent, [[255, 0]]);
  });

  test("SIGKILL of the master: the backup takes over Master_Down_Interval after the last advertisement", () => {
    const clock = new FakeClock();
    const { add, kill } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1", priority: 150 });
    const b = add({ name: "b", address: "10.0.0.2", priority: 100 });
    a.router.start();
    b.router.start();
    clock.advance(10_000);
    const firstMaster = mdi(150, 1000);
    assert.deepEqual(a.history, ["backup@0", `master@${firstMaster}`]);
    assert.deepEqual(b.history, ["backup@0"]);
    assert.equal(b.router.masterAddress, "10.0.0.1");
    kill(a);
    const lastAdvert = firstMaster + 6 * 1000;
    clock.advance(10_000);
    assert.deepEqual(b.history, ["backup@0", `master@${lastAdvert + mdi(100, 1000)}`]);
  });

  test("Master_Down_Interval comes from the master's advertised interval, not the backup's own", () => {
    const clock = new FakeClock();
    const { add, kill } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1", priority: 255, advertInterval: 100 });
    const b = add({ name: "b", address: "10.0.0.2", priority: 100, advertInterval: 1000 });
    a.router.start();
    b.router.start();
    clock.advance(1000);
    kill(a); // last advertisement at 1000
    clock.advance(2000);
    assert.deepEqual(b.history, ["backup@0", `master@${1000 + mdi(100, 100)}`]);
    assert.equal(mdi(100, 100), 360.9375);
  });

  test("graceful stop: the master resigns with priority 0 and the backup takes over after Skew_Time only", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1", priority: 150 });
    const b = add({ name: "b", address: "10.0.0.2", priority: 100 });
    a.router.start();
    b.router.start();
    clock.advance(5000);
    a.router.stop();
    assert.deepEqual(a.sent.at(-1), [0, 5000]);
    assert.equal(a.router.state, "initialize");
    clock.advance(2000);
    assert.deepEqual(b.history, ["backup@0", `master@${5000 + skewTime(100, 1000)}`]);
  });

  test("preemption: a higher-priority node that starts later takes over after its Master_Down_Interval", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const low = add({ name: "low", address: "10.0.0.1", priority: 100 });
    const high = add({ name: "high", address: "10.0.0.2", priority: 200 });
    low.router.start();
    clock.advance(5000);
    high.router.start();
    clock.advance(5000);
    const takeover = 5000 + mdi(200, 1000);
    assert.deepEqual(high.history, ["backup@5000", `master@${takeover}`]);
    // The old master hears the higher priority in the first advertisement and steps down at once.
    assert.deepEqual(low.history, ["backup@0", `master@${mdi(100, 1000)}`, `backup@${takeover}`]);
    assert.equal(low.router.masterAddress, "10.0.0.2");
  });

  test("nopreempt: the higher-priority node stays backup while a lower master lives", () => {
    const clock = new FakeClock();
    const { add, kill } = segment(clock);
    const low = add({ name: "low", address: "10.0.0.1", priority: 100 });
    const high = add({ name: "high", address: "10.0.0.2", priority: 200, preempt: false });
    low.router.start();
    clock.advance(5000);
    high.router.start();
    clock.advance(30_000);
    assert.deepEqual(high.history, ["backup@5000"]);
    assert.equal(low.router.state, "master");
    kill(low);
    const lastAdvert = mdi(100, 1000) + 31_000;
    clock.advance(10_000);
    assert.deepEqual(high.history, ["backup@5000", `master@${lastAdvert + mdi(200, 1000)}`]);
  });

  test("preemptDelay: a lower master is accepted for the delay, then preempted after Master_Down_Interval", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const low = add({ name: "low", address: "10.0.0.1", priority: 100 });
    const high = add({ name: "high", address: "10.0.0.2", priority: 200, preemptDelay: 10_000 });
    low.router.start();
    clock.advance(5000);
    high.router.start();
    clock.advance(30_000);
    // low advertises at 3609.375 + k·1000; the last one accepted is the last before 15000.
    const lastAccepted = mdi(100, 1000) + 11_000;
    assert.equal(lastAccepted, 14_609.375);
    assert.deepEqual(high.history, ["backup@5000", `master@${lastAccepted + mdi(200, 1000)}`]);
  });

  test("split brain: after a partition heals, the lower master steps down; equal priorities fall to the higher address", () => {
    for (const [aPriority, bPriority, winner] of [[100, 150, "b"], [120, 120, "b"]] as const) {
      const clock = new FakeClock();
      const { add, cut } = segment(clock);
      const a = add({ name: "a", address: "10.0.0.9", priority: aPriority });
      const b = add({ name: "b", address: "10.0.0.10", priority: bPriority });
      a.router.start();
      b.router.start();
      clock.advance(5000);
      cut.add("a"); // a neither hears nor is heard
      clock.advance(10_000);
      assert.equal(a.router.state, "master");
      assert.equal(b.router.state, "master");
      cut.delete("a");
      const sentBefore = [a.sent.length, b.sent.length];
      clock.advance(1000);
      // Whoever speaks first after the heal, the loser steps down then: the winner answers at once.
      const firstAdvert = Math.min(...[a.sent[sentBefore[0]], b.sent[sentBefore[1]]].filter((sent) => sent !== undefined).map((sent) => sent[1]));
      const loser = winner === "b" ? a : b;
      assert.equal(loser.history.at(-1), `backup@${firstAdvert}`);
      const states = [a.router.state, b.router.state];
      assert.deepEqual(states, winner === "b" ? ["backup", "master"] : ["master", "backup"], `priorities ${aPriority}/${bPriority}`);
      // Stable afterwards: no more changes.
      const transitions = a.router.transitions + b.router.transitions;
      clock.advance(20_000);
      assert.equal(a.router.transitions + b.router.transitions, transitions);
    }
  });

  test("after a heal, a master stepping down for the winner's advertisement speaks once more, so the winner hears a lower master (its cue to announce the addresses again)", () => {
    const clock = new FakeClock();
    const { add, cut } = segment(clock);
    let lowerMastersHeard = 0;
    const loser = add({ name: "loser", address: "10.0.0.9", priority: 100 });
    const winner = add({ name: "winner", address: "10.0.0.10", priority: 150, onLowerMaster: () => lowerMastersHeard++ });
    loser.router.start();
    winner.router.start();
    clock.advance(5000);
    cut.add("loser");
    clock.advance(10_000);
    assert.deepEqual([loser.router.state, winner.router.state], ["master", "master"]);
    cut.delete("loser");
    // The winner's advertisement arrives first: the loser has said nothing since the heal.
    const loserSent = loser.sent.length;
    loser.router.received({ priority: 150, interval: 1000, sender: winner.address });
    assert.equal(loser.router.state, "backup");
    assert.deepEqual(loser.sent.slice(loserSent).map(([priority]) => priority), [100], "one advertisement at its own priority");
    assert.equal(lowerMastersHeard, 1, "the winner heard the lower master");
    assert.equal(winner.router.state, "master");
    const transitions = loser.router.transitions + winner.router.transitions;
    clock.advance(20_000);
    assert.equal(loser.router.transitions + winner.router.transitions, transitions, "stable afterwards");
  });

  test("a tracker's weight lowers the priority: a preempting backup then takes over", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1", priority: 150 });
    const b = add({ name: "b", address: "10.0.0.2", priority: 100 });
    a.router.start();
    b.router.start();
    clock.advance(5000);
    a.router.setPenalty(60);
    assert.equal(a.router.effectivePriority, 90);
    clock.advance(10_000);
    // a's adverts at 3414.0625 + k·1000: the one at 4414.0625 still carried 150, the one at 5414.0625 carries 90.
    const lastHigh = mdi(150, 1000) + 1000;
    assert.deepEqual(b.history, ["backup@0", `master@${lastHigh + mdi(100, 1000)}`]);
    assert.equal(a.router.state, "backup");
    a.router.setPenalty(0);
    clock.advance(10_000);
    assert.equal(a.router.state, "master", "preempts back once healthy");
    assert.deepEqual([a.router.setPenalty(500), a.router.effectivePriority], [undefined, 1], "never below 1");
  });

  test("a tracker without weight sends the node to Fault: it resigns, and comes back as backup", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1", priority: 150 });
    const b = add({ name: "b", address: "10.0.0.2", priority: 100 });
    a.router.start();
    b.router.start();
    clock.advance(5000);
    a.router.setFault(true);
    assert.deepEqual(a.sent.at(-1), [0, 5000]);
    clock.advance(5000);
    assert.equal(a.router.state, "fault");
    assert.deepEqual(b.history, ["backup@0", `master@${5000 + skewTime(100, 1000)}`]);
    const sentInFault = a.sent.length;
    clock.advance(5000);
    assert.equal(a.sent.length, sentInFault, "silent in Fault");
    a.router.setFault(false);
    assert.equal(a.router.state, "backup");
    clock.advance(10_000);
    assert.deepEqual(a.history.slice(-2), ["backup@15000", `master@${15_000 + mdi(150, 1000)}`]);
    assert.equal(b.router.state, "backup");
  });

  test("a node whose tracker fails before start starts in Fault", () => {
    const clock = new FakeClock();
    const { add } = segment(clock);
    const a = add({ name: "a", address: "10.0.0.1" });
    a.router.setFault(true);
    a.router.start();
    clock.advance(10_000);
    assert.deepEqual(a.history, ["fault@0"]);
    assert.deepEqual(a.sent, []);
  });
});
