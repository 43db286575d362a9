/**
 * The body timeout of the web front end (HTTP/2 and HTTP/3 listeners), where the runtime's server
 * owns the connection and tandem sees only each stream's body: a request body that gives no byte
 * for `timeouts.body` fails its upload, and an answer the runtime stops pulling for that long is
 * cut (the runtime resets the stream). One sweep per listener checks when each waiting body last
 * progressed, armed only while some body waits on its client: no timer per request.
 *
 * @example
 * ```ts
 * const stalls = new StallWatch(clock, () => 30_000, () => events.timeout("body"));
 * const body = stalls.requestBody(readerOf(request.body));
 * const stream = stalls.responseStream(answer.body);
 * ```
 *
 * @module
 */
import type { Clock } from "../ports.ts";
import type { BodyReader } from "../http/message.ts";
import { ClientTimeout } from "../http/client-timeout.ts";

/** A body waiting on its client since `since` (ms on the listener's clock). */
export interface WaitingOnClient {
  since: number;
  expire(): void;
}

/** The finest sweep: a short test timeout is still checked a few times over. */
const MIN_SWEEP_MS = 50;

export class StallWatch {
  readonly #waiting = new Set<WaitingOnClient>();
  #cancelSweep: (() => void) | undefined;

  /** `limitMs` is read at each sweep, so a reload's new timeout applies to the bodies in flight. */
  constructor(readonly clock: Clock, readonly limitMs: () => number, readonly onExpired: () => void) {}

  /** Bodies waiting on their client now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** The client's request body: a read with no byte for the limit rejects with {@link ClientTimeout}. */
  requestBody(body: BodyReader): BodyReader {
    return new _WatchedRequestBody(body, this);
  }

  /**
   * The answer's body as the runtime pulls it: a piece left unpulled for the limit errors the
   * stream and cancels the body with {@link ClientTimeout} (the member connection is then not reused).
   */
  responseStream(body: BodyReader): ReadableStream<Uint8Array> {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const waiting: WaitingOnClient = {
      since: 0,
      expire: () => {
        const timeout = new ClientTimeout(`client took no answer bytes for ${this.limitMs()} ms`);
        controller.error(timeout);
        body.cancel(timeout);
      },
    };
    return new ReadableStream<Uint8Array>({
      start: (c) => void (controller = c),
      // The runtime asks for more: the client took what was queued; the member's pace is not its fault.
      pull: async (c) => {
        this.unwatch(waiting);
        const piece = await body.read();
        if (piece === null) return c.close();
        c.enqueue(piece);
        this.watch(waiting);
      },
      cancel: (reason) => {
        this.unwatch(waiting);
        body.cancel(reason);
      },
    });
  }

  /** Stops the sweep (the listener closed); bodies still waiting are left to the runtime's shutdown. */
  close(): void {
    this.#cancelSweep?.();
    this.#cancelSweep = undefined;
    this.#waiting.clear();
  }

  watch(waiting: WaitingOnClient): void {
    waiting.since = this.clock.now();
    this.#waiting.add(waiting);
    this.#cancelSweep ??= this.clock.setTimer(this.#sweep, this.#period());
  }

  unwatch(waiting: WaitingOnClient): void {
    this.#waiting.delete(waiting);
  }

  /** A quarter of the limit: a body is cut between the limit and 1.25 times it. */
  #period(): number {
    return Math.max(MIN_SWEEP_MS, Math.ceil(this.limitMs() / 4));
  }

  readonly #sweep = (): void => {
    this.#cancelSweep = undefined;
    const oldest = this.clock.now() - this.limitMs();
    for (const waiting of this.#waiting) {
      if (waiting.since > oldest) continue;
      this.#waiting.delete(waiting);
      waiting.expire();
      this.onExpired();
    }
    if (this.#waiting.size > 0) this.#cancelSweep = this.clock.setTimer(this.#sweep, this.#period());
  };
}

/** A request body whose pending read ends in {@link ClientTimeout} when the client stays silent. */
class _WatchedRequestBody implements BodyReader, WaitingOnClient {
  since = 0;
  #expired = false;

  constructor(readonly body: BodyReader, readonly stalls: StallWatch) {}

  get bytesRead(): number | undefined {
    return this.body.bytesRead;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#expired) throw this.#timeout();
    this.stalls.watch(this);
    let piece: Uint8Array | null;
    try {
      piece = await this.body.read();
    } finally {
      this.stalls.unwatch(this);
    }
    // Cancelling ends the pending read as if the body ended: it did not, and a shortened upload must never look complete.
    if (this.#expired) throw this.#timeout();
    return piece;
  }

  cancel(reason?: unknown): void {
    this.stalls.unwatch(this);
    this.body.cancel(reason);
  }

  expire(): void {
    this.#expired = true;
    this.body.cancel(this.#timeout());
  }

  #timeout(): ClientTimeout {
    return new ClientTimeout(`client sent no request body bytes for ${this.stalls.limitMs()} ms`);
  }
}
