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
   * While Master, another master with lower priority spoke (a healed partition, lost adverts):
   * it steps down on this node's answer, but neighbours may have learned its MAC meanwhile.
   */
  onLowerMaster?(): void;
}

export interface VirtualRouter {
  readonly state: VrrpState;
  /** The master's address as last heard (own address when Master), undefined before any. */
  readonly masterAddress: string | undefined;
  /** Configured priority less the weights of failing trackers, within 1–254 (255 only untouched). */
  readonly effectivePriority: number;
  readonly transitions: number;
  /** Initialize → Backup (or Master for the address owner). */
  start(): void;
  received(advert: ReceivedAdvert): void;
  /** Sum of the weights of failing trackers (0 = none). Takes effect at the next advertisement. */
  setPenalty(penalty: number): void;
  /** A tracker without weight failed (true) or recovered (false). */
  setFault(fault: boolean): void;
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
  const { clock, address, priority, advertInterval, preempt, preemptDelay } = options;
  const ownNumber = ipv4ToNumber(address);
  let state: VrrpState = "initialize";
  let masterAddress: string | undefined;
  let transitions = 0;
  let penalty = 0;
  let fault = false;
  let masterAdverInterval = advertInterval;
  let preemptAfter = 0;
  let cancelDownTimer: (() => void) | undefined;
  let cancelAdverTimer: (() => void) | undefined;

  const effectivePriority = () => (penalty === 0 ? priority : Math.min(254, Math.max(1, priority - penalty)));

  const transition = (to: VrrpState, reason: string) => {
    const from = state;
    state = to;
    transitions++;
    options.onTransition({ from, to, reason, at: clock.now() });
  };
  const stopTimers = () => {
    cancelDownTimer?.();
    cancelAdverTimer?.();
    cancelDownTimer = cancelAdverTimer = undefined;
  };
  const armDownTimer = (ms: number, reason: string) => {
    cancelDownTimer?.();
    cancelDownTimer = clock.setTimer(() => {
      cancelDownTimer = undefined;
      becomeMaster(reason);
    }, ms);
  };
  const advertise = () => {
    options.send(effectivePriority());
    cancelAdverTimer = clock.setTimer(advertise, advertInterval);
  };
  const becomeMaster = (reason: string) => {
    stopTimers();
    masterAddress = address;
    transition("master", reason);
    advertise();
  };
  const becomeBackup = (reason: string, interval: number, master: string | undefined) => {
    stopTimers();
    masterAdverInterval = interval;
    masterAddress = master;
    transition("backup", reason);
    armDownTimer(masterDownInterval(effectivePriority(), masterAdverInterval), "no advertisement for Master_Down_Interval");
  };
  const startup = (reason: string) => {
    preemptAfter = clock.now() + preemptDelay;
    if (effectivePriority() === 255) becomeMaster(`${reason}: address owner (priority 255)`);
    else becomeBackup(reason, advertInterval, undefined);
  };

  return {
    get state() {
      return state;
    },
    get masterAddress() {
      return masterAddress;
    },
    get effectivePriority() {
      return effectivePriority();
    },
    get transitions() {
      return transitions;
    },
    start() {
      if (state !== "initialize") return;
      if (fault) transition("fault", "a tracker failed");
      else startup("startup");
    },
    received(advert) {
      const local = effectivePriority();
      if (state === "backup") {
        if (advert.priority === 0) {
          armDownTimer(skewTime(local, masterAdverInterval), "the master resigned (priority 0)");
          return;
        }
        const preempting = preempt && clock.now() >= preemptAfter;
        if (!preempting || advert.priority >= local) {
          masterAdverInterval = advert.interval;
          masterAddress = advert.sender;
          armDownTimer(masterDownInterval(local, masterAdverInterval), "no advertisement for Master_Down_Interval");
        }
        // Else preemption: a lower master is ignored and this node takes over when the timer fires.
      } else if (state === "master") {
        if (advert.priority === 0) {
          // Another master resigned: answer at once so its backups learn who is master.
          cancelAdverTimer?.();
          advertise();
        } else if (advert.priority > local || (advert.priority === local && ipv4ToNumber(advert.sender) > ownNumber)) {
          becomeBackup(`a master with ${advert.priority > local ? "higher priority" : "equal priority and higher address"} (${advert.sender})`, advert.interval, advert.sender);
        } else {
          // Answer at once rather than at the next interval (as keepalived does): the lower master
          // steps down now, before its addresses and ARP announcements reach many neighbours.
          options.send(local);
          options.onLowerMaster?.();
        }
      }
    },
    setPenalty(value) {
      penalty = value;
    },
    setFault(value) {
      if (value === fault) return;
      fault = value;
      if (state === "initialize") return;
      if (fault) {
        const wasMaster = state === "master";
        stopTimers();
        if (wasMaster) options.send(0);
        masterAddress = undefined;
        transition("fault", "a tracker failed");
      } else {
        startup("the failing tracker recovered");
      }
    },
    stop() {
      if (state === "initialize") return;
      const wasMaster = state === "master";
      stopTimers();
      if (wasMaster) options.send(0);
      masterAddress = undefined;
      transition("initialize", "stopped");
    },
  };
}
