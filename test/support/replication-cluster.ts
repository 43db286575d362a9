/**
 * A cluster of replication nodes on an in-memory network, sharing one fake clock: each node has a
 * learn-mode pool "app" and a ReplicationNode; links can be cut, muted and healed.
 */
import * as v from "valibot";
import { createBalancer, type Balancer } from "../../core/balancer/balancer.ts";
import { ReplicaStore } from "../../core/cluster/replication/replica-store.ts";
import { ReplicationNode } from "../../core/cluster/replication/replication-node.ts";
import { ClusterSchema } from "../../core/cluster/replication/schema.ts";
import type { StickTable } from "../../core/stick-table/stick-table.ts";
import { FakeClock } from "./fake-clock.ts";
import { fakeFarm, poolConfig } from "./fake-upstream.ts";
import { type MemoryStream, streamPair } from "./memory-stream.ts";

export const CLUSTER_KEY = "0123456789abcdef0123456789abcdef";

export interface TestNode {
  name: string;
  balancer: Balancer;
  store: ReplicaStore;
  node: ReplicationNode;
  table: StickTable;
  running: boolean;
}

export interface ClusterOptions {
  sendQueue?: number;
  /** Members of pool "app" per node; default a, b, c everywhere. */
  members?: Record<string, string[]>;
}

export class TestCluster {
  readonly clock = new FakeClock(1_700_000_000_000);
  readonly nodes = new Map<string, TestNode>();
  readonly #blocked = new Set<string>();
  readonly #links: { from: string; to: string; ends: [MemoryStream, MemoryStream] }[] = [];

  constructor(readonly names: string[], readonly options: ClusterOptions = {}) {}

  static async start(names: string[], options: ClusterOptions = {}): Promise<TestCluster> {
    const cluster = new TestCluster(names, options);
    for (const name of names) await cluster.startNode(name);
    return cluster;
  }

  /** Starts (or restarts, with empty state) node `name`. */
  async startNode(name: string): Promise<TestNode> {
    this.nodes.get(name)?.node.stop();
    const members = this.options.members?.[name] ?? ["a", "b", "c"];
    const config = poolConfig(members.map((member) => ({ name: member })), { sticky: { mode: "learn", tableTtl: "30m" } });
    const balancer = createBalancer(config, { clock: this.clock, upstream: fakeFarm(members).upstream, log: () => {} });
    const store = new ReplicaStore({ node: name, pools: () => balancer.pools, clock: this.clock });
    const cluster = v.parse(ClusterSchema, {
      name: "test",
      node: name,
      listen: `${name}:7400`,
      peers: this.names.filter((other) => other !== name).map((other) => ({ name: other, address: `${other}:7400` })),
      key: CLUSTER_KEY,
      sendQueue: this.options.sendQueue,
    });
    const node = await ReplicationNode.create({
      cluster,
      key: CLUSTER_KEY,
      store,
      ports: { clock: this.clock, connect: (address) => this.#connect(name, address.split(":")[0]), log: () => {} },
    });
    const entry = { name, balancer, store, node, table: balancer.pools.get("app")!.sticky!.table!, running: true };
    this.nodes.set(name, entry);
    node.start();
    return entry;
  }

  stopNode(name: string): void {
    const entry = this.nodes.get(name)!;
    entry.running = false;
    entry.node.stop();
    entry.balancer.close();
  }

  #connect(from: string, to: string): Promise<MemoryStream> {
    const target = this.nodes.get(to);
    if (!target?.running || this.#blocked.has(`${from}>${to}`)) return Promise.reject(new Error("connection refused"));
    const ends = streamPair();
    this.#links.push({ from, to, ends });
    target.node.accept(ends[1]);
    return Promise.resolve(ends[0]);
  }

  /** Closes every connection between `a` and `b` and refuses new ones until heal. */
  cut(a: string, b: string): void {
    this.#blocked.add(`${a}>${b}`).add(`${b}>${a}`);
    for (const link of this.#between(a, b)) link.ends[0].close();
  }

  heal(a: string, b: string): void {
    this.#blocked.delete(`${a}>${b}`);
    this.#blocked.delete(`${b}>${a}`);
  }

  /** The open connections between `a` and `b` silently stop carrying bytes (new ones work). */
  mute(a: string, b: string): void {
    for (const link of this.#between(a, b)) link.ends[0].muted = link.ends[1].muted = true;
  }

  #between(a: string, b: string) {
    return this.#links.filter((link) => (link.from === a && link.to === b) || (link.from === b && link.to === a));
  }

  /** Lets promises, crypto and fake timers run until `condition` holds; fails after `limit` rounds. */
  async until(condition: () => boolean, what: string, stepMs = 20, limit = 1500): Promise<void> {
    for (let round = 0; round < limit; round++) {
      if (condition()) return;
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (round % 4 === 3) this.clock.advance(stepMs);
    }
    throw new Error(`timed out waiting for: ${what}`);
  }

  stop(): void {
    for (const name of this.nodes.keys()) if (this.nodes.get(name)!.running) this.stopNode(name);
  }
}
