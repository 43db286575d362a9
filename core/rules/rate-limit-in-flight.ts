/**
 * Requests in flight (`concurrent`) counted across the workers of one process: worker 0 holds the
 * count of every key; another worker asks it for a place before each request and gives the
 * place back when the request ends. A round trip per request on those workers, for the limits
 * that cap requests in flight only: a cap is exact or it is no cap, and a place cannot be leased
 * ahead the way request tokens are (a place held for later is a place another request lacks).
 *
 * Worker 0 remembers which worker holds which places, so a worker that restarts (and says hello)
 * gets its places back into the pool, and a give-back it cannot match (worker 0 restarted
 * meanwhile, or its answer came too late) changes nothing.
 *
 * @module
 */
import type { Clock } from "../ports.ts";
import { LeadAsks } from "./lead-asks.ts";
import type { RateKeyState, RateTable } from "./sliding-window.ts";

/**
 * How long a worker waits for worker 0's answer before it lets the request through: a worker 0
 * that is restarting must not stop the other workers' traffic.
 */
export const IN_FLIGHT_TIMEOUT_MS = 1_000;

export type InFlightMessage =
  | { type: "enter"; worker: number; id: number; limit: string; key: string }
  | { type: "entered"; worker: number; id: number; admitted: boolean }
  | { type: "leave"; worker: number; limit: string; key: string }
  | { type: "hello"; worker: number };

export interface InFlightChannel {
  postMessage(message: InFlightMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<{ type: string }>) => void): void;
}

export interface SharedInFlightOptions {
  clock: Clock;
  worker: number;
  channel: InFlightChannel;
  /** Worker 0's table of `limit`, if it has that limit. */
  table: (limit: string) => RateTable | undefined;
}

export class SharedInFlight {
  readonly #options: SharedInFlightOptions;
  readonly #asks: LeadAsks<boolean>;
  /** Places this worker asked worker 0 for, for the metrics. */
  asks = 0;
  /** Worker 0: the places each worker holds, by "worker\0limit\0key". */
  readonly #held = new Map<string, RateKeyState[]>();

  constructor(options: SharedInFlightOptions) {
    this.#options = options;
    this.#asks = new LeadAsks(options.clock, IN_FLIGHT_TIMEOUT_MS);
    options.channel.addEventListener("message", ({ data }) => this.#receive(data as InFlightMessage));
    if (options.worker !== 0) options.channel.postMessage({ type: "hello", worker: options.worker });
  }

  /** Another worker: asks worker 0 for a place for one request of `key`. */
  enter(limit: string, key: string): Promise<boolean> {
    const { channel, worker } = this.#options;
    this.asks++;
    return new Promise((settle) => this.#asks.ask((id) => channel.postMessage({ type: "enter", worker, id, limit, key }), settle, () => true));
  }

  /** Another worker: the request that {@link enter} admitted has ended. */
  leave(limit: string, key: string): void {
    this.#options.channel.postMessage({ type: "leave", worker: this.#options.worker, limit, key });
  }

  /** Lets every waiting request through (the worker is stopping). */
  close(): void {
    this.#asks.close();
  }

  #receive(message: InFlightMessage): void {
    const lead = this.#options.worker === 0;
    switch (message.type) {
      case "entered":
        if (message.worker === this.#options.worker) this.#asks.answer(message.id, message.admitted);
        break;
      case "enter":
        if (lead) this.#admit(message);
        break;
      case "leave":
        if (lead) this.#release(message.worker, message.limit, message.key);
        break;
      case "hello":
        if (lead) this.#forget(message.worker);
        break;
    }
  }

  #admit(ask: Extract<InFlightMessage, { type: "enter" }>): void {
    const table = this.#options.table(ask.limit);
    // A limit worker 0 does not have (a reload on its way) caps nothing.
    const state = table === undefined ? undefined : table.enter(ask.key, this.#options.clock.now());
    if (state !== undefined) {
      const id = `${ask.worker}\u0000${ask.limit}\u0000${ask.key}`;
      const held = this.#held.get(id);
      if (held === undefined) this.#held.set(id, [state]);
      else held.push(state);
    }
    this.#options.channel.postMessage({ type: "entered", worker: ask.worker, id: ask.id, admitted: table === undefined || state !== undefined });
  }

  #release(worker: number, limit: string, key: string): void {
    const id = `${worker}\u0000${limit}\u0000${key}`;
    const held = this.#held.get(id);
    const state = held?.pop();
    if (state === undefined) return;
    if (held!.length === 0) this.#held.delete(id);
    this.#options.table(limit)?.leave(state);
  }

  #forget(worker: number): void {
    const prefix = `${worker}\u0000`;
    for (const [id, held] of this.#held) {
      if (!id.startsWith(prefix)) continue;
      const limit = id.slice(prefix.length, id.indexOf("\u0000", prefix.length));
      for (const state of held) this.#options.table(limit)?.leave(state);
      this.#held.delete(id);
    }
  }
}
