/**
 * The {@link AdminControl} of a running balancer: turns live pool state into the status document
 * and applies the admin API's changes. The HTTP side (auth, validation) is in `app.ts`.
 *
 * With `workers: N` this runs in worker 0 and shows the whole process: whatever shows counters
 * first gathers the other workers' (worker-sync.ts) and merges them with its own. State (health,
 * activation, weights, sticky entries, checks) is worker 0's, which decides it; counts of events
 * and of requests in flight or queued add up; latency percentiles are taken over the pooled
 * samples of every worker's window; the traffic histories add up interval by interval.
 *
 * @module
 */
import type { ManagedCertificateStatus } from "../acme/managed-certificate.ts";
import type { Balancer } from "../balancer/balancer.ts";
import type { VrrpStatus } from "../cluster/vrrp/agent.ts";
import type { ClusterStatus } from "../cluster/replication/replication-node.ts";
import { type RateLimitStatus, withOtherWorkers } from "../rules/rate-limit-status.ts";
import type { Member, Pool } from "../balancer/pool.ts";
import { percentile } from "../metrics/latency-window.ts";
import type { Registry } from "../metrics/registry.ts";
import { type HistoryDocument, mergeHistory, type TrafficHistory } from "../metrics/traffic-history.ts";
import { systemClock } from "../clock.ts";
import type { Clock, LogSink } from "../ports.ts";
import { discoveryView, type DiscoveryStatus } from "../discovery/discovered-members.ts";
import type { StatsWant, WorkerStats, WorkerStatsAnswer } from "../worker-sync.ts";
import {
  type AdminControl,
  AdminError,
  type DiscoveryView,
  type MemberChange,
  type MemberCounters,
  type MemberStatus,
  type PoolCounters,
  type PoolStatus,
  type ReloadResult,
  type StatusDocument,
  type StickyEntry,
  type WorkersReport,
} from "./model.ts";

/** The other workers' counters (worker-sync.ts's WorkerSync is one). */
export interface WorkerStatsSource {
  /** Workers in the process, this one included. */
  readonly count: number;
  gather(want: StatsWant): Promise<WorkerStatsAnswer[]>;
}

export interface AdminControlOptions {
  balancer: Balancer;
  registry: Registry;
  /** This worker's traffic history (the balancer metrics' own); without it the control keeps no history. */
  history?: TrafficHistory;
  /** For downtime and the history's current interval; the system clock when absent. */
  clock?: Clock;
  runtime: string;
  /** Wall-clock ms of the process start. */
  startedAt: number;
  reloads: () => number;
  reload: (actor: string) => Promise<ReloadResult>;
  log: LogSink;
  /** The VRRP agent's status, undefined while none runs. */
  vrrp?: () => VrrpStatus | undefined;
  /** The replication peer's status, undefined while replication is off. */
  cluster?: () => ClusterStatus | undefined;
  /** The rate limits' tables with their busiest keys. */
  rateLimits?: (top: number) => RateLimitStatus[];
  /** Called after an API change was applied (replication ships it to the peers). */
  memberChanged?: (pool: string, member: string, change: MemberChange, actor: string) => void;
  /** The ACME certificates' status, [] without `tls.acme`. */
  acme?: () => ManagedCertificateStatus[];
  /** Every listener serves a real certificate (not an ACME placeholder); /readyz waits for it too. */
  certificatesReady?: () => boolean;
  /** With `workers: N`: where the other workers' counters come from. Absent: this thread is the process. */
  workers?: WorkerStatsSource;
  /** A pool's members from DNS, undefined for a pool without a discover block. */
  discovery?: (pool: string) => DiscoveryStatus | undefined;
}

/** Every pool has a member that takes new requests (what /readyz and the VRRP readiness tracker ask). */
export function balancerReady(balancer: Balancer): boolean {
  return [...balancer.pools.values()].every((pool) => pool.members.some((member) => pool.takesNew(member)));
}

/**
 * Registers `tandem_workers` and `tandem_workers_reporting` in `options.registry` (a scrape with
 * fewer reporting than configured lacks some workers' counters).
 */
export function createAdminControl(options: AdminControlOptions): AdminControl {
  return new BalancerAdminControl(options);
}

/** Other workers' counters of one pool: each one's queue length, and each member's counters by name. */
interface OtherWorkersPool {
  queues: number[];
  members: Map<string, MemberCounters[]>;
}

class BalancerAdminControl implements AdminControl {
  readonly #options: AdminControlOptions;
  readonly #balancer: Balancer;
  readonly #registry: Registry;
  readonly #clock: Clock;
  /** Workers in the process, this one included. */
  readonly #count: number;
  /** Set just before each render, in the same synchronous step, so concurrent scrapes cannot mix. */
  #reporting = 1;

  constructor(options: AdminControlOptions) {
    this.#options = options;
    this.#balancer = options.balancer;
    this.#registry = options.registry;
    this.#clock = options.clock ?? systemClock;
    this.#count = options.workers?.count ?? 1;
    this.#registerWorkerGauges();
  }

