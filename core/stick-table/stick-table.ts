/**
 * Session stickiness memory: session key -> member, bounded in size and time.
 *
 * @module
 */
import type { Clock } from "../ports.ts";

export type StickChange =
  | { type: "set"; key: string; member: string; expiresAt: number }
  | { type: "delete"; key: string; reason: "expired" | "evicted" | "deleted" };

export interface StickTableOptions {
  /** Maximum number of entries; the least recently used one is evicted beyond it. */
  size: number;
  /** Milliseconds an entry lives after its last set or get. */
  ttl: number;
  clock: Clock;
}

interface Entry {
  member: string;
  expiresAt: number;
  /** The expiresAt last announced to subscribers. */
  announced: number;
  /** The cluster node that wrote it (replication); undefined when this node did. */
  origin?: string;
}

/** An entry as replication sees it. */
export interface StickEntry {
  member: string;
  expiresAt: number;
  /** Undefined when this node wrote it. */
  origin: string | undefined;
}

/**
 * A Map kept in least-recently-used order: every touch deletes and re-inserts the key, so
 * iteration starts at the oldest entry. Because every touch also sets expiresAt to now + ttl
 * (and the Clock is monotonic), that order is expiry order too: expired entries always form a
 * prefix, which lets sweep(), size and entries() stop at the first live entry instead of
 * scanning the table.
 *
 * An entry is live while now < expiresAt.
 */
export class StickTable {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(change: StickChange) => void>();
  readonly #capacity: number;
  readonly #ttl: number;
  readonly #clock: Clock;

  constructor(options: StickTableOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new RangeError(`stick table size must be a positive integer, got ${options.size}`);
    }
    if (!(options.ttl > 0)) {
      throw new RangeError(`stick table ttl must be positive, got ${options.ttl}`);
    }
    this.#capacity = options.size;
    this.#ttl = options.ttl;
    this.#clock = options.clock;
  }

  /**
   * The member for `key`, refreshing its TTL and LRU position; undefined if absent or expired
   * (an expired entry is removed and announced as delete/expired).
   *
   * A refresh is announced as a "set" once it has pushed expiry at least ttl/2 past the last
   * announced value: peers learn that a busy session is still alive before their copy expires,
   * without a replication message per request.
   */
  get(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.#clock.now();
    if (entry.expiresAt <= now) {
      this.#remove(key, "expired");
      return undefined;
    }
    entry.expiresAt = now + this.#ttl;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (entry.expiresAt - entry.announced >= this.#ttl / 2) {
      entry.announced = entry.expiresAt;
      entry.origin = undefined;
      this.#emit({ type: "set", key, member: entry.member, expiresAt: entry.expiresAt });
    }
    return entry.member;
  }

  /** Records key -> member, evicting the least recently used entry when full. */
  set(key: string, member: string): void {
    const now = this.#clock.now();
    if (!this.#entries.delete(key) && this.#entries.size >= this.#capacity) {
      const [oldestKey, oldest] = this.#entries.entries().next().value!;
      this.#remove(oldestKey, oldest.expiresAt <= now ? "expired" : "evicted");
    }
    const expiresAt = now + this.#ttl;
    this.#entries.set(key, { member, expiresAt, announced: expiresAt });
    this.#emit({ type: "set", key, member, expiresAt });
  }

  /** Removes `key`; returns whether a live entry existed (an expired one is removed as expired). */
  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    const live = entry.expiresAt > this.#clock.now();
    this.#remove(key, live ? "deleted" : "expired");
    return live;
  }

  /** Removes every entry pointing to `member` (member removed by reload); returns how many. */
  deleteMember(member: string): number {
    let removed = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.member !== member) continue;
      this.#remove(key, "deleted");
      removed++;
    }
    return removed;
  }

  /** Live entries; expired ones not yet swept are not counted. */
  get size(): number {
    return this.#entries.size - this.#expiredPrefix(this.#clock.now());
  }

  /** Live entries in LRU order (oldest first), for the admin API's pagination. */
  entries(offset: number, limit: number): { key: string; member: string; expiresAt: number }[] {
    const now = this.#clock.now();
    const page: { key: string; member: string; expiresAt: number }[] = [];
    let skip = offset;
    for (const [key, entry] of this.#entries) {
      if (page.length >= limit) break;
      if (entry.expiresAt <= now) continue;
      if (skip > 0) skip--;
      else page.push({ key, member: entry.member, expiresAt: entry.expiresAt });
    }
    return page;
  }

  /** The entry for `key` without touching its TTL or LRU position; undefined if absent or expired. */
  peek(key: string): StickEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.expiresAt <= this.#clock.now()) return undefined;
    return { member: entry.member, expiresAt: entry.expiresAt, origin: entry.origin };
  }

  /**
   * Stores an entry another node wrote, with that node's absolute expiry, and announces nothing:
   * replication applying a peer's change must not ship it back. Entries arrive roughly in expiry
   * order, so the LRU-equals-expiry order holds up to replication delay (an entry expiring a little
   * earlier than its successor is swept with them).
   */
  setRemote(key: string, member: string, expiresAt: number, origin: string): void {
    if (!this.#entries.delete(key) && this.#entries.size >= this.#capacity) {
      const [oldestKey] = this.#entries.keys();
      this.#entries.delete(oldestKey);
    }
    this.#entries.set(key, { member, expiresAt, announced: expiresAt, origin });
  }

  /** Removes `key` because another node deleted it; announces nothing (see setRemote). */
  deleteRemote(key: string): boolean {
    return this.#entries.delete(key);
  }

  /** Every live entry, oldest first; safe while the table changes (replication's full resync). */
  *live(): Generator<[string, StickEntry]> {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= this.#clock.now()) continue;
      yield [key, { member: entry.member, expiresAt: entry.expiresAt, origin: entry.origin }];
    }
  }

  /** Subscribes to changes (what replication ships); returns the unsubscribe function. */
  subscribe(listener: (change: StickChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Drops expired entries, announcing each; returns how many. Call periodically. */
  sweep(): number {
    const now = this.#clock.now();
    let dropped = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#remove(key, "expired");
      dropped++;
    }
    return dropped;
  }

  #expiredPrefix(now: number): number {
    let count = 0;
    for (const entry of this.#entries.values()) {
      if (entry.expiresAt > now) break;
      count++;
    }
    return count;
  }

  #remove(key: string, reason: "expired" | "evicted" | "deleted"): void {
    this.#entries.delete(key);
    this.#emit({ type: "delete", key, reason });
  }

  #emit(change: StickChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
