/**
 * The members one discover block keeps, as lookups come in: pure state, time passed in.
 *
 * A member is named by its address and port, so a re-resolution that returns it again finds it
 * again: its counters, health, sticky cookie value and route stay. A member whose record is gone
 * (or whose last good answer is older than its hold) drains: no new sessions, its sessions still
 * served; after `removeAfter` it leaves the pool. One that comes back while draining takes new
 * sessions again. The drain is not written into the member's `activation`, which stays the
 * operator's (see Member.dnsDraining): a drain set through the API outlives the record's absence.
 *
 * ```ts
 * const discovered = new DiscoveredMembers("app", config);
 * if (discovered.record(await lookupTargets(resolve, config), clock.now())) rebuildPools();
 * pool.members = [...listed, ...discovered.members()];   // those in discovered.draining() take no new sessions
 * ```
 *
 * @module
 */
import type { DiscoveryView } from "../admin/model.ts";
import type { MemberConfig } from "../config/schema.ts";
import type { LookupOutcome } from "./resolver.ts";
import type { DiscoverConfig } from "./schema.ts";
import type { Target, TargetLookup } from "./targets.ts";

interface _Slot {
  name: string;
  target: Target;
  /** Clock time the record went away; undefined while it is in the answers. */
  drainingSince: number | undefined;
}

/** What the admin API shows of one discover block. */
export interface DiscoveryStatus {
  name: string;
  type: DiscoverConfig["type"];
  lastOutcome: LookupOutcome | undefined;
  lastReason: string | undefined;
  /** Clock times: the last lookup, and the last one with records. */
  lastLookupAt: number | undefined;
  lastGoodAt: number | undefined;
  /** The TTL of the last good answer, in seconds. */
  ttl: number | undefined;
  members: { name: string; address: string; port: number; weight: number; priority: number; draining: boolean; drainingSince: number | undefined }[];
}

export class DiscoveredMembers {
  readonly #pool: string;
  readonly #config: DiscoverConfig;
  #slots = new Map<string, _Slot>();
  #lastOutcome: LookupOutcome | undefined;
  #lastReason: string | undefined;
  #lastLookupAt: number | undefined;
  #lastGoodAt: number | undefined;
  #ttl: number | undefined;
  #members: MemberConfig[] = [];
  #draining: ReadonlySet<string> = new Set();

  /** `previous`: the same pool's before a reload; its members carry over until the next answer says otherwise. */
  constructor(pool: string, config: DiscoverConfig, previous?: DiscoveredMembers) {
    this.#pool = pool;
    this.#config = config;
    if (previous !== undefined) {
      this.#slots = previous.#slots;
      this.#lastGoodAt = previous.#lastGoodAt;
      this.#members = this.#build();
    }
  }

  /** Takes one lookup's result; true when the members changed. */
  record(lookup: TargetLookup, now: number): boolean {
    this.#lastOutcome = lookup.outcome;
    this.#lastLookupAt = now;
    let changed: boolean;
    if (lookup.outcome === "ok") {
      this.#lastReason = undefined;
      this.#lastGoodAt = now;
      this.#ttl = lookup.ttl;
      changed = this.#take(lookup.targets, now);
    } else {
      this.#lastReason = lookup.reason;
      const hold = lookup.outcome === "nx" ? this.#config.hold.nx : this.#config.hold.valid;
      changed = this.#lastGoodAt !== undefined && now - this.#lastGoodAt >= hold && this.#drainAll(now);
    }
    return this.#removeExpired(now) || changed ? this.#rebuilt() : false;
  }

  /** Members that drained for `removeAfter` leave; true when any did. */
  expire(now: number): boolean {
    return this.#removeExpired(now) ? this.#rebuilt() : false;
  }