  async status(): Promise<StatusDocument> {
    const { others, report } = await this.#countersOf();
    return {
      runtime: this.#options.runtime,
      startedAt: new Date(this.#options.startedAt).toISOString(),
      reloads: this.#options.reloads(),
      workers: report,
      pools: [...this.#balancer.pools.values()].map((pool) => this.#poolStatus(pool, others.get(pool.name))),
    };
  }

  ready(): boolean {
    return balancerReady(this.#balancer) && (this.#options.certificatesReady?.() ?? true);
  }

  async setMember(poolName: string, memberName: string, change: MemberChange, actor: string): Promise<MemberStatus> {
    const pool = this.#poolNamed(poolName);
    const member = this.#memberNamed(pool, memberName);
    const before = { activation: member.activation, weight: member.configuredWeight };
    pool.change(member, change);
    this.#options.memberChanged?.(pool.name, member.name, change, actor);
    this.#options.log({
      event: "member-changed",
      actor,
      pool: pool.name,
      member: member.name,
      before,
      after: { activation: member.activation, weight: member.configuredWeight },
    });
    const { others } = await this.#countersOf();
    return _memberStatus(pool, member, others.get(pool.name)?.members.get(member.name) ?? [], this.#clock.now());
  }

  sessions(poolName: string, offset: number, limit: number): { total: number; entries: StickyEntry[] } {
    const table = this.#poolNamed(poolName).sticky?.table;
    if (!table) return { total: 0, entries: [] };
    return {
      total: table.size,
      entries: table.entries(offset, limit).map((entry) => ({ ...entry, expiresAt: new Date(entry.expiresAt).toISOString() })),
    };
  }

  deleteSession(poolName: string, key: string): boolean {
    return this.#poolNamed(poolName).sticky?.table?.delete(key) ?? false;
  }

  reload(actor: string): Promise<ReloadResult> {
    return this.#options.reload(`admin API (${actor})`);
  }

  async history(): Promise<HistoryDocument | null> {
    const own = this.#options.history;
    if (own === undefined) return null;
    const { answers } = await this.#gather("history");
    const others = answers.flatMap((answer) => (answer.stats.history ? [answer.stats.history] : []));
    return mergeHistory([...this.#balancer.pools.keys()], this.#clock.now(), [own.snapshot(), ...others]);
  }

  async metrics(): Promise<string> {
    const { answers, report } = await this.#gather("metrics");
    this.#reporting = report.reporting;
    return this.#registry.render(answers.flatMap((answer) => (answer.stats.metrics ? [answer.stats.metrics] : [])));
  }

  vrrp(): VrrpStatus | null {
    return this.#options.vrrp?.() ?? null;
  }

  cluster(): ClusterStatus | null {
    return this.#options.cluster?.() ?? null;
  }

  async rateLimits(top: number): Promise<RateLimitStatus[]> {
    const own = this.#options.rateLimits?.(top) ?? [];
    if (own.length === 0) return own;
    const { answers } = await this.#gather("metrics");
    return withOtherWorkers(own, answers.flatMap((answer) => (answer.stats.metrics ? [answer.stats.metrics] : [])));
  }

  acme(): ManagedCertificateStatus[] | null {
    const certificates = this.#options.acme?.() ?? [];
    return certificates.length > 0 ? certificates : null;
  }

  #registerWorkerGauges(): void {
    this.#registry.gaugeFn("tandem_workers", "Worker threads of the process (workers).", [], () => [[[], this.#count]]);
    this.#registry.gaugeFn(
      "tandem_workers_reporting",
      "Workers whose counters are in this scrape; fewer than tandem_workers when one did not answer in time.",
      [],
      () => [[[], this.#reporting]],
    );
  }

  async #gather(want: StatsWant): Promise<{ answers: WorkerStatsAnswer[]; report: WorkersReport }> {
    const answers = await (this.#options.workers?.gather(want) ?? Promise.resolve([]));
    const report: WorkersReport = {
      count: this.#count,
      reporting: answers.length + 1,
      missing: Array.from({ length: this.#count - 1 }, (_, i) => i + 1).filter((index) => !answers.some((answer) => answer.worker === index)),
    };
    return { answers, report };
  }

  async #countersOf(): Promise<{ others: Map<string, OtherWorkersPool>; report: WorkersReport }> {
    const { answers, report } = await this.#gather("status");
    return { others: _byMember(answers.flatMap((answer) => answer.stats.pools ?? [])), report };
  }

  #poolStatus(pool: Pool, others: OtherWorkersPool | undefined): PoolStatus {
    const usableMembers = pool.members.filter((member) => pool.takesNew(member)).length;
    const now = this.#clock.now();
    return {
      name: pool.name,
      strategy: pool.config.strategy,
      stickyMode: pool.config.sticky.mode,
      stickyEntries: pool.sticky?.table?.size ?? null,
      queueLength: (others?.queues ?? []).reduce((sum, queued) => sum + queued, pool.queueLength),
      usable: usableMembers > 0,
      usableMembers,
      members: pool.members.map((member) => _memberStatus(pool, member, others?.members.get(member.name) ?? [], now)),
      ...this.#discoveryOf(pool.name),
    };
  }

  #discoveryOf(pool: string): { discovery?: DiscoveryView } {
    const status = this.#options.discovery?.(pool);
    return status === undefined ? {} : { discovery: discoveryView(status) };
  }

  #poolNamed(name: string): Pool {
    const pool = this.#balancer.pools.get(name);
    if (!pool) throw new AdminError("NOT_FOUND", `no pool "${name}"`);
    return pool;
  }

  #memberNamed(pool: Pool, name: string): Member {
    const member = pool.member(name);
    if (!member) throw new AdminError("NOT_FOUND", `no member "${name}" in pool "${pool.name}"`);
    return member;
  }
}

/** What this worker sends when worker 0 asks (`workers: N`): the part of its own figures that `want` names. */
export function workerStats(want: StatsWant, own: { registry: Registry; balancer: Balancer; history: TrafficHistory }): WorkerStats {
  switch (want) {
    case "metrics":
      return { metrics: own.registry.snapshot() };
    case "status":
      return { pools: _poolCounters(own.balancer) };
    case "history":
      return { history: own.history.snapshot() };
  }
}

/** This worker's counters of every pool: what another worker sends worker 0 for the status API. */
function _poolCounters(balancer: Balancer): PoolCounters[] {
  return [...balancer.pools.values()].map((pool) => ({
    name: pool.name,
    queueLength: pool.queueLength,
    members: pool.members.map((member) => ({
      name: member.name,
      active: member.active,
      requests: member.requests,
      failures: member.failures,
      responses: { ...member.responses },
      bytesIn: member.bytesIn,
      bytesOut: member.bytesOut,
      retries: member.retries,
      redispatches: member.redispatches,
      latencyMs: member.latency.samples(),
    })),
  }));
}

/** The other workers' counters by pool, then member: every worker's for the same member together. */
function _byMember(pools: PoolCounters[]): Map<string, OtherWorkersPool> {
  const byPool = new Map<string, OtherWorkersPool>();
  for (const pool of pools) {
    let entry = byPool.get(pool.name);
    if (entry === undefined) byPool.set(pool.name, entry = { queues: [], members: new Map() });
    entry.queues.push(pool.queueLength);
    for (const member of pool.members) entry.members.set(member.name, [...(entry.members.get(member.name) ?? []), member]);
  }
  return byPool;
}

/** Worker 0's state of `member` at clock time `now`, with the counters of `others` (the same member in the other workers) added. */
function _memberStatus(pool: Pool, member: Member, others: MemberCounters[], now: number): MemberStatus {
  const { health } = member;
  const check = health.lastCheck;
  const sum = (own: number, counter: (counters: MemberCounters) => number) => others.reduce((total, o) => total + counter(o), own);
  const latency = [member.latency.samples(), ...others.map((o) => o.latencyMs)].flat();
  return {
    name: member.name,
    url: member.url.origin,
    state: pool.isUp(member) ? "up" : "down",
    stateReason: pool.isUp(member) || !health.up ? health.reason : "refused a connection: resting for recoverTime",
    since: new Date(health.since).toISOString(),
    transitions: health.transitions,
    downtimeMs: member.pastDowntimeMs + (health.up ? 0 : now - health.since),
    activation: member.effectiveActivation,
    activationSince: member.activationChangedAt === undefined ? null : new Date(member.activationChangedAt).toISOString(),
    usable: pool.takesNew(member),
    weight: member.configuredWeight,
    effectiveWeight: member.weight,
    route: member.route,
    domain: member.domain ?? null,
    distance: member.distance,
    maxconn: member.maxconn,
    active: sum(member.active, (o) => o.active),
    requests: sum(member.requests, (o) => o.requests),
    failures: sum(member.failures, (o) => o.failures),
    responses: {
      "1xx": sum(member.responses["1xx"], (o) => o.responses["1xx"]),
      "2xx": sum(member.responses["2xx"], (o) => o.responses["2xx"]),
      "3xx": sum(member.responses["3xx"], (o) => o.responses["3xx"]),
      "4xx": sum(member.responses["4xx"], (o) => o.responses["4xx"]),
      "5xx": sum(member.responses["5xx"], (o) => o.responses["5xx"]),
    },
    bytesIn: sum(member.bytesIn, (o) => o.bytesIn),
    bytesOut: sum(member.bytesOut, (o) => o.bytesOut),
    retries: sum(member.retries, (o) => o.retries),
    redispatches: sum(member.redispatches, (o) => o.redispatches),
    checks: member.checks,
    failedChecks: member.failedChecks,
    p50Ms: percentile(latency, 0.5),
    p99Ms: percentile(latency, 0.99),
    lastCheck: check
      ? { ok: check.ok, at: new Date(check.at).toISOString(), durationMs: check.durationMs, reason: check.reason }
      : null,
  };
}
