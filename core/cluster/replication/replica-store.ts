/**
 * The state replication keeps equal on every node: the learned sticky entries of each `learn`
 * pool and the members' admin changes. Local changes come from the stick tables' change feeds
 * and the admin API's hook; changes from peers or other workers are applied last-write-wins by
 * (time, node name). Subscribers get both, with the source, so each carrier (replication,
 * workers) passes on what the other brought and nothing returns to where it came from.
 *
 * Sticky entries carry their absolute expiry (wall-clock ms, the stick table's clock), so an
 * entry expires at the same moment on every node. An entry's write time is its expiry minus the
 * pool's TTL: a delete wins over writes older than itself.
 *
 * @module
 */
import type { Pool } from "../../balancer/pool.ts";
import type { Activation } from "../../config/fields.ts";
import type { Clock } from "../../ports.ts";
import type { StickChange, StickTable } from "../../stick-table/stick-table.ts";
import type { ReplicaRecord } from "./frames.ts";

/** Distinct node names interned; a cluster has a handful, the bound only keeps a confused peer from growing it. */
const MAX_ORIGINS = 256;

/** Why a peer's record was not applied although authentic. */
export type RecordDropReason = "unknown-pool" | "unknown-member" | "not-learn-pool" | "unknown-rate-limit";

/**
 * Where a change came from: this thread, a replication peer, or another worker of this process.
 * Each carrier forwards what the others brought, so a change crosses from the peers to every
 * worker and back without echoing.
 */
export type RecordSource = "local" | "peers" | "workers";

export type RecordListener = (record: ReplicaRecord, source: RecordSource) => void;

export interface ReplicaStoreOptions {
  /** This node's name: the origin of local changes and its side of every tie. */
  node: string;
  /** The pools in force (they change on reload). */
  pools: () => ReadonlyMap<string, Pool>;
  clock: Clock;
  /** Takes a peer's rate limit count (core/rules/rate-limit-sharing.ts); false when no such limit is configured here. */
  rateCount?: (record: RateRecord) => boolean;
}

type RateRecord = Extract<ReplicaRecord, { kind: "rate" }>;

interface AdminStamp {
  at: number;
  origin: string;
  actor: string;
}

export class ReplicaStore {
  /** This node's name (`cluster.node`; a reload may change it). */
  node: string;
  /** Records dropped by reason. */
  readonly dropped = new Map<RecordDropReason, number>();
  readonly #options: ReplicaStoreOptions;
  /** The table each pool was subscribed with, to re-subscribe when a reload replaces it. */
  readonly #subscriptions = new Map<string, { table: StickTable; unsubscribe: () => void }>();
  /** The last admin change per member ("pool\0member"), local or remote. */
  readonly #admin = new Map<string, AdminStamp>();
  readonly #listeners = new Set<RecordListener>();
  /** ACME accounts, certificates and http-01 answers by key (core/acme/replication.ts), last write wins. */
  readonly #acme = new Map<string, { value: string; at: number; origin: string }>();
  /** One string per node name: a million entries then share a handful of origins. */
  readonly #origins = new Map<string, string>();

  constructor(options: ReplicaStoreOptions) {
    this.#options = options;
    this.node = options.node;
  }

