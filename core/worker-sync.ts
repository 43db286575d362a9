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
 * On shutdown every worker drains its own connections; the others then tell worker 0, which
 * waits for their word before it stops replication, so their last sessions reach the peers too.
 *
 * Counters stay in the worker that counted them (no traffic per request): when the admin plane on
 * worker 0 shows them, it asks the others for a snapshot and merges what arrives within
 * {@link STATS_TIMEOUT_MS}, so a stuck or restarting worker is left out rather than hanging the
 * scrape.
 *
 * @module
 */
import type { PoolCounters } from "./admin/model.ts";
import type { Balancer } from "./balancer/balancer.ts";
import type { ReplicaRecord } from "./cluster/replication/frames.ts";
import type { ReplicaStore } from "./cluster/replication/replica-store.ts";
import type { RegistrySnapshot } from "./metrics/registry.ts";
import type { HistorySnapshot } from "./metrics/traffic-history.ts";
import type { Clock } from "./ports.ts";
import type { WorkerIdentity } from "./platform.ts";

/** What worker 0 asks for: the registry (for /metrics), the member counters (for the status API) or the traffic history (for the charts). */
export type StatsWant = "metrics" | "status" | "history";

/** A worker's answer to a stats request; plain data, as it crosses threads as a structured clone. */
export interface WorkerStats {
  metrics?: RegistrySnapshot;
  pools?: PoolCounters[];
  history?: HistorySnapshot;
}

/** The stats of one other worker, as worker 0 received them. */
export interface WorkerStatsAnswer {
  worker: number;
  stats: WorkerStats;
}

export type SyncMessage =
  | { type: "records"; records: ReplicaRecord[] }
  | { type: "health"; pool: string; member: string; up: boolean; reason: string }
  | { type: "hello" }
  | { type: "reload"; trigger: string }
  | { type: "stats-request"; id: string; want: StatsWant }
  | { type: "stats"; id: string; worker: number; stats: WorkerStats }
  | { type: "drained"; worker: number };

/** The part of a BroadcastChannel used here (tests pass an in-memory one). */
export interface SyncChannel {
  postMessage(message: SyncMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<SyncMessage>) => void): void;
  close(): void;
}

export interface WorkerSyncOptions {
  /** Which worker this is; worker 0 is the lead: its checks decide health, it gathers the stats. */
  worker: WorkerIdentity;
  clock: Clock;
  store: ReplicaStore;
  balancer: Balancer;
  /** Reloads this worker's config (another worker was told to reload by the admin API). */
  reload: (trigger: string) => void;
  channel: SyncChannel;
  /** This worker's counters, taken when worker 0 asks. */
  stats: (want: StatsWant) => WorkerStats;
}

export interface WorkerSync {
  /** Workers in the process (`workers`). */
  readonly count: number;
  /**
   * Worker 0: the other workers' stats that arrived within {@link STATS_TIMEOUT_MS} (all of them,
   * as soon as all answered), by worker index. Elsewhere: none.
   */
  gather(want: StatsWant): Promise<WorkerStatsAnswer[]>;
  /** Worker 0's checks changed a member's state: the others follow. */
  healthChanged(pool: string, member: string, up: boolean, reason: string): void;
  /** The admin API reloaded worker 0: every worker reloads. */
  reloaded(trigger: string): void;
  /**
   * Shutdown, once this worker's listeners drained. The others tell worker 0, after their last
   * records (the channel keeps each sender's order) and resolve at once; worker 0 resolves once
   * every other worker said so, or {@link DRAINED_GRACE_MS} after `deadline` (Clock time, when
   * their drains time out): a worker that crashed meanwhile says nothing.
   */
  drained(deadline: number): Promise<void>;
  close(): void;
}

/** Records per message of a hello's answer: a million learned sessions go as a thousand messages. */
const SNAPSHOT_BATCH = 1_000;

/** The BroadcastChannel the workers of this process share. */
export const WORKER_CHANNEL = "tandem-workers";

/**
 * How long worker 0 waits for the other workers' stats. A worker answers between two events of
 * its loop, so a healthy one takes well under a millisecond; one that has not answered by then is
 * stuck or restarting, and the scrape goes on without it.
 */
export const STATS_TIMEOUT_MS = 250;

/** How long after the drain deadline worker 0 still waits for the others' word (it comes right after their timeout). */
export const DRAINED_GRACE_MS = 500;

export function createWorkerSync(options: WorkerSyncOptions): WorkerSync {
  return new _WorkerSync(options);
}

/** A stats request of worker 0 waiting for answers. */
interface _Gathering {
  take(answer: WorkerStatsAnswer): void;
  finish(): void;
}

class _WorkerSync implements WorkerSync {
  readonly count: number;
  readonly #options: WorkerSyncOptions;
  readonly #channel: SyncChannel;
  readonly #store: ReplicaStore;
  readonly #balancer: Balancer;
  readonly #worker: WorkerIdentity;
  readonly #clock: Clock;
  readonly #lead: boolean;
  /** Worker 0's stats requests waiting for answers, by id. */
  readonly #gathering = new Map<string, _Gathering>();
  /** Worker 0, at shutdown: the workers that said they drained, and the wait for the rest. */
  readonly #drainedWorkers = new Set<number>();
  #onDrained: (() => void) | undefined;
  readonly #unsubscribe: () => void;

