/**
 * Members from DNS for every pool with a `discover` block: each block is looked up on its own
 * timer (the interval, or its records' TTL when lower), and when its members change the pools are
 * rebuilt (`onChange`), the way a reload rebuilds them, so members that stay keep their state.
 *
 * ```ts
 * const discovery = new Discovery({ clock, resolverFor, log, onChange: () => balancer.reload(balancer.config) });
 * discovery.apply(config);                 // at start and on every reload
 * createBalancer(config, { ..., discovered: (pool) => discovery.members(pool), dnsDraining: (pool) => discovery.draining(pool) });
 * ```
 *
 * @module
 */
import type { Config, MemberConfig } from "../config/schema.ts";
import type { Clock, LogSink } from "../ports.ts";
import { DiscoveredMembers, type DiscoveryStatus } from "./discovered-members.ts";
import type { LookupOutcome, Resolve } from "./resolver.ts";
import type { DiscoverConfig } from "./schema.ts";
import { lookupTargets } from "./targets.ts";

export interface DiscoveryOptions {
  clock: Clock;
  /** The resolver for one discover block (its nameservers and timeout). */
  resolverFor: (config: DiscoverConfig) => Resolve;
  log: LogSink;
  /** The members of some pool changed: rebuild the pools. */
  onChange: () => void;
}

interface _Discoverer {
  config: DiscoverConfig;
  text: string;
  members: DiscoveredMembers;
  resolve: Resolve;
  cancelTimer: (() => void) | undefined;
  stopped: boolean;
}

export class Discovery {
  readonly #options: DiscoveryOptions;
  readonly #byPool = new Map<string, _Discoverer>();
  /** Lookups by pool and outcome, for `tandem_dns_lookups_total`. */
  readonly lookups = new Map<string, Map<LookupOutcome, number>>();

  constructor(options: DiscoveryOptions) {
    this.#options = options;
  }

  /**
   * Follows a (re)loaded config: blocks that are new start with a lookup at once, changed ones
   * start over keeping their members until the first answer, removed ones stop.
   */
  apply(config: Config): void {
    for (const [pool, discoverer] of this.#byPool) {
      const next = config.pools[pool]?.discover;
      if (next !== undefined && JSON.stringify(next) === discoverer.text) continue;
      this.#stop(discoverer);
      this.#byPool.delete(pool);
      if (next !== undefined) this.#start(pool, next, discoverer.members);
    }
    for (const [pool, poolConfig] of Object.entries(config.pools)) {
      if (poolConfig.discover !== undefined && !this.#byPool.has(pool)) this.#start(pool, poolConfig.discover);
    }
  }

  /** The pool's members from DNS (none for a pool without a discover block). */
  members(pool: string): readonly MemberConfig[] {
    return this.#byPool.get(pool)?.members.members() ?? [];
  }

  /** The names of the pool's members from DNS whose record is gone. */
  draining(pool: string): ReadonlySet<string> {
    return this.#byPool.get(pool)?.members.draining() ?? new Set();
  }

  /** The pools with a discover block. */
  pools(): string[] {
    return [...this.#byPool.keys()];
  }

  status(pool: string): DiscoveryStatus | undefined {
    return this.#byPool.get(pool)?.members.status();
  }

  stop(): void {
    for (const discoverer of this.#byPool.values()) this.#stop(discoverer);
    this.#byPool.clear();
  }

  #start(pool: string, config: DiscoverConfig, previous?: DiscoveredMembers): void {
    const discoverer: _Discoverer = {
      config,
      text: JSON.stringify(config),
      members: new DiscoveredMembers(pool, config, previous),
      resolve: this.#options.resolverFor(config),
      cancelTimer: undefined,
      stopped: false,
    };
    this.#byPool.set(pool, discoverer);
    void this.#lookup(pool, discoverer);
  }

  #stop(discoverer: _Discoverer): void {
    discoverer.stopped = true;
    discoverer.cancelTimer?.();
  }

  async #lookup(pool: string, discoverer: _Discoverer): Promise<void> {
    const { clock, log } = this.#options;
    const lookup = await lookupTargets(discoverer.resolve, discoverer.config).catch((error) => ({ outcome: "error" as const, reason: String(error?.message ?? error) }));
    if (discoverer.stopped) return;
    const byOutcome = this.lookups.get(pool) ?? new Map<LookupOutcome, number>();
    this.lookups.set(pool, byOutcome.set(lookup.outcome, (byOutcome.get(lookup.outcome) ?? 0) + 1));
    const before = discoverer.members.status();
    // A failure is logged when it starts and when it ends, not at every lookup.
    if (lookup.outcome !== before.lastOutcome && (lookup.outcome !== "ok" || before.lastOutcome !== undefined)) {
      log({ event: "dns-lookup", pool, name: discoverer.config.name, outcome: lookup.outcome, reason: "reason" in lookup ? lookup.reason : undefined });
    }
    if (discoverer.members.record(lookup, clock.now())) this.#changed(pool, discoverer, before);
    this.#schedule(pool, discoverer);
  }

  /** The next lookup, or sooner a draining member's removal. */
  #schedule(pool: string, discoverer: _Discoverer): void {
    const { clock } = this.#options;
    const lookupIn = discoverer.members.nextLookupIn();
    const expiry = discoverer.members.nextExpiry;
    const expiresIn = expiry === undefined ? Infinity : Math.max(0, expiry - clock.now());
    discoverer.cancelTimer = clock.setTimer(() => {
      if (discoverer.stopped) return;
      if (expiresIn < lookupIn) {
        const before = discoverer.members.status();
        if (discoverer.members.expire(clock.now())) this.#changed(pool, discoverer, before);
        this.#schedule(pool, discoverer);
      } else {
        void this.#lookup(pool, discoverer);
      }
    }, Math.min(lookupIn, expiresIn));
  }

  /** Rebuilds the pools, and logs one line per change of the member set naming what came, drains, left and changed weight or priority. */
  #changed(pool: string, discoverer: _Discoverer, before: DiscoveryStatus): void {
    const after = discoverer.members.status();
    const was = new Map(before.members.map((member) => [member.name, member]));
    const now = new Map(after.members.map((member) => [member.name, member]));
    const added = after.members.filter((member) => !member.draining && (was.get(member.name)?.draining ?? true)).map((member) => member.name);
    const draining = after.members.filter((member) => member.draining && !was.get(member.name)?.draining).map((member) => member.name);
    const removed = before.members.filter((member) => !now.has(member.name)).map((member) => member.name);
    const changed = after.members.filter((member) => {
      const old = was.get(member.name);
      return old !== undefined && !old.draining && !member.draining && (old.weight !== member.weight || old.priority !== member.priority);
    }).map((member) => member.name);
    // The pools first: a line read means the change is in force.
    this.#options.onChange();
    this.#options.log({ event: "dns-members", pool, name: discoverer.config.name, added, draining, removed, changed });
  }
}
