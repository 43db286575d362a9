/**
 * The last minutes of each pool's traffic, for the dashboard's charts: requests, 5xx answers and
 * a latency histogram per fixed interval, in a ring that holds {@link HISTORY_SLOTS} intervals.
 * Nothing leaves the process and nothing grows: a slot is cleared when its time comes round again.
 *
 * Slots are numbered by clock time (`floor(now / interval)`), not by when a thread started, so the
 * rings of several workers (`workers: N`) line up slot by slot and {@link mergeHistory} adds them;
 * latency is kept as bucket counts for the same reason: counts add up, percentiles would not.
 *
 * @example
 * ```ts
 * const history = new TrafficHistory(clock);
 * history.record("shop", 200, 12.5); // on every answered request
 * mergeHistory(["shop"], clock.now(), [history.snapshot(), otherWorkerSnapshot]).pools[0].requests;
 * ```
 * @module
 */
import type { Clock } from "../ports.ts";

/** Width of one slot; 5 s makes a chart of 180 points over 15 minutes. */
export const HISTORY_INTERVAL_MS = 5_000;
export const HISTORY_SLOTS = 180;
/** The completed slots shown and the one filling now. */
const _RING = HISTORY_SLOTS + 1;

/**
 * Upper bounds (ms) of the latency buckets: 20 % apart from 0.5 ms to 150 s, so a percentile read
 * from them is at most 20 % above the true one; slower answers count in the last bound's place.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let bound = 0.5; bound < 150_000; bound *= 1.2) bounds.push(Number(bound.toPrecision(4)));
  return bounds;
})();

/** One pool's filled slots as plain data (it crosses between threads). */
export interface PoolHistorySnapshot {
  pool: string;
  /** Slot numbers (`floor(time / interval)`), and for each: requests, 5xx answers, latency buckets as `[bucket, count]` pairs. */
  slots: { slot: number; requests: number; errors: number; latency: [number, number][] }[];
}

export type HistorySnapshot = PoolHistorySnapshot[];

/** What the dashboard draws: one value per completed interval, oldest first. */
export interface HistoryDocument {
  intervalMs: number;
  /** Epoch ms where the first interval starts; interval `i` starts at `start + i * intervalMs`. */
  start: number;
  pools: PoolHistory[];
}

export interface PoolHistory {
  name: string;
  requests: number[];
  /** Answers with a 5xx status (tandem's own 502/503/504 included). */
  errors: number[];
  /** p99 of the interval's response times (the bucket's upper bound), null for an interval without requests. */
  p99Ms: (number | null)[];
}

export class TrafficHistory {
  readonly #clock: Clock;
  readonly #pools = new Map<string, _PoolRing>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  record(pool: string, status: number, ms: number): void {
    let ring = this.#pools.get(pool);
    if (ring === undefined) this.#pools.set(pool, ring = new _PoolRing());
    ring.record(Math.floor(this.#clock.now() / HISTORY_INTERVAL_MS), status >= 500, _bucketOf(ms));
  }

  /** The slots still inside the window, of every pool that had traffic. */
  snapshot(): HistorySnapshot {
    const current = Math.floor(this.#clock.now() / HISTORY_INTERVAL_MS);
    return [...this.#pools].map(([pool, ring]) => ({ pool, slots: ring.slotsSince(current - _RING) }));
  }
}

/**
 * The completed intervals of the last {@link HISTORY_SLOTS} for each of `pools` (in that order),
 * with every snapshot's counts added; the interval still running at `now` is left out, so the last
 * point never shows a rate over a fraction of an interval.
 */
export function mergeHistory(pools: readonly string[], now: number, snapshots: readonly HistorySnapshot[]): HistoryDocument {
  const current = Math.floor(now / HISTORY_INTERVAL_MS);
  const first = current - HISTORY_SLOTS;
  const byPool = new Map(pools.map((name) => [name, {
    requests: new Array<number>(HISTORY_SLOTS).fill(0),
    errors: new Array<number>(HISTORY_SLOTS).fill(0),
    latency: Array.from({ length: HISTORY_SLOTS }, () => new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0)),
  }]));
  for (const snapshot of snapshots) {
    for (const { pool, slots } of snapshot) {
      const into = byPool.get(pool);
      if (into === undefined) continue;
      for (const { slot, requests, errors, latency } of slots) {
        const index = slot - first;
        if (!(index >= 0 && index < HISTORY_SLOTS)) continue;
        into.requests[index] += requests;
        into.errors[index] += errors;
        for (const [bucket, count] of latency) {
          if (bucket >= 0 && bucket <= LATENCY_BOUNDS_MS.length) into.latency[index][bucket] += count;
        }
      }
    }
  }
  return {
    intervalMs: HISTORY_INTERVAL_MS,
    start: first * HISTORY_INTERVAL_MS,
    pools: [...byPool].map(([name, { requests, errors, latency }]) => ({ name, requests, errors, p99Ms: latency.map((counts) => _percentile(counts, 0.99)) })),
  };
}

/** One pool's ring: slot `s` lives at index `s % _RING` until slot `s + _RING` takes its place. */
class _PoolRing {
  readonly #slot = new Float64Array(_RING).fill(-1);
  readonly #requests = new Uint32Array(_RING);
  readonly #errors = new Uint32Array(_RING);
  readonly #latency = new Uint32Array(_RING * (LATENCY_BOUNDS_MS.length + 1));

  record(slot: number, error: boolean, bucket: number): void {
    const index = slot % _RING;
    const width = LATENCY_BOUNDS_MS.length + 1;
    if (this.#slot[index] !== slot) {
      this.#slot[index] = slot;
      this.#requests[index] = 0;
      this.#errors[index] = 0;
      this.#latency.fill(0, index * width, (index + 1) * width);
    }
    this.#requests[index]++;
    if (error) this.#errors[index]++;
    this.#latency[index * width + bucket]++;
  }

  /** Slots after `oldest` that saw requests, oldest first (a slot whose index was reused since is gone already). */
  slotsSince(oldest: number): PoolHistorySnapshot["slots"] {
    const width = LATENCY_BOUNDS_MS.length + 1;
    const slots: PoolHistorySnapshot["slots"] = [];
    for (let index = 0; index < _RING; index++) {
      const slot = this.#slot[index];
      if (slot <= oldest || this.#requests[index] === 0) continue;
      const latency: [number, number][] = [];
      for (let bucket = 0; bucket < width; bucket++) {
        const count = this.#latency[index * width + bucket];
        if (count > 0) latency.push([bucket, count]);
      }
      slots.push({ slot, requests: this.#requests[index], errors: this.#errors[index], latency });
    }
    return slots.sort((a, b) => a.slot - b.slot);
  }
}

function _bucketOf(ms: number): number {
  // Binary search: the first bound at or above `ms`, or the overflow bucket.
  let low = 0, high = LATENCY_BOUNDS_MS.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (LATENCY_BOUNDS_MS[middle] >= ms) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** Nearest rank over bucket counts: the upper bound of the bucket holding it (the overflow bucket reads as the last bound). */
function _percentile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let bucket = 0; bucket < counts.length; bucket++) {
    seen += counts[bucket];
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(bucket, LATENCY_BOUNDS_MS.length - 1)];
  }
  return null;
}
