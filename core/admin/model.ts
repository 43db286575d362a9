/**
 * The admin plane's view of a running balancer: what the JSON API, the dashboard and /metrics
 * read, and the few live controls they may use. The balancer implements {@link AdminControl};
 * the hono app in `app.ts` only speaks HTTP around it, so it is tested with a fake control.
 *
 * @module
 */
import type { VrrpStatus } from "../cluster/vrrp/agent.ts";
import type { ClusterStatus } from "../cluster/replication/replication-node.ts";
import type { Activation } from "../config/schema.ts";

export interface CheckResult {
  ok: boolean;
  /** ISO time of the check. */
  at: string;
  durationMs: number;
  /** `HTTP 200`, `connection refused`, `timeout after 1000 ms`, `body lacks "OK"`… */
  reason: string;
}

export interface MemberStatus {
  name: string;
  url: string;
  state: "up" | "down";
  /** Why the member is in its state, e.g. `3/3 checks failed: connection refused`. */
  stateReason: string;
  /** ISO time of the last state change. */
  since: string;
  activation: Activation;
  weight: number;
  /** Weight after slow start (equals weight when not ramping). */
  effectiveWeight: number;
  route: string;
  domain: string | null;
  distance: number;
  maxconn: number;
  /** Requests in flight (summed over the workers, like the counters below). */
  active: number;
  requests: number;
  /** Connect errors, timeouts and broken responses. */
  failures: number;
  responses: { "1xx": number; "2xx": number; "3xx": number; "4xx": number; "5xx": number };
  /**
   * Percentiles of the last few hundred response times of each worker (request to end of body),
   * taken over all of them together; null before any.
   */
  p50Ms: number | null;
  p99Ms: number | null;
  lastCheck: CheckResult | null;
}

export interface PoolStatus {
  name: string;
  strategy: string;
  stickyMode: string;
  /** Learned sticky entries (learn mode), else 0. */
  stickyEntries: number;
  /** Requests waiting for a slot, in all workers. */
  queueLength: number;
  /** At least one member can take requests. */
  usable: boolean;
  members: MemberStatus[];
}

/**
 * Whose counters a document holds (`workers: N`): state comes from worker 0, counters from every
 * worker that answered in time.
 */
export interface WorkersReport {
  /** Workers in the process. */
  count: number;
  /** Workers whose counters are included (worker 0 always). */
  reporting: number;
  /** Workers that did not answer in time: their counters are missing from this document. */
  missing: number[];
}

export interface StatusDocument {
  runtime: string;
  /** ISO time the process started. */
  startedAt: string;
  /** Successful reloads since start. */
  reloads: number;
  /** Always in the control's documents; optional for documents built by hand (the dashboard's tests). */
  workers?: WorkersReport;
  pools: PoolStatus[];
}

/** A member's counters in one worker, as sent to worker 0 (plain data: it crosses threads). */
export interface MemberCounters {
  name: string;
  active: number;
  requests: number;
  failures: number;
  responses: MemberStatus["responses"];
  /** The worker's latency window (ms), for percentiles over all workers' samples. */
  latencyMs: number[];
}

/** A pool's counters in one worker. */
export interface PoolCounters {
  name: string;
  queueLength: number;
  members: MemberCounters[];
}

export interface MemberChange {
  activation?: Activation;
  weight?: number;
}

export interface StickyEntry {
  key: string;
  member: string;
  /** ISO time. */
  expiresAt: string;
}

export type ReloadResult = { ok: true; summary: string } | { ok: false; problems: string[] };

/** Errors the control raises; the app maps `code` to an HTTP status. */
export class AdminError extends Error {
  constructor(readonly code: "NOT_FOUND" | "INVALID", message: string) {
    super(message);
  }
}

/**
 * Calls that show counters may answer later: with `workers: N` they wait (boundedly) for the other
 * workers' counters.
 */
export interface AdminControl {
  status(): StatusDocument | Promise<StatusDocument>;
  /** Every pool has a usable member. */
  ready(): boolean;
  /** Applies a live change; `actor` (the token's subject) goes into the log line. Throws AdminError. */
  setMember(pool: string, member: string, change: MemberChange, actor: string): MemberStatus | Promise<MemberStatus>;
  /** Learned sticky entries of a pool, oldest first. Throws AdminError for an unknown pool. */
  sessions(pool: string, offset: number, limit: number): { total: number; entries: StickyEntry[] };
  /** Throws AdminError for an unknown pool; false when the key was not there. */
  deleteSession(pool: string, key: string, actor: string): boolean;
  /** Re-reads the config file; the running config keeps serving when the new one is invalid. */
  reload(actor: string): Promise<ReloadResult>;
  /** Prometheus text exposition (version 0.0.4). */
  metrics(): string | Promise<string>;
  /** The failover agent's state per virtual router; null (or absent) when no `vrrp` is configured. */
  vrrp?(): VrrpStatus | null;
  /** Replication peers (state, last contact, lag, resyncs, drops); null (or absent) without `cluster`. */
  cluster?(): ClusterStatus | null;
}
