/**
 * Rate limits as rules spend them: each named limit of `rateLimits` becomes a {@link RateLimiter}
 * that finds a request's key (the client's address, a header, a cookie) and admits or refuses it
 * against the key's window and requests in flight. The counting is sliding-window.ts's; sharing
 * across workers and nodes is rate-limit-sharing.ts's.
 *
 * An admission is synchronous wherever this thread holds the counts (one worker, or worker 0);
 * another worker answers from tokens it leased and returns a Promise only when it must ask
 * worker 0 for more.
 *
 * @example
 * ```ts
 * const limiters = createRateLimiters({ "per-client": { key: "ip", requests: 100, per: 1000, size: 1000 } }, { clock });
 * const limiter = limiters.get("per-client")!;
 * const verdict = await limiter.admit(limiter.keyOf(request, "192.0.2.7")!);
 * if (!verdict.admitted) return tooMany(verdict.retryAfterSeconds);
 * // ... when the answer is done:
 * verdict.release();
 * ```
 * @module
 */
import type { ClientRequest } from "../http/message.ts";
import type { Clock } from "../ports.ts";
import { parseCookieHeader } from "../sticky/cookies.ts";
import type { RateLimitConfig, RateLimitsConfig } from "./rate-limit-schema.ts";
import type { SharedInFlight } from "./rate-limit-in-flight.ts";
import { RateLimitSharing, type TakeResult } from "./rate-limit-sharing.ts";
import type { RateKeyState, RateTable } from "./sliding-window.ts";

export interface RateLimitVerdict {
  admitted: boolean;
  /** For `Retry-After`: whole seconds, at least 1, when refused; 0 when admitted. */
  retryAfterSeconds: number;
  /** The exchange ended (for `concurrent`); a no-op when not admitted or nothing is in flight. Safe to call twice. */
  release(): void;
}

export interface RateLimiter {
  readonly name: string;
  /** The request's key, null when it has none (no such header or cookie): such a request is not limited. */
  keyOf(request: ClientRequest, clientAddress: string): string | null;
  admit(key: string): RateLimitVerdict | Promise<RateLimitVerdict>;
}

/** Refused and admitted-without-anything-in-flight verdicts carry no state: shared objects, no allocation per request. */
const ADMITTED: RateLimitVerdict = Object.freeze({ admitted: true, retryAfterSeconds: 0, release() {} });

/**
 * Longest key kept as it is. Longer header or cookie values all count as one key: legitimate keys
 * (API keys, session ids) are far shorter, and a client cannot fill the table with huge strings or
 * dodge its limit by varying a long value's tail.
 */
export const MAX_KEY_LENGTH = 256;
const OVERSIZED_KEY = "\u0000oversized";

/**
 * The limiters of `config`. With `share` (a process's, kept across reloads) the counts survive a
 * reload and are shared with the other workers and nodes; without it each call starts afresh.
 */
export function createRateLimiters(
  config: RateLimitsConfig,
  ports: { clock: Clock; share?: RateLimitSharing },
): Map<string, RateLimiter> {
  const share = ports.share ?? new RateLimitSharing({ clock: ports.clock });
  share.keep(Object.keys(config));
  const limiters = new Map<string, RateLimiter>();
  for (const [name, limit] of Object.entries(config)) {
    limiters.set(name, new _Limiter(name, limit, share.table(name, limit), share, ports.clock));
  }
  return limiters;
}

class _Limiter implements RateLimiter {
  readonly name: string;
  readonly keyOf: (request: ClientRequest, clientAddress: string) => string | null;
  readonly #table: RateTable;
  readonly #share: RateLimitSharing;
  readonly #clock: Clock;
  readonly #counts: boolean;

  constructor(name: string, limit: RateLimitConfig, table: RateTable, share: RateLimitSharing, clock: Clock) {
    this.name = name;
    this.keyOf = _keyReader(limit.key);
    this.#table = table;
    this.#share = share;
    this.#clock = clock;
    this.#counts = limit.requests !== undefined;
  }

  admit(key: string): RateLimitVerdict | Promise<RateLimitVerdict> {
    if (!this.#counts) return this.#enter(key);
    const taken: TakeResult = this.#share.take(this.name, this.#table, key);
    if (typeof taken === "number") return this.#afterTake(key, taken);
    return taken.then((waitMs) => this.#afterTake(key, waitMs));
  }

  #afterTake(key: string, waitMs: number): RateLimitVerdict | Promise<RateLimitVerdict> {
    if (waitMs > 0) {
      this.#table.outcomes.refused++;
      return _refused(waitMs);
    }
    return this.#enter(key);
  }

  /** Requests in flight are counted where the process's counts are: here, or at worker 0. */
  #enter(key: string): RateLimitVerdict | Promise<RateLimitVerdict> {
    const table = this.#table;
    if (table.settings.concurrent === undefined) {
      table.outcomes.admitted++;
      return ADMITTED;
    }
    const atLead = this.#share.inFlightAtLead;
    if (atLead !== undefined) {
      return atLead.enter(this.name, key).then((admitted) => {
        if (!admitted) {
          table.outcomes.refused++;
          return _refused(1_000);
        }
        table.outcomes.admitted++;
        return new _InFlightAtLead(atLead, this.name, key);
      });
    }
    const state = table.enter(key, this.#clock.now());
    if (state === undefined) {
      table.outcomes.refused++;
      // Nothing says when a request in flight ends: the shortest wait a client can be told.
      return _refused(1_000);
    }
    table.outcomes.admitted++;
    return new _InFlight(table, state);
  }
}

class _InFlight implements RateLimitVerdict {
  readonly admitted = true;
  readonly retryAfterSeconds = 0;
  #state: RateKeyState | undefined;
  readonly #table: RateTable;

  constructor(table: RateTable, state: RateKeyState) {
    this.#table = table;
    this.#state = state;
  }

  release(): void {
    if (this.#state === undefined) return;
    this.#table.leave(this.#state);
    this.#state = undefined;
  }
}

class _InFlightAtLead implements RateLimitVerdict {
  readonly admitted = true;
  readonly retryAfterSeconds = 0;
  #held = true;

  constructor(readonly inFlight: SharedInFlight, readonly limit: string, readonly key: string) {}

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.inFlight.leave(this.limit, this.key);
  }
}

function _refused(waitMs: number): RateLimitVerdict {
  return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), release() {} };
}

function _keyReader(key: RateLimitConfig["key"]): (request: ClientRequest, clientAddress: string) => string | null {
  if (key === "ip") return (_request, clientAddress) => clientAddress;
  if ("header" in key) {
    const name = key.header.toLowerCase();
    return (request) => _bounded(request.fields.get(name));
  }
  const name = key.cookie;
  return (request) => {
    const header = request.fields.get("cookie");
    if (header === null) return null;
    for (const [cookie, value] of parseCookieHeader(header)) if (cookie === name) return _bounded(value);
    return null;
  };
}

function _bounded(value: string | null): string | null {
  if (value === null || value === "") return null;
  return value.length > MAX_KEY_LENGTH ? OVERSIZED_KEY : value;
}
