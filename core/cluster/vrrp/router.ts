/**
 * One virtual router's state machine, RFC 5798 §6.4 as revised by RFC 9568: Initialize, Backup,
 * Master, plus keepalived's Fault for a failing tracker. Pure: time comes from the Clock port,
 * advertisements arrive already authenticated, and sending is a callback, so tests replay the
 * RFC timings exactly with a fake clock.
 *
 * Times are milliseconds; the RFC's centiseconds are ×10. With priority p and the master's
 * advertised interval I: Skew_Time = ((256 − p) × I) / 256, Master_Down_Interval = 3 × I + Skew_Time.
 *
 * @example
 * ```ts
 * const router = createVirtualRouter({ clock, vrid: 51, address: "10.0.0.11", priority: 100,
 *   advertInterval: 1000, preempt: true, preemptDelay: 0, send: (priority) => {}, onTransition: () => {} });
 * router.start(); // Backup; Master after 3609.375 ms without hearing a master
 * ```
 * @module
 */
import type { Clock } from "../../ports.ts";
import { ipv4ToNumber } from "./schema.ts";

export type VrrpState = "initialize" | "backup" | "master" | "fault";

export interface Transition {
  from: VrrpState;
  to: VrrpState;
  /** Why, for logs and the admin API. */
  reason: string;
  /** Clock time of the change. */
  at: number;
}

/** An advertisement that passed authentication. */
export interface ReceivedAdvert {
  priority: number;
  /** The master's advertisement interval in ms. */
  interval: number;
  /** The sender's primary address. */
  sender: string;
}

export interface VirtualRouterOptions {
  clock: Clock;
  vrid: number;
  /** This node's primary address (the tie-breaker between equal priorities). */
  address: string;
  /** Configured priority, 1–255. */
  priority: number;
  /** Own advertisement interval in ms. */
  advertInterval: number;
  preempt: boolean;
  /** After entering Backup, lower-priority masters are accepted this long (ms). */
  preemptDelay: number;
  /** Sends an advertisement with this priority (0 = resigning). */
  send(priority: number): void;
  onTransition(transition: Transition): void;
  /**
   * While Master, another master with lower priority spoke (a healed partition, lost adverts, or
   * one stepping down for this node): it steps down on this node's answer, but neighbours may
   * have learned its MAC meanwhile.
   */
  onLowerMaster?(): void;
}

export interface VirtualRouter {
  readonly state: VrrpState;
  /** The master's address as last heard (own address when Master), undefined before any. */
  readonly masterAddress: string | undefined;
  /** Configured priority less the weights of failing trackers, within 1–254 (255 only untouched); 1 while held. */
  readonly effectivePriority: number;
  readonly transitions: number;
  /** Initialize → Backup (or Master for the address owner). */
  start(): void;
  received(advert: ReceivedAdvert): void;
  /** Sum of the weights of failing trackers (0 = none). Takes effect at the next advertisement. */
  setPenalty(penalty: number): void;
  /** A tracker without weight failed (true) or recovered (false). */
  setFault(fault: boolean): void;
  /**
   * While held the router advertises priority 1: it preempts no one, and takes over only when no
   * other master speaks (a node waiting for its session table, see the agent's sync wait). Takes
   * effect at the next advertisement sent or heard.
   */
  setHold(hold: boolean): void;
  /** Graceful stop: a Master resigns with priority 0, then the router is idle in Initialize. */
  stop(): void;
}

export function skewTime(priority: number, interval: number): number {
  return ((256 - priority) * interval) / 256;
}

export function masterDownInterval(priority: number, interval: number): number {
  return 3 * interval + skewTime(priority, interval);
}

export function createVirtualRouter(options: VirtualRouterOptions): VirtualRouter {
  return new _VirtualRouter(options);
}

class _VirtualRouter implements VirtualRouter {
  /** Kept whole: `send` and the callbacks are called on it, as methods of the caller's object. */
  readonly #options: VirtualRouterOptions;
  readonly #clock: Clock;
  readonly #address: string;
  readonly #ownNumber: number;
  readonly #priority: number;
  readonly #advertInterval: number;
  readonly #preempt: boolean;
  readonly #preemptDelay: number;
  #state: VrrpState = "initialize";
  #masterAddress: string | undefined;
  #transitions = 0;
  #penalty = 0;
  #fault = false;
  #hold = false;
  #masterAdverInterval: number;
  #preemptAfter = 0;
  #cancelMasterDown: (() => void) | undefined;
  #cancelAdver: (() => void) | undefined;

  constructor(options: VirtualRouterOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#address = options.address;
    this.#ownNumber = ipv4ToNumber(options.address);
    this.#priority = options.priority;
    this.#advertInterval = options.advertInterval;
    this.#preempt = options.preempt;
    this.#preemptDelay = options.preemptDelay;
    this.#masterAdverInterval = options.advertInterval;
  }

  get state(): VrrpState {
    return this.#state;
  }

  get masterAddress(): string | undefined {
    return this.#masterAddress;
  }

