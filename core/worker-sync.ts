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
 * What worker 0 must know has reached every worker before it acts (an http-01 answer before the
 * CA is told to look) it follows with a flush: each other worker answers it after applying what
 * came before, since the channel keeps each sender's order.
 *
 * Readiness that depends on each worker's own state (an ACME listener still on its placeholder)
 * is reported to worker 0, which alone answers /readyz.
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
  | { type: "flush"; id: string }
  | { type: "flushed"; id: string; worker: number }
  | { type: "certificates"; worker: number; serving: boolean }
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
  /**
   * Worker 0: resolves once every other worker applied every record worker 0 sent before the
   * call, or after `timeoutMs` (a worker restarting gets them in its hello's answer instead).
   * Elsewhere: at once.
   */
  flushed(timeoutMs: number): Promise<void>;
  /** Whether this worker serves a real certificate on every ACME listener; the others tell worker 0 when it changes. */
  certificatesServed(serving: boolean): void;
  /** Worker 0: no other worker said it serves an ACME placeholder. */
  othersServeCertificates(): boolean;
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

/** A request of worker 0 to the others (stats, flush) waiting for their answers. */
interface _Gathering {
  take(worker: number, answer: unknown): void;
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
  /** Worker 0's requests waiting for answers, by id. */
  readonly #gathering = new Map<string, _Gathering>();
  /** Worker 0: the other workers that said they serve an ACME placeholder. */
  readonly #placeholderWorkers = new Set<number>();
  /**
   * What this worker last said of its certificates (said again to a restarted worker 0); unsaid
   * at start, so a restarted worker corrects what worker 0 heard from the one before it.
   */
  #serving: boolean | undefined;
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

  readonly gather = async (want: StatsWant): Promise<WorkerStatsAnswer[]> => {
    const answers = await this.#ask<WorkerStats>((id) => ({ type: "stats-request", id, want }), STATS_TIMEOUT_MS);
    return [...answers].sort(([a], [b]) => a - b).map(([index, stats]) => ({ worker: index, stats }));
  };

  readonly flushed = async (timeoutMs: number): Promise<void> => {
    await this.#ask((id) => ({ type: "flush", id }), timeoutMs);
  };

  readonly certificatesServed = (serving: boolean): void => {
    if (this.#lead || serving === this.#serving) return;
    this.#serving = serving;
    this.#channel.postMessage({ type: "certificates", worker: this.#worker.index, serving });
  };

  readonly othersServeCertificates = (): boolean => this.#placeholderWorkers.size === 0;

  /**
   * Worker 0: posts `request` and resolves with the other workers' answers, by worker index, as
   * soon as all answered or after `timeoutMs` with those that did. Elsewhere: none.
   */
  #ask<T>(request: (id: string) => SyncMessage, timeoutMs: number): Promise<Map<number, T>> {
    if (!this.#lead || this.#worker.count < 2) return Promise.resolve(new Map());
    // Unique across restarts of worker 0: a late answer to an earlier worker 0 is not taken for one to this.
    const id = crypto.randomUUID();
    return new Promise((resolve) => {
      const answers = new Map<number, T>();
      const finish = () => {
        if (!this.#gathering.delete(id)) return;
        cancelTimer();
        resolve(answers);
      };
      const cancelTimer = this.#clock.setTimer(finish, timeoutMs);
      const take = (worker: number, answer: unknown) => {
        // Counted once per worker, whatever arrives twice or from outside the process's range.
        if (!this.#isOtherWorker(worker)) return;
        answers.set(worker, answer as T);
        if (answers.size === this.#worker.count - 1) finish();
      };
      this.#gathering.set(id, { take, finish });
      this.#channel.postMessage(request(id));
    });
  }

  #isOtherWorker(worker: unknown): worker is number {
    return Number.isInteger(worker) && (worker as number) >= 1 && (worker as number) < this.count;
  }

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
        this.#gathering.get(message.id)?.take(message.worker, message.stats);
        break;
      case "flush":
        if (!this.#lead) this.#channel.postMessage({ type: "flushed", id: message.id, worker: this.#worker.index });
        break;
      case "flushed":
        this.#gathering.get(message.id)?.take(message.worker, undefined);
        break;
      case "certificates":
        if (!this.#lead || !this.#isOtherWorker(message.worker)) break;
        if (message.serving) this.#placeholderWorkers.delete(message.worker);
        else this.#placeholderWorkers.add(message.worker);
        break;
      case "drained":
        // Counted once per worker, whatever arrives twice or from outside the process's range.
        if (!this.#lead || !this.#isOtherWorker(message.worker)) break;
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
    if (!this.#lead) {
      // A restarted worker 0 knows nothing of the others' certificates.
      if (this.#serving === false) this.#channel.postMessage({ type: "certificates", worker: this.#worker.index, serving: false });
      return;
    }
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