  /** The earliest clock time a draining member is due to leave, or undefined. */
  get nextExpiry(): number | undefined {
    let earliest: number | undefined;
    for (const slot of this.#slots.values()) {
      if (slot.drainingSince !== undefined) earliest = Math.min(earliest ?? Infinity, slot.drainingSince + this.#config.removeAfter);
    }
    return earliest;
  }

  /**
   * When to look again: the interval, or the last good answer's TTL when lower (at least 1 s, so a
   * TTL of 0 cannot spin). A failed lookup is tried again as soon: the hold runs out on time and a
   * record that is back is seen.
   */
  nextLookupIn(): number {
    if (this.#ttl === undefined) return this.#config.interval;
    return Math.min(this.#config.interval, Math.max(1000, this.#ttl * 1000));
  }

  /** The member configs for the pool, in a stable order (by name). */
  members(): readonly MemberConfig[] {
    return this.#members;
  }

  /** The names of the members whose record is gone. */
  draining(): ReadonlySet<string> {
    return this.#draining;
  }

  status(): DiscoveryStatus {
    return {
      name: this.#config.name,
      type: this.#config.type,
      lastOutcome: this.#lastOutcome,
      lastReason: this.#lastReason,
      lastLookupAt: this.#lastLookupAt,
      lastGoodAt: this.#lastGoodAt,
      ttl: this.#ttl,
      members: [...this.#slots.values()].map(({ name, target, drainingSince }) => ({ name, ...target, draining: drainingSince !== undefined, drainingSince })),
    };
  }

  /**
   * The answer's targets become the members, `servers` at most: ones already serving keep their
   * place before new ones (a bigger answer does not swap members around).
   */
  #take(targets: Target[], now: number): boolean {
    const wanted = new Map<string, Target>();
    for (const target of targets) wanted.set(this.#nameOf(target), target);
    const kept = [...wanted.keys()].filter((name) => this.#slots.get(name)?.drainingSince === undefined && this.#slots.has(name));
    const added = [...wanted.keys()].filter((name) => !kept.includes(name)).sort();
    const chosen = new Set([...kept.sort(), ...added].slice(0, this.#config.servers));
    let changed = false;
    for (const slot of this.#slots.values()) {
      if (!chosen.has(slot.name) && slot.drainingSince === undefined) {
        slot.drainingSince = now;
        changed = true;
      }
    }
    for (const name of chosen) {
      const target = wanted.get(name)!;
      const slot = this.#slots.get(name);
      if (slot === undefined) {
        this.#slots.set(name, { name, target, drainingSince: undefined });
        changed = true;
      } else if (slot.drainingSince !== undefined || slot.target.weight !== target.weight || slot.target.priority !== target.priority) {
        slot.drainingSince = undefined;
        slot.target = target;
        changed = true;
      }
    }
    return changed;
  }

  #drainAll(now: number): boolean {
    let changed = false;
    for (const slot of this.#slots.values()) {
      if (slot.drainingSince !== undefined) continue;
      slot.drainingSince = now;
      changed = true;
    }
    return changed;
  }

  #removeExpired(now: number): boolean {
    let removed = false;
    for (const [name, slot] of this.#slots) {
      if (slot.drainingSince === undefined || now - slot.drainingSince < this.#config.removeAfter) continue;
      this.#slots.delete(name);
      removed = true;
    }
    return removed;
  }

  #rebuilt(): true {
    this.#members = this.#build();
    return true;
  }

  #build(): MemberConfig[] {
    const scheme = this.#config.scheme;
    const slots = [...this.#slots.values()].sort((a, b) => a.name < b.name ? -1 : 1);
    this.#draining = new Set(slots.filter((slot) => slot.drainingSince !== undefined).map((slot) => slot.name));
    return slots.map(({ name, target }): MemberConfig => ({
      name,
      url: `${scheme}://${target.address.includes(":") ? `[${target.address}]` : target.address}:${target.port}`,
      weight: target.weight,
      distance: target.priority,
      activation: "active",
      maxconn: 0,
    }));
  }

  /** `app-10-0-0-5-8080`: the same address and port give the same name, hence the same cookie value and route. */
  #nameOf({ address, port }: Target): string {
    return `${this.#pool}-${address.replace(/[^A-Za-z0-9]/g, "-")}-${port}`;
  }
}

/** The admin API's view of a status: clock times as ISO strings. */
export function discoveryView(status: DiscoveryStatus): DiscoveryView {
  const iso = (time: number | undefined) => time === undefined ? null : new Date(time).toISOString();
  return {
    name: status.name,
    type: status.type,
    lastOutcome: status.lastOutcome ?? null,
    lastReason: status.lastReason ?? null,
    lastLookupAt: iso(status.lastLookupAt),
    lastGoodAt: iso(status.lastGoodAt),
    ttl: status.ttl ?? null,
    members: status.members.map((member) => ({ ...member, drainingSince: iso(member.drainingSince) })),
  };
}
