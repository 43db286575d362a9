import { test } from "node:test";
import assert from "node:assert/strict";
import { type Balancer, createBalancer } from "../../core/balancer/balancer.ts";
import { ReplicaStore } from "../../core/cluster/replication/replica-store.ts";
import { createWorkerSync, type SyncChannel, type SyncMessage, type WorkerSync } from "../../core/worker-sync.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../support/fake-upstream.ts";

/** BroadcastChannel semantics in memory: every other member of the hub gets each message, in order, at once. */
class Hub {
  readonly channels = new Set<MemoryChannel>();
  open(): MemoryChannel {
    const channel = new MemoryChannel(this);
    this.channels.add(channel);
    return channel;
  }
}

class MemoryChannel implements SyncChannel {
  readonly #listeners: ((event: MessageEvent<SyncMessage>) => void)[] = [];
  constructor(readonly hub: Hub) {}
  postMessage(message: SyncMessage): void {
    for (const channel of this.hub.channels) {
      if (channel === this) continue;
      for (const listener of channel.#listeners) listener({ data: structuredClone(message) } as MessageEvent<SyncMessage>);
    }
  }
  addEventListener(_type: "message", listener: (event: MessageEvent<SyncMessage>) => void): void {
    this.#listeners.push(listener);
  }
  close(): void {
    this.hub.channels.delete(this);
  }
}

interface Worker {
  balancer: Balancer;
  store: ReplicaStore;
  sync: WorkerSync;
  reloads: string[];
}

function startWorker(hub: Hub, clock: FakeClock, lead: boolean): Worker {
  const config = poolConfig([{ name: "a" }, { name: "b" }], { sticky: { mode: "learn" } });
  let sync: WorkerSync | undefined;
  const balancer = createBalancer(config, {
    clock,
    upstream: fakeFarm(["a", "b"]).upstream,
    log: () => {},
    onHealth: (pool, member, transition) => sync?.healthChanged(pool, member, transition.up, transition.reason),
  });
  const store = new ReplicaStore({ node: "lb1", pools: () => balancer.pools, clock });
  store.attach();
  const reloads: string[] = [];
  sync = createWorkerSync({ lead, store, balancer, reload: (trigger) => reloads.push(trigger), channel: hub.open() });
  return { balancer, store, sync, reloads };
}

const table = (worker: Worker) => worker.balancer.pools.get("app")!.sticky!.table!;
const member = (worker: Worker, name: string) => worker.balancer.pools.get("app")!.member(name)!;

test("worker sync: a session learned or deleted in one worker holds in the others, without echo", () => {
  const hub = new Hub();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  let posted = 0;
  for (const channel of hub.channels) {
    const post = channel.postMessage.bind(channel);
    channel.postMessage = (message) => (posted++, post(message));
  }
  table(other).set("s1", "b");
  assert.equal(table(lead).peek("s1")?.member, "b");
  assert.equal(table(lead).peek("s1")?.expiresAt, table(other).peek("s1")?.expiresAt, "the same expiry everywhere");
  assert.equal(posted, 1, "applied records are not sent back");
  table(lead).delete("s1");
  assert.equal(table(other).peek("s1"), undefined);
});

test("worker sync: admin changes made on worker 0 apply in every worker", () => {
  const hub = new Hub();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  lead.balancer.pools.get("app")!.change(member(lead, "a"), { activation: "disabled" });
  lead.store.adminChanged("app", "a", { activation: "disabled" }, "alice");
  assert.equal(member(other, "a").activation, "disabled");
});

test("worker sync: worker 0's health verdicts are followed; a follower's are not broadcast", () => {
  const hub = new Hub();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  lead.sync.healthChanged("app", "b", false, "3/3 checks failed: connection refused");
  assert.equal(member(other, "b").health.up, false);
  assert.match(member(other, "b").health.reason, /connection refused/);
  other.sync.healthChanged("app", "a", false, "passive");
  assert.equal(member(lead, "a").health.up, true);
});

test("worker sync: a (re)started worker says hello and gets every session, admin change and health state", () => {
  const hub = new Hub();
  const clock = new FakeClock(1_700_000_000_000);
  const lead = startWorker(hub, clock, true);
  for (let i = 0; i < 2_500; i++) table(lead).set(`s${i}`, i % 2 ? "a" : "b");
  lead.balancer.pools.get("app")!.change(member(lead, "b"), { weight: 7 });
  lead.store.adminChanged("app", "b", { weight: 7 }, "alice");
  member(lead, "a").health.follow(false, "checks failed");
  const late = startWorker(hub, clock, false);
  assert.equal(table(late).size, 2_500);
  assert.equal(table(late).peek("s7")?.member, "a");
  assert.equal(member(late, "b").configuredWeight, 7);
  assert.equal(member(late, "a").health.up, false);
});

test("worker sync: an admin-API reload on worker 0 reloads the others; close stops both directions", () => {
  const hub = new Hub();
  const clock = new FakeClock(1_700_000_000_000);
  const [lead, other] = [startWorker(hub, clock, true), startWorker(hub, clock, false)];
  lead.sync.reloaded("admin API (alice)");
  assert.deepEqual(other.reloads, ["admin API (alice)"]);
  assert.deepEqual(lead.reloads, []);
  other.sync.close();
  table(lead).set("s9", "a");
  assert.equal(table(other).peek("s9"), undefined);
});
