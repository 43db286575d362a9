/**
 * Rate limit counts shared by the workers of one process and by the balancer nodes of a cluster,
 * so that neither more workers nor more nodes multiply a client's budget.
 *
 * Workers: worker 0 (the lead) holds every limit's authoritative table. Another worker spends
 * tokens it leased from the lead: when it has none for a key it asks for the requests waiting
 * plus a prefetch, and the lead counts what it grants at once, as admitted. So the lead never
 * grants more than the budget, whatever the workers race for (no over-admission: the lead's
 * table is the one counter and it runs on one thread), and a worker asks once per batch rather
 * than per request. The prefetch is a share of what is left (half of it split over the workers,
 * at most {@link LEASE_PREFETCH}), so it shrinks as the budget does: near the limit workers ask
 * for single tokens. A lease ends with the lead's window; tokens a worker leased and never
 * spent are lost to that window (the limit errs on the strict side, by at most one prefetch per
 * worker and key).
 *
 * Nodes: the lead ships each key's count for its current window through the replication peer
 * (a `rate` record, coalesced to one per key per event-loop turn), and adds the counts its peers
 * ship (see sliding-window.ts). A client alternating between nodes spends one budget, exact once
 * a count has crossed (milliseconds); what both nodes admit before it crosses is the overshoot,
 * as with HAProxy's peers.
 *
 * Requests in flight are worker 0's to count as well, a place at a time (rate-limit-in-flight.ts).
 *
 * Tables outlive a reload when their limit's settings did not change, so a reload is no way to
 * a fresh budget.
 *
 * @module
 */
import type { WorkerIdentity } from "../platform.ts";
import type { Clock } from "../ports.ts";
import { LeadAsks } from "./lead-asks.ts";
import { type InFlightMessage, SharedInFlight } from "./rate-limit-in-flight.ts";
import { RateTable, type RateTableSettings } from "./sliding-window.ts";

/** Most tokens a worker leases ahead of its requests. */
export const LEASE_PREFETCH = 16;
/**
 * How long a worker waits for the lead's grant before it lets the request through: a lead that
 * is restarting must not stop the other workers' traffic (the limit fails open for that moment).
 */
export const LEASE_TIMEOUT_MS = 1_000;
/** The BroadcastChannel the workers of one process lease over. */
export const RATE_LIMIT_CHANNEL = "tandem-rate-limits";

export type RateLimitMessage =
  | { type: "lease"; worker: number; id: number; limit: string; key: string; need: number }
  | { type: "grant"; worker: number; id: number; tokens: number; expiresAt: number; retryAfterMs: number }
  | InFlightMessage;

/** The part of a BroadcastChannel used here (tests pass an in-memory one). */
export interface RateLimitChannel {
  postMessage(message: RateLimitMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<RateLimitMessage>) => void): void;
  close(): void;
}

/** A count to ship to the replication peers. */
export interface RateCount {
  limit: string;
  key: string;
  windowStart: number;
  count: number;
}

export interface RateLimitSharingOptions {
  clock: Clock;
  /** This worker among the process's; absent when the process runs one. */
  worker?: WorkerIdentity;
  /** Required with more than one worker. */
  channel?: RateLimitChannel;
  /**
   * The lead: where counts go to the replication peers, asked as counts change; undefined while
   * there are no peers (the config may gain or lose `cluster` on reload), so nothing is queued then.
   */
  publisher?: () => ((count: RateCount) => void) | undefined;
}

/** A worker's tokens for one key, and the lead's word when it had none. */
interface _Lease {
  tokens: number;
  expiresAt: number;
  /** Set when the lead refused: requests until then are refused here. */
  refusedUntil: number;
  /** The ask on its way to the lead; requests arriving meanwhile wait for its answer. */
  pending: Promise<void> | undefined;
  /** Requests waiting for `pending`. */
  waiting: number;
}

/** What worker 0 answers an ask with. */
type _Grant = Pick<Extract<RateLimitMessage, { type: "grant" }>, "tokens" | "expiresAt" | "retryAfterMs">;

/** What {@link RateLimitSharing.take} answers: 0 when counted, else the ms until the key may try again. */
export type TakeResult = number | Promise<number>;

