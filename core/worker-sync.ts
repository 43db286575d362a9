/**
 * Keeps the workers of one process in step (`workers: N`, see workers.ts): learned sessions and
 * admin changes travel as the same records replication ships (last-write-wins, so any order of
 * arrival converges), health as worker 0's verdicts (only worker 0 runs active checks), and a
 * reload through the admin API as a reload in every worker. The carrier is a BroadcastChannel:
 * messages between threads of one process, delivered in order, never to the sender.
 *
 * A worker that starts (or restarts after a crash) says hello; every other worker answers with
 * what it holds, worker 0 also with the health of every member.
 *
 * @module
 */
import type { Balancer } from "./balancer/balancer.ts";
import type { ReplicaRecord } from "./cluster/replication/frames.ts";
import type { ReplicaStore } from "./cluster/replication/replica-store.ts";

export type SyncMessage =
  | { type: "records"; records: ReplicaRecord[] }
  | { type: "health"; pool: string; member: string; up: boolean; reason: string }
  | { type: "hello" }
  | { type: "reload"; trigger: string };

/** The part of a BroadcastChannel used here (tests pass an in-memory one). */
export interface SyncChannel {
  postMessage(message: SyncMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<SyncMessage>) => void): void;
  close(): void;
}

export interface WorkerSyncOptions {
  /** Worker 0: its checks decide health. */
  lead: boolean;
  store: ReplicaStore;
  balancer: Balancer;
  /** Reloads this worker's config (another worker was told to reload by the admin API). */
  reload: (trigger: string) => void;
  channel: SyncChannel;
}

export interface WorkerSync {
  /** Worker 0's checks changed a member's state: the others follow. */
  healthChanged(pool: string, member: string, up: boolean, reason: string): void;
  /** The admin API reloaded worker 0: every worker reloads. */
  reloaded(trigger: string): void;
  close(): void;
}

/** Records per message of a hello's answer: a million learned sessions go as a thousand messages. */
const SNAPSHOT_BATCH = 1_000;

/** The BroadcastChannel the workers of this process share. */
export const WORKER_CHANNEL = "tandem-workers";

export function createWorkerSync(options: WorkerSyncOptions): WorkerSync {
  const { channel, store, balancer } = options;
  const unsubscribe = store.subscribe((record, source) => {
    if (source !== "workers") channel.postMessage({ type: "records", records: [record] });
  });
  const answerHello = () => {
    let batch: ReplicaRecord[] = [];
    for (const record of store.snapshot()) {
      batch.push(record);
      if (batch.length < SNAPSHOT_BATCH) continue;
      channel.postMessage({ type: "records", records: batch });
      batch = [];
    }
    if (batch.length > 0) channel.postMessage({ type: "records", records: batch });
    if (!options.lead) return;
    for (const pool of balancer.pools.values()) {
      for (const member of pool.members) {
        channel.postMessage({ type: "health", pool: pool.name, member: member.name, up: member.health.up, reason: member.health.reason });
      }
    }
  };
  channel.addEventListener("message", ({ data: message }) => {
    switch (message.type) {
      case "records":
        for (const record of message.records) store.apply(record, "workers");
        break;
      case "health":
        balancer.pools.get(message.pool)?.member(message.member)?.health.follow(message.up, message.reason);
        break;
      case "hello":
        answerHello();
        break;
      case "reload":
        options.reload(message.trigger);
        break;
    }
  });
  channel.postMessage({ type: "hello" });
  return {
    healthChanged(pool, member, up, reason) {
      if (options.lead) channel.postMessage({ type: "health", pool, member, up, reason });
    },
    reloaded: (trigger) => channel.postMessage({ type: "reload", trigger }),
    close() {
      unsubscribe();
      channel.close();
    },
  };
}
