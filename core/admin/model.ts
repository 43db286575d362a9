/**
 * The admin plane's view of a running balancer: what the JSON API, the dashboard and /metrics
 * read, and the few live controls they may use. The balancer implements {@link AdminControl};
 * the hono app in `app.ts` only speaks HTTP around it, so it is tested with a fake control.
 *
 * @module
 */
import type { VrrpStatus } from "../cluster/vrrp/agent.ts";
import type { ClusterStatus } from "../cluster/replication/replication-node.ts";
import type { RateLimitStatus } from "../rules/rate-limit-status.ts";
import type { Activation } from "../config/schema.ts";
import type { HistoryDocument } from "../metrics/traffic-history.ts";
import type { ManagedCertificateStatus } from "../acme/managed-certificate.ts";

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
  /** ISO time of the last health transition (the process start before the first). */
  since: string;
  /** Health transitions since start: 0 means `since` is the start, not a change. */
  transitions: number;
  /** Time down by health since start, the current period included (HAProxy `downtime`). */
  downtimeMs: number;
  activation: Activation;
  /** ISO time of the last activation change through the API (or a peer, or the state file); null before one. */
  activationSince: string | null;
  /** Takes new requests now: active, weight above 0 and up (what the pool's `usable` asks of some member). */
  usable: boolean;
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
  /** Request body bytes sent to the member and response body bytes it sent (HAProxy `bin`/`bout`). */
  bytesIn: number;
  bytesOut: number;
  /** Attempts on it tried again (HAProxy `wretr`), and those moved to another member (`wredis`). */
  retries: number;
  redispatches: number;
  /** Active checks run and failed (0 without `health.check`). */
  checks: number;
  failedChecks: number;
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
  /** Learned sticky entries; null when the sticky mode keeps no table (every mode but learn). */
  stickyEntries: number | null;
  /** Requests waiting for a slot, in all workers. */
  queueLength: number;
  /** At least one member can take requests (`usableMembers > 0`). */
  usable: boolean;
  /** Members that take new requests now (their `usable`). */
  usableMembers: number;
  members: MemberStatus[];
  /** Present for a pool with a `discover` block: its lookups and the members they gave. */
  discovery?: DiscoveryView;
}

/** A discover block's state (core/discovery), times as ISO strings. */
export interface DiscoveryView {
  name: string;
  type: string;
  /** ok, nx, timeout, servfail, refused or error; null before the first lookup ended. */
  lastOutcome: string | null;
  lastReason: string | null;
  lastLookupAt: string | null;
  lastGoodAt: string | null;
  /** Seconds, of the last good answer. */
  ttl: number | null;
  members: { name: string; address: string; port: number; weight: number; priority: number; draining: boolean; drainingSince: string | null }[];
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
  bytesIn: number;
  bytesOut: number;
  retries: number;
  redispatches: number;
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
  /** Each pool's requests, 5xx answers and p99 per interval over the last minutes, every worker's added; null (or absent) when not kept. */
  history?(): HistoryDocument | null | Promise<HistoryDocument | null>;
  /** Prometheus text exposition (version 0.0.4). */
  metrics(): string | Promise<string>;
  /** The failover agent's state per virtual router; null (or absent) when no `vrrp` is configured. */
  vrrp?(): VrrpStatus | null;
  /** Replication peers (state, last contact, lag, resyncs, drops); null (or absent) without `cluster`. */
  cluster?(): ClusterStatus | null;
  /** Each rate limit with its `top` busiest keys, every worker's totals added; absent where the process keeps none. */
  rateLimits?(top: number): RateLimitStatus[] | Promise<RateLimitStatus[]>;
  /** The ACME certificates (state, expiry, next attempt, last error); null (or absent) without `tls.acme`. */
  acme?(): ManagedCertificateStatus[] | null;
}
