/**
 * A pool of members and the rules that decide which of them may take a request: activation,
 * weight, distance groups, domains, redirect targets and maxconn with a FIFO queue (mod_jk and
 * HAProxy semantics; see the README's mapping table).
 *
 * @module
 */
import type { Activation, MemberConfig, PoolConfig } from "../config/schema.ts";
import type { ClientSignal } from "../http/message.ts";
import type { Clock } from "../ports.ts";
import { httpProbe, type ProbeClient } from "../health/http-probe.ts";
import { type HealthTransition, MemberHealth, type Probe } from "../health/member-health.ts";
import type { Origin } from "../proxy/http1-client.ts";
import { compileCidrs } from "../proxy/ip.ts";
import { LatencyWindow } from "../metrics/latency-window.ts";
import type { StickyMode } from "../sticky/mode.ts";
import { createStickyMode } from "../sticky/sticky.ts";
import { memberIds } from "../sticky/member-id.ts";
import { createStrategy, type Strategy } from "../strategies/index.ts";
import { SlotQueue } from "./queue.ts";

export class Member {
  readonly name: string;
  readonly url: URL;
  /** Where and how to connect; TLS settings follow the pool's on reload. */
  origin!: Origin;
  /** Its value in insert/prefix cookies: the configured `cookie`, or an id derived from pool and member name (stable across reloads). */
  id!: string;
  route!: string;
  distance!: number;
  domain!: string | undefined;
  redirect!: string | undefined;
  maxconn!: number;
  /** Share of new sessions as configured (or set live by the admin API). */
  configuredWeight!: number;
  /** As configured or set at run time (API, peers): the operator's, which a DNS drain leaves alone. */
  activation!: Activation;
  /**
   * A member from DNS whose record is gone: it drains whatever its activation says, and that
   * activation is still the operator's when the record comes back (HAProxy keeps its resolution
   * maintenance apart from the admin's maintenance the same way).
   */
  dnsDraining = false;
  /** Active checks, passive observation and slow start; set by the pool. */
  health!: MemberHealth;
  /** Requests in flight (holding a connection slot). */
  active = 0;
  /** Until this clock time the member is skipped after refusing connections (mod_jk recover_time). */
  downUntil = 0;
  requests = 0;
  failures = 0;
  /** Body bytes of the requests it answered and of its answers (HAProxy `bin`/`bout`). */
  bytesIn = 0;
  bytesOut = 0;
  /** Attempts on it that were tried again (HAProxy `wretr`), and those that went to another member (`wredis`). */
  retries = 0;
  redispatches = 0;
  /** How the sessions it answered were decided. */
  readonly sessions = { new: 0, hit: 0, moved: 0 };
  readonly responses = { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
  /** Active checks run, and those that did not pass (HAProxy `chkfail` counts these). */
  checks = 0;
  failedChecks = 0;
  /** Time spent down by health in periods that have ended (HAProxy `downtime`, less the current period). */
  pastDowntimeMs = 0;
  /** Clock time of the last activation change through {@link Pool.change}; undefined before one. */
  activationChangedAt: number | undefined;
  /** Recent response times for the dashboard's percentiles: a fixed ring, no growth. */
  readonly latency = new LatencyWindow(512);

  constructor(config: MemberConfig, id: string, upstreamTls: UpstreamTls) {
    this.name = config.name;
    this.url = new URL(config.url);
    this.applyConfig(config, id, upstreamTls);
  }

  /** Takes the settings of a reloaded config; state (counters, in-flight, health) stays. */
  applyConfig(config: MemberConfig, id: string, upstreamTls: UpstreamTls): void {
    this.id = id;
    this.origin = _originOf(this.url, upstreamTls);
    this.route = config.route ?? config.name;
    this.distance = config.distance;
    this.domain = config.domain;
    this.redirect = config.redirect;
    this.maxconn = config.maxconn;
    this.configuredWeight = config.weight;
    this.activation = config.activation;
  }

  /** The activation in force: a DNS drain makes an active member disabled. */
  get effectiveActivation(): Activation {
    return this.dnsDraining && this.activation === "active" ? "disabled" : this.activation;
  }

  /** Same member across a reload: same name and same address. */
  sameIdentity(config: MemberConfig): boolean {
    return config.name === this.name && new URL(config.url).href === this.url.href;
  }

  /** The weight strategies see: configured weight scaled down while slow-starting. */
  get weight(): number {
    return this.configuredWeight * this.health.weightFactor();
  }

  get hasCapacity(): boolean {
    return this.maxconn === 0 || this.active < this.maxconn;
  }

  countResponse(status: number): void {
    const family = `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx` as keyof Member["responses"];
    this.responses[family]++;
  }
}

/** The member's probe, counting its checks; a check that times out ends as an aborted probe and counts as failed. */
function _counted(member: Member, probe: Probe): Probe {
  return async (signal) => {
    member.checks++;
    try {
      const result = await probe(signal);
      if (!result.ok) member.failedChecks++;
      return result;
    } catch (error) {
      member.failedChecks++;
      throw error;
    }
  };
}

/** The pool's settings for `https://` members. */
interface UpstreamTls {
  verify: boolean;
  caCerts: string[] | undefined;
}

function _originOf(url: URL, { verify, caCerts }: UpstreamTls): Origin {
  const tls = url.protocol === "https:";
  return {
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    tls: tls ? { serverName: url.hostname.replace(/^\[|\]$/g, ""), verify, caCerts } : undefined,
  };
}

export interface PoolOptions {
  clock: Clock;
  previous?: Pool;
  /** The client active checks use; without one, no active checks run. */
  probeClient?: ProbeClient;
  onHealth?: (pool: string, member: Member, transition: HealthTransition) => void;
  /** Trusted CAs (PEM) for `https://` members, loaded from the pool's `tls.ca`. */
  caCerts?: string[];
  /** Names of its members from DNS whose record is gone. */
  dnsDraining?: ReadonlySet<string>;
}

export class Pool {
  readonly members: Member[];
  readonly sticky: StickyMode | undefined;
  readonly #byName: Map<string, Member>;
  readonly #strategy: Strategy;
  readonly #queue: SlotQueue<Member>;