  constructor(options: WorkerSyncOptions) {
    this.#options = options;
    this.#channel = options.channel;
    this.#store = options.store;
    this.#balancer = options.balancer;
    this.#worker = options.worker;
    this.#clock = options.clock;
    this.#lead = options.worker.index === 0;
    this.count = options.worker.count;
    this.#unsubscribe = this.#store.subscribe((record, source) => {
      // Rate counts are worker 0's alone (the others lease from it: core/rules/rate-limit-sharing.ts).
      if (source !== "workers" && record.kind !== "rate") this.#channel.postMessage({ type: "records", records: [record] });
    });
    this.#channel.addEventListener("message", ({ data: message }) => this.#receive(message));
    this.#channel.postMessage({ type: "hello" });
  }

  // The interface's calls are arrow properties: the closure this replaced let callers hold them
  // apart from the object (as hooks), and they still may.

  readonly healthChanged = (pool: string, member: string, up: boolean, reason: string): void => {
    if (this.#lead) this.#channel.postMessage({ type: "health", pool, member, up, reason });
  };

  readonly reloaded = (trigger: string): void => this.#channel.postMessage({ type: "reload", trigger });

  readonly gather = (want: StatsWant): Promise<WorkerStatsAnswer[]> => {
    if (!this.#lead || this.#worker.count < 2) return Promise.resolve([]);
    // Unique across restarts of worker 0: a late answer to an earlier worker 0 is not taken for one to this.
    const id = crypto.randomUUID();
    return new Promise((resolve) => {
      const answers = new Map<number, WorkerStats>();
      const finish = () => {
        if (!this.#gathering.delete(id)) return;
        cancelTimer();
        resolve([...answers].sort(([a], [b]) => a - b).map(([index, stats]) => ({ worker: index, stats })));
      };
      const cancelTimer = this.#clock.setTimer(finish, STATS_TIMEOUT_MS);
      const take = (answer: WorkerStatsAnswer) => {
        // Counted once per worker, whatever arrives twice or from outside the process's range.
        if (!Number.isInteger(answer.worker) || answer.worker < 1 || answer.worker >= this.#worker.count) return;
        answers.set(answer.worker, answer.stats);
        if (answers.size === this.#worker.count - 1) finish();
      };
      this.#gathering.set(id, { take, finish });
      this.#channel.postMessage({ type: "stats-request", id, want });
    });
  };

  readonly drained = (deadline: number): Promise<void> => {
    if (!this.#lead) {
      this.#channel.postMessage({ type: "drained", worker: this.#worker.index });
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let cancelTimer = () => {};
      const done = () => {
        cancelTimer();
        this.#onDrained = undefined;
        resolve();
      };
      this.#onDrained = () => {
        if (this.#drainedWorkers.size >= this.count - 1) done();
      };
      cancelTimer = this.#clock.setTimer(done, Math.max(0, deadline + DRAINED_GRACE_MS - this.#clock.now()));
      this.#onDrained();
    });
  };

  readonly close = (): void => {
    this.#unsubscribe();
    // An admin request still waiting gets what arrived.
    for (const { finish } of [...this.#gathering.values()]) finish();
    this.#channel.close();
  };

  #receive(message: SyncMessage): void {
    switch (message.type) {
      case "records":
        for (const record of message.records) this.#store.apply(record, "workers");
        break;
      case "health":
        this.#balancer.pools.get(message.pool)?.member(message.member)?.health.follow(message.up, message.reason);
        break;
      case "hello":
        this.#answerHello();
        break;
      case "reload":
        this.#options.reload(message.trigger);
        break;
      case "stats-request":
        if (!this.#lead) this.#answerStats(message.id, message.want);
        break;
      case "stats":
        this.#gathering.get(message.id)?.take({ worker: message.worker, stats: message.stats });
        break;
      case "drained":
        // Counted once per worker, whatever arrives twice or from outside the process's range.
        if (!this.#lead || !Number.isInteger(message.worker) || message.worker < 1 || message.worker >= this.count) break;
        this.#drainedWorkers.add(message.worker);
        this.#onDrained?.();
        break;
    }
  }

  #answerHello(): void {
    let batch: ReplicaRecord[] = [];
    for (const record of this.#store.snapshot()) {
      batch.push(record);
      if (batch.length < SNAPSHOT_BATCH) continue;
      this.#channel.postMessage({ type: "records", records: batch });
      batch = [];
    }
    if (batch.length > 0) this.#channel.postMessage({ type: "records", records: batch });
    if (!this.#lead) return;
    for (const pool of this.#balancer.pools.values()) {
      for (const member of pool.members) {
        this.#channel.postMessage({ type: "health", pool: pool.name, member: member.name, up: member.health.up, reason: member.health.reason });
      }
    }
  }

  #answerStats(id: string, want: StatsWant): void {
    let stats: WorkerStats;
    try {
      stats = this.#options.stats(want);
    } catch {
      // A bug taking stats must not end the worker; worker 0 reports it as not answering.
      return;
    }
    this.#channel.postMessage({ type: "stats", id, worker: this.#worker.index, stats });
  }
}
