/**
 * One rate limit's counts: a key table bounded by LRU, each key with a sliding window counter (the
 * previous window's count weighted by how much of it still overlaps, plus the current one: what
 * HAProxy's `http_req_rate` and Cloudflare's limiter do) and its requests in flight.
 *
 * Why this counter: two numbers per key instead of a timestamp per request, and exact where users
 * check it: a key's windows start at its first request (not at a wall-clock boundary), so a client
 * that sends a burst gets exactly `requests` within its first window, however the burst falls
 * against the clock. Afterwards the weighted previous window smooths the rate, so no client gets
 * two budgets back to back at a window's edge.
 *
 * Counts of other balancer nodes (replication) are kept per node, each the highest that node
 * reported for the window: a node's count only grows within a window, so the highest is its
 * latest, and records that arrive twice or out of order add nothing (a grow-only counter).
 *
 * @example
 * ```ts
 * const table = new RateTable({ requests: 2, per: 1000, size: 1000 });
 * table.take("10.0.0.1", 1, 0); // 1
 * table.take("10.0.0.1", 1, 0); // 1
 * table.take("10.0.0.1", 1, 0); // 0 — table.retryAfterMs("10.0.0.1", 0) is 1500
 * ```
 * @module
 */
import { Busiest, type RateKeyView } from "./busiest.ts";

export interface RateTableSettings {
  /** Requests per `per`; undefined when the limit counts only requests in flight. */
  requests?: number;
  per: number;
  /** Requests in flight per key; undefined when unlimited. */
  concurrent?: number;
  /** Most keys kept. */
  size: number;
}

/** A key's state. Peer maps exist only once a peer reported the key. */
export class RateKeyState {
  /** The start of the key's window grid (clock ms): its first request here, or the first a peer reported. */
  anchor: number;
  /** The index of the current window on the grid. */
  window = 0;
  /** Counted by this node (every worker's admissions and leases) in the current and previous window. */
  current = 0;
  previous = 0;
  /** Each peer's highest reported count in the current and previous window. */
  peersCurrent: Map<string, number> | undefined;
  peersPrevious: Map<string, number> | undefined;
  inFlight = 0;

  constructor(anchor: number) {
    this.anchor = anchor;
  }
}

export class RateTable {
  readonly settings: RateTableSettings;
  /** Keys dropped to stay within `size`, least recently used first. */
  evictions = 0;
  /** Requests admitted and refused by this thread, for the metrics. */
  readonly outcomes = { admitted: 0, refused: 0 };
  /** Insertion order is use order: a key is re-inserted whenever it is used. */
  readonly #keys = new Map<string, RateKeyState>();

  constructor(settings: RateTableSettings) {
    this.settings = settings;
  }

  get size(): number {
    return this.#keys.size;
  }