  /** Follows the change feed of every learn-mode pool in force; call again after each reload. */
  attach(): void {
    const pools = this.#options.pools();
    for (const [name, subscription] of this.#subscriptions) {
      if (pools.get(name)?.sticky?.table === subscription.table) continue;
      subscription.unsubscribe();
      this.#subscriptions.delete(name);
    }
    for (const [name, pool] of pools) {
      const table = pool.sticky?.table;
      if (table === undefined || this.#subscriptions.has(name)) continue;
      const unsubscribe = table.subscribe((change) => this.#local(name, change));
      this.#subscriptions.set(name, { table, unsubscribe });
    }
  }

  /** Receives every local change and every applied one, in order, with its source; returns the unsubscribe function. */
  subscribe(listener: RecordListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(record: ReplicaRecord, source: RecordSource): void {
    for (const listener of this.#listeners) listener(record, source);
  }

  detach(): void {
    for (const subscription of this.#subscriptions.values()) subscription.unsubscribe();
    this.#subscriptions.clear();
  }

  #local(pool: string, change: StickChange): void {
    const origin = this.node;
    if (change.type === "set") {
      this.#emit({ kind: "stick", pool, key: change.key, member: change.member, expiresAt: change.expiresAt, origin }, "local");
    } else if (change.reason === "deleted") {
      // Expiry happens on every node by itself; eviction is this node's memory, not the cluster's.
      this.#emit({ kind: "unstick", pool, key: change.key, at: this.#options.clock.now(), origin }, "local");
    }
  }

  /** An admin API change on this node (already applied to the pool). */
  adminChanged(pool: string, member: string, change: { activation?: Activation; weight?: number }, actor: string): void {
    const at = this.#options.clock.now();
    const origin = this.node;
    this.#admin.set(`${pool}\u0000${member}`, { at, origin, actor });
    this.#emit({ kind: "admin", pool, member, ...change, actor, at, origin }, "local");
  }

  /** This node counted requests of a rate limit key: its count for the window goes to the peers. */
  rateCounted(count: Omit<RateRecord, "kind" | "origin">): void {
    this.#emit({ kind: "rate", ...count, origin: this.node }, "local");
  }

  /** The ACME value held for `key` (this node's or a peer's), undefined when none. */
  acmeValue(key: string): string | undefined {
    return this.#acme.get(key)?.value;
  }

  /** An ACME value this node made (a certificate it obtained, a token it published). */
  acmeChanged(key: string, value: string): void {
    // Later than the value it replaces even within one clock tick (a token withdrawn as soon as the
    // CA looked): at the same time and origin, the others would keep the first.
    const at = Math.max(this.#options.clock.now(), (this.#acme.get(key)?.at ?? -Infinity) + 1);
    const stamp = { value, at, origin: this.node };
    this.#keepAcme(key, stamp);
    this.#emit({ kind: "acme", key, ...stamp }, "local");
  }

  /**
   * A withdrawn value ("") is forgotten rather than kept as a tombstone: every order leaves a
   * withdrawn http-01 answer behind, and resyncs need not carry them forever.
   */
  #keepAcme(key: string, stamp: { value: string; at: number; origin: string }): void {
    if (stamp.value === "") this.#acme.delete(key);
    else this.#acme.set(key, stamp);
  }

  /** Applies a record from elsewhere and tells the listeners; false when it lost to what this node has or was dropped. */
  apply(record: ReplicaRecord, source: Exclude<RecordSource, "local">): boolean {
    if (!this.#apply(record)) return false;
    this.#emit(record, source);
    return true;
  }

  #apply(record: ReplicaRecord): boolean {
    if (record.kind === "rate") {
      // Counts only grow: the sharing keeps each node's highest, so neither order nor repeats matter.
      return record.origin !== this.node && (this.#options.rateCount?.(record) || this.#drop("unknown-rate-limit"));
    }
    if (record.kind === "acme") {
      const stamp = this.#acme.get(record.key);
      if (stamp !== undefined && !_later(record.at, record.origin, stamp.at, stamp.origin)) return false;
      this.#keepAcme(record.key, { value: record.value, at: record.at, origin: record.origin });
      return true;
    }
    const pool = this.#options.pools().get(record.pool);
    if (pool === undefined) return this.#drop("unknown-pool");
    if (record.kind === "admin") return this.#applyAdmin(pool, record);
    const table = pool.sticky?.table;
    if (table === undefined) return this.#drop("not-learn-pool");
    const existing = table.peek(record.key);
    if (record.kind === "unstick") {
      if (existing === undefined || record.at < existing.expiresAt - pool.config.sticky.tableTtl) return false;
      return table.deleteRemote(record.key);
    }
    const member = pool.member(record.member);
    if (member === undefined) return this.#drop("unknown-member");
    if (record.expiresAt <= this.#options.clock.now()) return false;
    if (existing !== undefined && !_later(record.expiresAt, record.origin, existing.expiresAt, existing.origin ?? this.node)) {
      return false;
    }
    let origin = this.#origins.get(record.origin);
    if (origin === undefined) {
      origin = record.origin;
      if (this.#origins.size < MAX_ORIGINS) this.#origins.set(origin, origin);
    }
    // The member's own name rather than the decoded copy: one string per member, not per entry.
    table.setRemote(record.key, member.name, record.expiresAt, origin);
    return true;
  }

  #applyAdmin(pool: Pool, record: Extract<ReplicaRecord, { kind: "admin" }>): boolean {
    const member = pool.member(record.member);
    if (member === undefined) return this.#drop("unknown-member");
    const id = `${pool.name}\u0000${member.name}`;
    const stamp = this.#admin.get(id);
    if (stamp !== undefined && !_later(record.at, record.origin, stamp.at, stamp.origin)) return false;
    this.#admin.set(id, { at: record.at, origin: record.origin, actor: record.actor });
    pool.change(member, { activation: record.activation, weight: record.weight });
    return true;
  }

  #drop(reason: RecordDropReason): false {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
    return false;
  }

  /**
   * Every live entry and every member's admin state set through an API (a full resync). Lazy:
   * a million entries are encoded a chunk at a time, never held as a second copy.
   */
  *snapshot(): Generator<ReplicaRecord> {
    for (const [key, stamp] of this.#acme) yield { kind: "acme", key, ...stamp };
    for (const [id, stamp] of this.#admin) {
      const [poolName, memberName] = id.split("\u0000");
      const member = this.#options.pools().get(poolName)?.member(memberName);
      if (member === undefined) continue;
      yield {
        kind: "admin",
        pool: poolName,
        member: memberName,
        activation: member.activation,
        weight: member.configuredWeight,
        actor: stamp.actor,
        at: stamp.at,
        origin: stamp.origin,
      };
    }
    for (const [pool, { table }] of this.#subscriptions) {
      for (const [key, entry] of table.live()) {
        yield { kind: "stick", pool, key, member: entry.member, expiresAt: entry.expiresAt, origin: entry.origin ?? this.node };
      }
    }
  }
}

/** Last-write-wins order: the later time, then the greater node name. */
function _later(at: number, origin: string, otherAt: number, otherOrigin: string): boolean {
  return at > otherAt || (at === otherAt && origin > otherOrigin);
}
