/**
 * Whether one member is up: active checks (HAProxy `rise`/`fall` with `inter`, `fastinter` and
 * `downinter`), passive observation of proxied traffic (HAProxy `observe layer7` + `error-limit`,
 * re-admission with Envoy's growing ejection backoff) and slow start. Pure state machine: time
 * only through the Clock port, probing through an injected {@link Probe}.
 *
 * Two ways to drive it: `start()` arms clock timers (servers), or a platform without timers
 * calls `maybeProbe()` on every request and it runs whatever has fallen due.
 *
 * @example
 * ```ts
 * const health = new MemberHealth({ name: "tc1", config, clock, probe, onTransition: (e) => log(e.line) });
 * health.start();
 * health.observe("connect"); // from the proxy, for every request to tc1
 * if (health.up) weight *= health.weightFactor();
 * ```
 * @module
 */
import type { Clock } from "../ports.ts";
import type { HealthConfig, PassiveError } from "./schema.ts";

export interface ProbeResult {
  ok: boolean;
  /** `HTTP 200`, `HTTP 503 (expected 200-399)`, `connection refused`, `timeout after 1000 ms`... */
  reason: string;
  durationMs: number;
}

/** One check. `signal` aborts when the check timed out or the member is stopped. */
export type Probe = (signal?: AbortSignal) => Promise<ProbeResult>;

/** How a proxied request to the member ended. */
export type Outcome = "success" | PassiveError;

export interface HealthTransition {
  up: boolean;
  reason: string;
  /** `tc1 DOWN: 3/3 checks failed: connection refused` */
  line: string;
  /** Clock time of the transition. */
  at: number;
  /** Taken from worker 0's checks ({@link MemberHealth.follow}), which reported it already. */
  followed: boolean;
}

export interface MemberHealthOptions {
  name: string;
  config: HealthConfig;
  clock: Clock;
  /** Required when `config.check` is set. */
  probe?: Probe;
  /** Uniform in [0, 1) like Math.random (the default); spreads checks of different members. */
  random?: () => number;
  /** Called once per transition, synchronously; it must not throw. */
  onTransition?: (transition: HealthTransition) => void;
  /** A member new to a running pool (a reload or DNS added it): it slow-starts from now, as one coming back up would. */
  joining?: boolean;
}

const _ERROR_TEXT: Record<PassiveError, string> = { connect: "connect error", timeout: "timeout", "5xx": "HTTP 5xx" };

