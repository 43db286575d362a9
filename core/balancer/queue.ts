/**
 * The FIFO queue of a pool's requests that wait for a connection slot while their member is at
 * maxconn (HAProxy's backend queue): bounded in length and in waiting time, and left as soon as
 * the client goes away.
 *
 * @module
 */
import type { ClientSignal } from "../http/message.ts";
import type { Clock } from "../ports.ts";

/** A pool's `queue` settings. */
export interface SlotQueueLimits {
  /** Requests that may wait; the next one is refused at once. */
  readonly size: number;
  /** ms a request may wait; 0 refuses at once. */
  readonly timeout: number;
}

interface Waiter<M> {
  /** The member the request waits for, or null for any member that may take new sessions. */
  wanted: M | null;
  grant: (member: M) => void;
}

/**
 * Requests waiting for a slot, oldest first. Generic over the member type so that this module
 * needs nothing from the pool that owns it.
 */
export class SlotQueue<M> {
  readonly #waiters: Waiter<M>[] = [];
  readonly #clock: Clock;
  readonly #limits: SlotQueueLimits;

  constructor(clock: Clock, limits: SlotQueueLimits) {
    this.#clock = clock;
    this.#limits = limits;
  }

  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Waits until {@link handOver} passes a slot of `wanted` (null: of any member). Resolves with
   * that member, or undefined: at once when the queue is full, its timeout is 0 or `signal` has
   * aborted, else when the timeout passes or `signal` aborts.
   */
  wait(wanted: M | null, signal?: ClientSignal): Promise<M | undefined> {
    const { size, timeout } = this.#limits;
    // A client already gone must not hold a place (an abort listener added now would never fire).
    if (this.#waiters.length >= size || timeout === 0 || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter<M> = {
        wanted,
        grant: (member) => {
          finish();
          resolve(member);
        },
      };
      const onAbort = () => {
        finish();
        resolve(undefined);
      };
      const cancelTimer = this.#clock.setTimer(onAbort, timeout);
      const finish = () => {
        cancelTimer();
        signal?.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Gives a free slot of `member` to the oldest waiter for it, or for any member when `takesAny`
   * (the member may take new sessions). False when no one waits for it; when true the caller
   * counts the slot as taken.
   */
  handOver(member: M, takesAny: boolean): boolean {
    const waiter = this.#waiters.find((w) => w.wanted === member || (w.wanted === null && takesAny));
    if (!waiter) return false;
    waiter.grant(member);
    return true;
  }
}