  get effectivePriority(): number {
    if (this.#hold) return 1;
    return this.#penalty === 0 ? this.#priority : Math.min(254, Math.max(1, this.#priority - this.#penalty));
  }

  get transitions(): number {
    return this.#transitions;
  }

  start(): void {
    if (this.#state !== "initialize") return;
    if (this.#fault) this.#transition("fault", "a tracker failed");
    else this.#onStartup("startup");
  }

  received(advert: ReceivedAdvert): void {
    if (this.#state === "backup") this.#onAdvertisementAsBackup(advert);
    else if (this.#state === "master") this.#onAdvertisementAsMaster(advert);
  }

  setPenalty(penalty: number): void {
    this.#penalty = penalty;
  }

  setHold(hold: boolean): void {
    this.#hold = hold;
  }

  setFault(fault: boolean): void {
    if (fault === this.#fault) return;
    this.#fault = fault;
    if (this.#state === "initialize") return;
    if (fault) this.#shutdown("fault", "a tracker failed");
    else this.#onStartup("the failing tracker recovered");
  }

  stop(): void {
    if (this.#state === "initialize") return;
    this.#shutdown("initialize", "stopped");
  }

  /** §6.4.1, the Startup event: the address owner takes over at once, anyone else waits as Backup. */
  #onStartup(reason: string): void {
    this.#preemptAfter = this.#clock.now() + this.#preemptDelay;
    if (this.effectivePriority === 255) this.#becomeMaster(`${reason}: address owner (priority 255)`);
    else this.#becomeBackup(reason, this.#advertInterval, undefined);
  }

  /** §6.4.2: an advertisement heard as Backup. */
  #onAdvertisementAsBackup(advert: ReceivedAdvert): void {
    const local = this.effectivePriority;
    if (advert.priority === 0) {
      this.#armMasterDown(skewTime(local, this.#masterAdverInterval), "the master resigned (priority 0)");
      return;
    }
    const preempting = this.#preempt && this.#clock.now() >= this.#preemptAfter;
    if (!preempting || advert.priority >= local) {
      this.#masterAdverInterval = advert.interval;
      this.#masterAddress = advert.sender;
      this.#armMasterDown(masterDownInterval(local, this.#masterAdverInterval), "no advertisement for Master_Down_Interval");
    }
    // Else preemption: a lower master is ignored and this node takes over when the timer fires.
  }

  /** §6.4.3: an advertisement heard as Master. */
  #onAdvertisementAsMaster(advert: ReceivedAdvert): void {
    const local = this.effectivePriority;
    if (advert.priority === 0) {
      // Another master resigned: answer at once so its backups learn who is master.
      this.#cancelAdver?.();
      this.#advertise();
    } else if (advert.priority > local || (advert.priority === local && ipv4ToNumber(advert.sender) > this.#ownNumber)) {
      this.#becomeBackup(
        `a master with ${advert.priority > local ? "higher priority" : "equal priority and higher address"} (${advert.sender})`,
        advert.interval,
        advert.sender,
      );
      // One advertisement more, at this node's priority: after a partition the winner's may have
      // come first, and without hearing this lower master the winner would not announce the
      // addresses again to the neighbours that learned this node's MAC meanwhile.
      this.#options.send(local);
    } else {
      // Answer at once rather than at the next interval (as keepalived does): the lower master
      // steps down now, before its addresses and ARP announcements reach many neighbours.
      this.#options.send(local);
      this.#options.onLowerMaster?.();
    }
  }

  #becomeMaster(reason: string): void {
    this.#cancelTimers();
    this.#masterAddress = this.#address;
    this.#transition("master", reason);
    this.#advertise();
  }

  #becomeBackup(reason: string, interval: number, master: string | undefined): void {
    this.#cancelTimers();
    this.#masterAdverInterval = interval;
    this.#masterAddress = master;
    this.#transition("backup", reason);
    this.#armMasterDown(masterDownInterval(this.effectivePriority, this.#masterAdverInterval), "no advertisement for Master_Down_Interval");
  }

  /** The Shutdown event (§6.4.2, §6.4.3), also taken into Fault: a Master resigns with priority 0. */
  #shutdown(to: "initialize" | "fault", reason: string): void {
    const wasMaster = this.#state === "master";
    this.#cancelTimers();
    if (wasMaster) this.#options.send(0);
    this.#masterAddress = undefined;
    this.#transition(to, reason);
  }

  /** Master_Down_Timer: when it fires, this Backup becomes Master. */
  #armMasterDown(ms: number, reason: string): void {
    this.#cancelMasterDown?.();
    this.#cancelMasterDown = this.#clock.setTimer(() => {
      this.#cancelMasterDown = undefined;
      this.#becomeMaster(reason);
    }, ms);
  }

  /** Sends an advertisement and re-arms Adver_Timer. */
  #advertise(): void {
    this.#options.send(this.effectivePriority);
    this.#cancelAdver = this.#clock.setTimer(() => this.#advertise(), this.#advertInterval);
  }

  #cancelTimers(): void {
    this.#cancelMasterDown?.();
    this.#cancelAdver?.();
    this.#cancelMasterDown = this.#cancelAdver = undefined;
  }

  #transition(to: VrrpState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    this.#transitions++;
    this.#options.onTransition({ from, to, reason, at: this.#clock.now() });
  }
}