  readonly isTrustedProxy: (address: string) => boolean;

  readonly #clock: Clock;

  /** `options.previous`: the pool of the same name before a reload, whose members and table carry over. */
  constructor(readonly name: string, readonly config: PoolConfig, options: PoolOptions) {
    const { clock, previous } = options;
    this.#clock = clock;
    this.#queue = new SlotQueue(clock, config.queue);
    const ids = memberIds(name, config.members);
    const upstreamTls = { verify: config.tls.verify, caCerts: options.caCerts };
    const sameHealth = previous !== undefined && JSON.stringify(previous.config.health) === JSON.stringify(config.health);
    this.members = config.members.map((memberConfig) => {
      const kept = previous?.member(memberConfig.name);
      if (kept?.sameIdentity(memberConfig)) {
        kept.applyConfig(memberConfig, ids.get(memberConfig.name)!, upstreamTls);
        if (sameHealth) return kept;
        kept.health.stop();
        kept.health = this.#createHealth(kept, options);
        return kept;
      }
      const member = new Member(memberConfig, ids.get(memberConfig.name)!, upstreamTls);
      member.health = this.#createHealth(member, options, previous !== undefined);
      return member;
    });
    for (const member of this.members) member.dnsDraining = options.dnsDraining?.has(member.name) ?? false;
    this.#byName = new Map(this.members.map((member) => [member.name, member]));
    this.#strategy = createStrategy(config.strategy, this.members, { boundedLoad: config.hash.boundedLoad });
    const sameTable = previous?.sticky?.table !== undefined && config.sticky.mode === "learn" &&
      previous.config.sticky.tableSize === config.sticky.tableSize && previous.config.sticky.tableTtl === config.sticky.tableTtl;
    this.sticky = createStickyMode(config.sticky, this.members, clock, sameTable ? previous.sticky!.table : undefined);
    if (sameTable) {
      for (const member of previous!.members) {
        if (!this.members.includes(member)) this.sticky!.table!.deleteMember(member.name);
      }
    }
    this.isTrustedProxy = compileCidrs(config.forwarding.trustedProxies);
  }

  #createHealth(member: Member, options: PoolOptions, joining = false): MemberHealth {
    const { health } = this.config;
    let downSince = options.clock.now();
    const probeClient = health.check && options.probeClient;
    return new MemberHealth({
      name: member.name,
      // Without a client (a worker following worker 0's checks) the member keeps passive health only.
      config: probeClient ? health : { ...health, check: undefined },
      clock: options.clock,
      probe: probeClient ? _counted(member, httpProbe(probeClient, member.origin, health.check!, options.clock)) : undefined,
      joining,
      onTransition: (transition) => {
        if (transition.up) {
          // Checks that passed outrank an earlier refused connect: the member serves again at once.
          member.downUntil = 0;
          member.pastDowntimeMs += transition.at - downSince;
        } else {
          downSince = transition.at;
        }
        options.onHealth?.(this.name, member, transition);
      },
    });
  }