  /**
   * Counts up to `wanted` requests of `key` at `now` within the limit and returns how many were
   * counted: `wanted` or fewer (0 when the key is over its limit).
   */
  take(key: string, wanted: number, now: number): number {
    const state = this.#use(key, now);
    const { requests } = this.settings;
    if (requests === undefined) return wanted;
    const granted = Math.min(wanted, Math.max(0, Math.floor(requests - this.#estimate(state, now))));
    state.current += granted;
    return granted;
  }

  /** How many more requests of `key` the limit admits at `now` (Infinity without a request budget). */
  available(key: string, now: number): number {
    const { requests } = this.settings;
    if (requests === undefined) return Infinity;
    const state = this.#keys.get(key);
    if (state === undefined) return requests;
    this.#advance(state, now);
    return Math.max(0, Math.floor(requests - this.#estimate(state, now)));
  }

  /** This node's count of `key` in its current window, and when that window started: what replication ships. */
  localCount(key: string): { windowStart: number; count: number } | undefined {
    const state = this.#keys.get(key);
    return state === undefined ? undefined : { windowStart: this.windowStart(state), count: state.current };
  }

  /** When the key's current window ends (a lease of it lasts that long); `now` when the key is unknown. */
  windowEnd(key: string, now: number): number {
    const state = this.#keys.get(key);
    return state === undefined ? now : this.windowStart(state) + this.settings.per;
  }

  windowStart(state: { anchor: number; window: number }): number {
    return state.anchor + state.window * this.settings.per;
  }

  /**
   * How long until `key` may send one more request, in ms (0 when it may now). Exact for the
   * counter's own arithmetic: the weighted previous window shrinks linearly.
   */
  retryAfterMs(key: string, now: number): number {
    const { requests, per } = this.settings;
    const state = this.#keys.get(key);
    if (requests === undefined || state === undefined) return 0;
    this.#advance(state, now);
    const current = state.current + _sum(state.peersCurrent);
    const previous = state.previous + _sum(state.peersPrevious);
    const start = this.windowStart(state);
    if (current + previous * (1 - (now - start) / per) + 1 <= requests) return 0;
    if (current + 1 > requests) {
      // Only the next window helps: there this window's count is the weighted one.
      return Math.max(0, start + per - now) + per * Math.max(0, 1 - (requests - 1) / current);
    }
    return Math.max(0, start + per * (1 - (requests - 1 - current) / previous) - now);
  }

  /**
   * One more request of `key` in flight, unless `concurrent` are already: undefined then. The
   * state returned goes back to {@link leave}: the key may have been evicted and counted afresh
   * meanwhile, and the new count must not lose a request it never had.
   */
  enter(key: string, now: number): RateKeyState | undefined {
    const state = this.#use(key, now);
    const { concurrent } = this.settings;
    if (concurrent !== undefined && state.inFlight >= concurrent) return undefined;
    state.inFlight++;
    return state;
  }

  leave(state: RateKeyState): void {
    if (state.inFlight > 0) state.inFlight--;
  }

  /** A peer's count for `key` in the window starting at `windowStart` (its latest, so only a higher one changes anything). */
  peerCount(key: string, origin: string, windowStart: number, count: number, now: number): void {
    let state = this.#keys.get(key);
    if (state === undefined) {
      // This node has not seen the key: it adopts the peer's grid, so both count the same windows.
      state = this.#use(key, windowStart);
    }
    this.#advance(state, now);
    const { per } = this.settings;
    const offset = Math.round((windowStart - this.windowStart(state)) / per);
    if (offset === 0) state.peersCurrent = _raise(state.peersCurrent, origin, count);
    else if (offset === -1) state.peersPrevious = _raise(state.peersPrevious, origin, count);
  }

  /** The `limit` keys with the highest rate, then most in flight. */
  top(limit: number, now: number): RateKeyView[] {
    const busiest = new Busiest(limit);
    for (const [key, state] of this.#keys) {
      this.#advance(state, now);
      busiest.offer(key, Math.round(this.#estimate(state, now) * 100) / 100, state.inFlight);
    }
    return busiest.sorted();
  }

  #use(key: string, now: number): RateKeyState {
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = new RateKeyState(now);
      if (this.#keys.size >= this.settings.size) {
        this.#keys.delete(this.#keys.keys().next().value!);
        this.evictions++;
      }
    } else {
      this.#keys.delete(key);
      this.#advance(state, now);
    }
    this.#keys.set(key, state);
    return state;
  }

  #advance(state: RateKeyState, now: number): void {
    const window = Math.max(0, Math.floor((now - state.anchor) / this.settings.per));
    if (window === state.window) return;
    const adjacent = window === state.window + 1;
    state.previous = adjacent ? state.current : 0;
    state.peersPrevious = adjacent ? state.peersCurrent : undefined;
    state.current = 0;
    state.peersCurrent = undefined;
    state.window = window;
  }

  #estimate(state: RateKeyState, now: number): number {
    const elapsed = Math.min(1, Math.max(0, (now - this.windowStart(state)) / this.settings.per));
    return state.current + _sum(state.peersCurrent) + (state.previous + _sum(state.peersPrevious)) * (1 - elapsed);
  }
}

function _sum(counts: Map<string, number> | undefined): number {
  if (counts === undefined) return 0;
  let total = 0;
  for (const count of counts.values()) total += count;
  return total;
}

function _raise(counts: Map<string, number> | undefined, origin: string, count: number): Map<string, number> {
  const map = counts ?? new Map<string, number>();
  if (count > (map.get(origin) ?? 0)) map.set(origin, count);
  return map;
}
