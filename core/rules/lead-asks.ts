/**
 * A worker's questions to worker 0 that fail open: each is settled by worker 0's answer or, when
 * none came within the timeout (worker 0 restarting must not stop the other workers' traffic) or
 * the worker stops, by the answer that lets its requests through. One timer for every question
 * waiting, not one per question.
 *
 * @module
 */
import type { Clock } from "../ports.ts";

interface _Waiting<Answer> {
  at: number;
  settle: (answer: Answer) => void;
  letThrough: (until: number) => Answer;
}

export class LeadAsks<Answer> {
  /** By id; ids grow, so the oldest question is the first due. */
  readonly #waiting = new Map<number, _Waiting<Answer>>();
  #sweep: (() => void) | undefined;
  #nextId = 1;

  constructor(readonly clock: Clock, readonly timeoutMs: number) {}

  /**
   * Sends a question (`send` gets its id); `settle` gets the answer, at once when it comes.
   * `letThrough` is the answer when worker 0 gives none, with the time until which it holds
   * (Infinity once the worker stops).
   */
  ask(send: (id: number) => void, settle: (answer: Answer) => void, letThrough: (until: number) => Answer): void {
    const id = this.#nextId++;
    this.#waiting.set(id, { at: this.clock.now(), settle, letThrough });
    this.#sweep ??= this.clock.setTimer(() => this.#letThroughUnanswered(), this.timeoutMs);
    send(id);
  }

  /** Worker 0's answer to question `id`; one that came too late (or to a worker that restarted) changes nothing. */
  answer(id: number, answer: Answer): void {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return;
    this.#waiting.delete(id);
    waiting.settle(answer);
  }

  /** Lets every waiting question through for good (the worker is stopping). */
  close(): void {
    this.#sweep?.();
    this.#sweep = undefined;
    for (const [id, waiting] of this.#waiting) this.answer(id, waiting.letThrough(Infinity));
  }

  #letThroughUnanswered(): void {
    this.#sweep = undefined;
    const now = this.clock.now();
    for (const [id, waiting] of this.#waiting) {
      const due = waiting.at + this.timeoutMs;
      if (due > now) {
        this.#sweep = this.clock.setTimer(() => this.#letThroughUnanswered(), due - now);
        return;
      }
      this.answer(id, waiting.letThrough(now + this.timeoutMs));
    }
  }
}