  /** Starts timer-driven health checking (servers; an edge platform calls probeDue instead). */
  startHealth(): void {
    for (const member of this.members) member.health.start();
  }

  /** Stops the health checking of every member that `next` (the reloaded pool) does not keep. */
  stopHealth(next?: Pool): void {
    // A kept member whose health config changed got a new checker, and the old one was stopped then.
    for (const member of this.members) {
      if (next?.member(member.name) !== member) member.health.stop();
    }
  }

  /** Lazy health checking for platforms without timers: starts the checks that are due and returns them. */
  probeDue(): Promise<void>[] {
    const started: Promise<void>[] = [];
    for (const member of this.members) {
      const check = member.health.maybeProbe();
      if (check) started.push(check);
    }
    return started;
  }

  member(name: string): Member | undefined {
    return this.#byName.get(name);
  }

  /** Sets weight and/or activation live; the strategy learns the new weights. */
  change(member: Member, change: { activation?: Activation; weight?: number }): void {
    if (change.activation !== undefined && change.activation !== member.activation) {
      member.activation = change.activation;
      member.activationChangedAt = this.#clock.now();
    }
    if (change.weight !== undefined) {
      member.configuredWeight = change.weight;
      this.#strategy.update(this.members);
    }
  }

  isUp(member: Member): boolean {
    return member.health.up && this.#clock.now() >= member.downUntil;
  }

  /** May take new sessions. */
  takesNew(member: Member): boolean {
    return member.effectiveActivation === "active" && member.configuredWeight > 0 && this.isUp(member);
  }

  /** May keep serving the sessions it has (a disabled member drains; a stopped one takes nothing). */
  takesSticky(member: Member): boolean {
    return member.activation !== "stopped" && this.isUp(member);
  }

  /** Counts one refused connection and rests the member for recoverTime. */
  markConnectFailure(member: Member): void {
    member.failures++;
    member.downUntil = this.#clock.now() + this.config.recoverTime;
  }

  /**
   * A member for a new session: among members that take new sessions and are not in `exclude`
   * (optionally only of `domain`), only the lowest distance that has any counts (mod_jk), and
   * members with a free slot are preferred over ones that would queue.
   */
  selectNew(exclude: ReadonlySet<Member>, key?: string, domain?: string): Member | undefined {
    let lowest = Infinity;
    for (const member of this.members) {
      if (member.distance < lowest && this.#eligible(member, exclude, domain)) lowest = member.distance;
    }
    if (lowest === Infinity) return undefined;
    const group = this.members.filter((member) => member.distance === lowest && this.#eligible(member, exclude, domain));
    const free = group.filter((member) => member.hasCapacity);
    return this.#strategy.select(free.length > 0 ? free : group, key) as Member;
  }

  #eligible(member: Member, exclude: ReadonlySet<Member>, domain: string | undefined): boolean {
    return !exclude.has(member) && this.takesNew(member) && (domain === undefined || member.domain === domain);
  }

  /**
   * Where the sessions of an unusable member go: its redirect target first (a hot standby may be
   * `disabled` and still take these), then a member of the same domain (its replication group
   * has the session), then anyone.
   */
  selectFailover(from: Member, exclude: ReadonlySet<Member>, key?: string): Member | undefined {
    const target = from.redirect === undefined ? undefined : this.#byName.get(from.redirect);
    if (target && !exclude.has(target) && this.takesSticky(target)) return target;
    if (from.domain !== undefined) {
      const sameDomain = this.selectNew(exclude, key, from.domain);
      if (sameDomain) return sameDomain;
    }
    return this.selectNew(exclude, key);
  }

  /**
   * Takes a connection slot on `member`, waiting in the pool's FIFO queue while it is at maxconn.
   * Resolves with the member granted (a request waiting for "any" may get another one), or
   * undefined when the queue is full, the wait times out or `signal` aborts.
   */
  acquire(member: Member, anyMember: boolean, signal?: ClientSignal): Promise<Member | undefined> | Member {
    if (member.hasCapacity) {
      member.active++;
      return member;
    }
    return this.#queue.wait(anyMember ? null : member, signal);
  }

  /** Returns a slot; the oldest waiter that can use this member gets it. */
  release(member: Member): void {
    member.active--;
    if (this.#queue.length === 0 || !member.hasCapacity) return;
    if (this.#queue.handOver(member, this.takesNew(member))) member.active++;
  }

  get queueLength(): number {
    return this.#queue.length;
  }
}