function _formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export class MemberHealth {
  readonly name: string;
  readonly #config: HealthConfig;
  readonly #clock: Clock;
  readonly #probe: Probe | undefined;
  readonly #random: () => number;
  readonly #onTransition: ((transition: HealthTransition) => void) | undefined;
  readonly #joining: boolean;
  #up = true;
  #reason = "initial state";
  #since: number;
  #lastCheck: (ProbeResult & { at: number }) | undefined;
  #transitions = 0;
  /** Consecutive failed checks while up, passed checks while down: nonzero means changing state. */
  #streak = 0;
  #errors = 0;
  #ejections = 0;
  /** The backoff of the current passive ejection, for the re-admission line. */
  #backoff = 0;
  /** When the next check (or, without checks, the re-admission) is due. */
  #dueAt = Infinity;
  #cancelTimer: (() => void) | undefined;
  /** Ends the check in flight: cancels its timeout and aborts the probe. */
  #endCheck: (() => void) | undefined;
  #timers = false;
  #stopped = false;

  constructor(options: MemberHealthOptions) {
    this.name = options.name;
    this.#config = options.config;
    this.#clock = options.clock;
    this.#probe = options.probe;
    this.#random = options.random ?? Math.random;
    this.#onTransition = options.onTransition;
    this.#joining = options.joining ?? false;
    this.#since = this.#clock.now();
    const check = this.#config.check;
    if (check) {
      if (!this.#probe) throw new TypeError(`${this.name}: health.check is set but no probe was given`);
      // HAProxy spreads first checks over the interval so that members are not probed in lockstep.
      this.#dueAt = this.#since + Math.round(this.#random() * check.interval);
    }
  }

  get up(): boolean {
    return this.#up;
  }

  /** Why the member is in its state, e.g. `3/3 checks failed: connection refused`. */
  get reason(): string {
    return this.#reason;
  }

  /** Clock time of the last transition (construction time before the first). */
  get since(): number {
    return this.#since;
  }

  get lastCheck(): (ProbeResult & { at: number }) | undefined {
    return this.#lastCheck;
  }

  get transitions(): number {
    return this.#transitions;
  }

  /** 0.1..1 while slow-starting after coming back, else 1: multiply the member's weight by it. */
  weightFactor(): number {
    const { slowStart } = this.#config;
    if (!this.#up || (this.#transitions === 0 && !this.#joining) || slowStart === 0) return 1;
    const elapsed = this.#clock.now() - this.#since;
    return elapsed >= slowStart ? 1 : (1 + (9 * elapsed) / slowStart) / 10;
  }

  /** Passive observation: the outcome of one proxied request. */
  observe(outcome: Outcome): void {
    const { errorLimit, on, backoff, maxBackoff } = this.#config.passive;
    if (this.#stopped || errorLimit === 0 || !this.#up) return;
    if (!on.includes(outcome as PassiveError)) {
      this.#errors = 0;
      return;
    }
    if (++this.#errors < errorLimit) return;
    const now = this.#clock.now();
    // A member that stayed up for the longest backoff has earned a fresh start.
    if (now - this.#since >= maxBackoff) this.#ejections = 0;
    this.#ejections++;
    this.#transition(false, `${this.#errors} consecutive errors (last: ${_ERROR_TEXT[outcome as PassiveError]})`);
    // With active checks, `rise` passed checks bring it back; the scheduled check stays as it is.
    if (this.#config.check) return;
    this.#backoff = Math.min(backoff * 2 ** (this.#ejections - 1), maxBackoff);
    this.#setDue(now + this.#backoff);
  }

  /**
   * Takes the state another thread's checks decided (`workers: N`: worker 0 checks, the others
   * follow it); a change is a transition like any other.
   */
  follow(up: boolean, reason: string): void {
    if (up !== this.#up) this.#transition(up, reason, true);
  }

  /** Drives checks and re-admission with clock timers until stop(). */
  start(): void {
    if (this.#stopped || this.#timers) return;
    this.#timers = true;
    this.#arm();
  }

  /** Cancels every timer and the check in flight; no transition is reported afterwards. */
  stop(): void {
    this.#stopped = true;
    this.#timers = false;
    this.#dueAt = Infinity;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#endCheck?.();
    this.#endCheck = undefined;
  }

  /**
   * For callers without timers: runs what is due. Returns the check's promise when one started;
   * a due re-admission happens at once and returns undefined, as does a call with nothing due.
   */
  maybeProbe(): Promise<void> | undefined {
    if (this.#stopped || this.#endCheck || this.#clock.now() < this.#dueAt) return undefined;
    return this.#runDue();
  }

  #setDue(at: number): void {
    this.#dueAt = at;
    if (this.#timers) this.#arm();
  }

  #arm(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (this.#dueAt === Infinity) return;
    // Web timers fire at once past 2^31 - 1 ms (a maxBackoff of "30d"): wait in steps instead.
    const delay = Math.min(Math.max(0, this.#dueAt - this.#clock.now()), 2 ** 31 - 1);
    this.#cancelTimer = this.#clock.setTimer(() => {
      this.#cancelTimer = undefined;
      if (this.#clock.now() < this.#dueAt) this.#arm();
      else this.#runDue();
    }, delay);
  }

  #runDue(): Promise<void> | undefined {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#dueAt = Infinity;
    if (this.#config.check) return this.#check();
    if (!this.#up) this.#transition(true, `re-admitted after ${_formatMs(this.#backoff)} backoff`);
    return undefined;
  }

  async #check(): Promise<void> {
    const { timeout } = this.#config.check!;
    const clock = this.#clock;
    const started = clock.now();
    const controller = new AbortController();
    let cancelTimeout = () => {};
    const end = () => {
      cancelTimeout();
      controller.abort();
    };
    this.#endCheck = end;
    // The probe keeps its own deadline too; this one holds even for a probe that ignores it.
    const result = await new Promise<ProbeResult>((resolve) => {
      cancelTimeout = clock.setTimer(
        () => resolve({ ok: false, reason: `timeout after ${timeout} ms`, durationMs: timeout }),
        timeout,
      );
      // Through a promise so that a probe throwing synchronously still counts as a failed check.
      new Promise<ProbeResult>((run) => run(this.#probe!(controller.signal))).then(resolve, (error) =>
        resolve({ ok: false, reason: String(error?.message ?? error), durationMs: clock.now() - started }));
    });
    end();
    if (this.#endCheck !== end) return;
    this.#endCheck = undefined;
    this.#record(result);
    this.#setDue(clock.now() + this.#nextInterval());
  }

  #record(result: ProbeResult): void {
    this.#lastCheck = { ...result, at: this.#clock.now() };
    // Only results that contradict the state count; one that agrees with it ends the streak.
    if (result.ok === this.#up) {
      this.#streak = 0;
      return;
    }
    this.#streak++;
    const { rise, fall } = this.#config.check!;
    if (this.#up && this.#streak >= fall) {
      this.#transition(false, `${fall}/${fall} checks failed: ${result.reason}`);
    } else if (!this.#up && this.#streak >= rise) {
      this.#transition(true, `${rise}/${rise} checks passed (${result.reason})`);
    }
  }

  #nextInterval(): number {
    const { interval, fastInterval, downInterval } = this.#config.check!;
    const base = this.#streak > 0 ? fastInterval : this.#up ? interval : downInterval;
    // ±10 % so that members probed together drift apart.
    return Math.round(base * (1 + (this.#random() - 0.5) / 5));
  }

  #transition(up: boolean, reason: string, followed = false): void {
    const at = this.#clock.now();
    this.#up = up;
    this.#reason = reason;
    this.#since = at;
    this.#transitions++;
    this.#streak = 0;
    this.#errors = 0;
    const line = `${this.name} ${up ? "UP" : "DOWN"}: ${reason}`;
    this.#onTransition?.({ up, reason, line, at, followed });
  }
}
