/**
 * One timer per connection for timeouts that take turns (response, body idle, keep-alive on the
 * member side; request head, body, keep-alive on the client side).
 *
 * @module
 */
import type { Clock } from "../ports.ts";

const _noop = () => {};

/**
 * A deadline that moves with every request on a connection. Setting it rarely touches the clock's
 * timers: a pending timer that fires too early just re-arms for the rest, so a busy keep-alive
 * connection costs one timer per timeout period instead of several per request.
 */
export class Deadline {
  #cancelTimer: (() => void) | undefined;
  #firesAt = 0;
  #expiresAt = Infinity;
  #onExpire: () => void = _noop;
  /** When it was last set: the socket front end's request-start time comes free with the request timeout. */
  setAt = 0;

  constructor(readonly clock: Clock) {}

  /** Calls `onExpire` `ms` from now unless set or cleared before; 0 or Infinity never expires. */
  set(ms: number, onExpire: () => void): void {
    if (!(ms > 0 && ms < Infinity)) return this.clear();
    const now = this.clock.now();
    this.setAt = now;
    this.#expiresAt = now + ms;
    this.#onExpire = onExpire;
    if (this.#cancelTimer && this.#firesAt <= this.#expiresAt) return;
    this.#cancelTimer?.();
    this.#arm(now, ms);
  }

  /** Nothing expires until the next `set`; a pending timer stays, as the next set will want one. */
  clear(): void {
    this.#expiresAt = Infinity;
  }

  /** For a connection that is gone: drops the pending timer too. */
  dispose(): void {
    this.#expiresAt = Infinity;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  #arm(now: number, ms: number): void {
    this.#firesAt = now + ms;
    this.#cancelTimer = this.clock.setTimer(() => {
      this.#cancelTimer = undefined;
      const now = this.clock.now();
      if (this.#expiresAt === Infinity) return;
      if (now < this.#expiresAt) return this.#arm(now, this.#expiresAt - now);
      this.#expiresAt = Infinity;
      this.#onExpire();
    }, Math.min(ms, 2 ** 31 - 1));
  }
}