export class RateLimitSharing {
  readonly #options: RateLimitSharingOptions;
  readonly #lead: boolean;
  readonly #tables = new Map<string, RateTable>();
  /**
   * A worker's leases by limit and key, at most the limit's `size` keys each: the oldest lease
   * goes first (its unspent tokens with it; requests waiting on it still get its answer).
   */
  readonly #leases = new Map<string, Map<string, _Lease>>();
  /** A worker's asks waiting for the lead. */
  readonly #asks: LeadAsks<_Grant>;
  /** A worker's asks sent to the lead (one per batch of requests), for the metrics. */
  leaseRequests = 0;
  /** Workers other than worker 0: where requests in flight are counted (worker 0's table). */
  readonly inFlightAtLead: SharedInFlight | undefined;
  /** The lead: keys counted since the last shipment, by "limit\0key". */
  readonly #unshipped = new Set<string>();
  #shipTimer: (() => void) | undefined;

  constructor(options: RateLimitSharingOptions) {
    this.#options = options;
    this.#asks = new LeadAsks(options.clock, LEASE_TIMEOUT_MS);
    const worker = options.worker;
    this.#lead = worker === undefined || worker.index === 0;
    if (worker !== undefined && worker.count > 1) {
      const channel = options.channel;
      if (channel === undefined) throw new Error("rate limits shared by workers need a channel");
      channel.addEventListener("message", ({ data }) => this.#receive(data));
      const inFlight = new SharedInFlight({ clock: options.clock, worker: worker.index, channel, table: (limit) => this.#tables.get(limit) });
      if (!this.#lead) this.inFlightAtLead = inFlight;
    }
  }

  /** Whether this thread holds the authoritative counts (worker 0, or the only one). */
  get lead(): boolean {
    return this.#lead;
  }

  /** The table of `limit`: the one it had before a reload when its settings are the same. */
  table(limit: string, settings: RateTableSettings): RateTable {
    const kept = this.#tables.get(limit);
    if (kept !== undefined && _sameSettings(kept.settings, settings)) return kept;
    const table = new RateTable(settings);
    this.#tables.set(limit, table);
    return table;
  }

  /** Forgets the tables of limits no longer configured (after a reload). */
  keep(limits: Iterable<string>): void {
    const names = new Set(limits);
    for (const name of this.#tables.keys()) if (!names.has(name)) this.#tables.delete(name);
    for (const name of this.#leases.keys()) if (!names.has(name)) this.#leases.delete(name);
  }

  /** Every table in force, for the admin API and metrics. */
  tables(): ReadonlyMap<string, RateTable> {
    return this.#tables;
  }

  /** Counts one request of `key` against `limit`'s window. */
  take(limit: string, table: RateTable, key: string): TakeResult {
    const now = this.#options.clock.now();
    if (this.#lead) return this.#takeHere(limit, table, key, now);
    return this.#takeLeased(limit, table, key, now);
  }

  /** A replication peer's count (`origin`: its node name). */
  peerCount(origin: string, count: RateCount): boolean {
    const table = this.#tables.get(count.limit);
    if (table === undefined || table.settings.requests === undefined) return false;
    table.peerCount(count.key, origin, count.windowStart, count.count, this.#options.clock.now());
    return true;
  }

  close(): void {
    this.#shipTimer?.();
    this.inFlightAtLead?.close();
    this.#options.channel?.close();
    this.#asks.close();
  }

  #takeHere(limit: string, table: RateTable, key: string, now: number): number {
    if (table.take(key, 1, now) === 1) {
      this.#counted(limit, key);
      return 0;
    }
    return Math.max(1, table.retryAfterMs(key, now));
  }

  #counted(limit: string, key: string): void {
    if (this.#options.publisher?.() === undefined) return;
    this.#unshipped.add(`${limit}\u0000${key}`);
    this.#shipTimer ??= this.#options.clock.setTimer(() => this.#ship(), 0);
  }

  #ship(): void {
    this.#shipTimer = undefined;
    const publish = this.#options.publisher?.();
    const ids = [...this.#unshipped];
    this.#unshipped.clear();
    if (publish === undefined) return;
    for (const id of ids) {
      const split = id.indexOf("\u0000");
      const limit = id.slice(0, split);
      const key = id.slice(split + 1);
      const local = this.#tables.get(limit)?.localCount(key);
      if (local !== undefined) publish({ limit, key, ...local });
    }
  }

  #takeLeased(limit: string, table: RateTable, key: string, now: number): TakeResult {
    let leases = this.#leases.get(limit);
    if (leases === undefined) this.#leases.set(limit, leases = new Map());
    let lease = leases.get(key);
    if (lease === undefined) {
      if (leases.size >= table.settings.size) leases.delete(leases.keys().next().value!);
      lease = { tokens: 0, expiresAt: 0, refusedUntil: 0, pending: undefined, waiting: 0 };
      leases.set(key, lease);
    }
    if (lease.tokens > 0 && now < lease.expiresAt) {
      lease.tokens--;
      return 0;
    }
    if (lease.pending === undefined && now < lease.refusedUntil) return lease.refusedUntil - now;
    return this.#waitForLease(lease, limit, key);
  }

  async #waitForLease(lease: _Lease, limit: string, key: string): Promise<number> {
    for (;;) {
      lease.waiting++;
      lease.pending ??= this.#ask(lease, limit, key);
      await lease.pending;
      const now = this.#options.clock.now();
      if (lease.tokens > 0 && now < lease.expiresAt) {
        lease.tokens--;
        return 0;
      }
      if (now < lease.refusedUntil) return lease.refusedUntil - now;
      // The grant went to the requests ahead of this one although the lead had more: ask again.
    }
  }

  #ask(lease: _Lease, limit: string, key: string): Promise<void> {
    const { clock, channel, worker } = this.#options;
    this.leaseRequests++;
    return new Promise<void>((resolve) => {
      const take = (grant: _Grant) => {
        lease.pending = undefined;
        lease.waiting = 0;
        lease.tokens = grant.tokens;
        lease.expiresAt = grant.expiresAt;
        lease.refusedUntil = grant.tokens === 0 ? clock.now() + grant.retryAfterMs : 0;
        resolve();
      };
      // Sent after the current turn's requests joined `waiting`: one ask carries them all.
      const send = (id: number) => queueMicrotask(() => channel!.postMessage({ type: "lease", worker: worker!.index, id, limit, key, need: lease.waiting }));
      this.#asks.ask(send, take, (until) => ({ tokens: lease.waiting, expiresAt: until, retryAfterMs: 0 }));
    });
  }

  #receive(message: RateLimitMessage): void {
    if (message.type === "grant") {
      if (message.worker === this.#options.worker!.index) this.#asks.answer(message.id, message);
    } else if (message.type === "lease" && this.#lead) {
      this.#grant(message);
    }
  }

  /** The lead: what it leases to a worker that asked, counted here as admitted. */
  #grant(ask: Extract<RateLimitMessage, { type: "lease" }>): void {
    const { clock, channel, worker } = this.#options;
    const now = clock.now();
    const table = this.#tables.get(ask.limit);
    const reply = (tokens: number, expiresAt: number, retryAfterMs: number) =>
      channel!.postMessage({ type: "grant", worker: ask.worker, id: ask.id, tokens, expiresAt, retryAfterMs });
    // A limit the lead does not have (a reload on its way) or without a request budget: let the requests through.
    if (table === undefined || table.settings.requests === undefined) return reply(ask.need, now + LEASE_TIMEOUT_MS, 0);
    const need = Math.max(1, Math.min(ask.need, table.settings.requests));
    const left = table.available(ask.key, now);
    const prefetch = Math.min(LEASE_PREFETCH, Math.floor(left / (2 * worker!.count)));
    const tokens = table.take(ask.key, need + prefetch, now);
    if (tokens > 0) this.#counted(ask.limit, ask.key);
    reply(tokens, table.windowEnd(ask.key, now), tokens === 0 ? Math.max(1, table.retryAfterMs(ask.key, now)) : 0);
  }
}

function _sameSettings(a: RateTableSettings, b: RateTableSettings): boolean {
  return a.requests === b.requests && a.per === b.per && a.concurrent === b.concurrent && a.size === b.size;
}
