/**
 * The `health` key of a pool: active HTTP checks, passive observation of live traffic and slow
 * start. Defaults are HAProxy's (`inter 2s`, `rise 2`, `fall 3`, `error-limit 10`, `observe
 * layer7`) and Envoy's outlier detection for the re-admission backoff.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * const health = v.parse(HealthSchema, { check: { path: "/health", expect: ["200-299"] } });
 * health.check!.fastInterval; // 2000: defaults to the interval
 * ```
 * @module
 */
import * as v from "valibot";
import { duration, durationValue } from "../config/fields.ts";

const count = (fallback: number, min: number) => {
  const expected = `an integer of at least ${min}`;
  return v.optional(v.pipe(v.number(), v.integer(expected), v.minValue(min, expected)), fallback);
};

export interface StatusRange {
  from: number;
  to: number;
}

const STATUS_CODE = "a status code from 100 to 599";

/** `200`, `"204"` or `"200-399"`. */
const statusRange = v.pipe(
  v.union([
    v.pipe(v.number(), v.integer(STATUS_CODE), v.minValue(100, STATUS_CODE), v.maxValue(599, STATUS_CODE)),
    v.pipe(
      v.string(),
      v.regex(/^[1-5]\d\d(?:-[1-5]\d\d)?$/, 'a status code such as "204" or a range such as "200-399"'),
      v.check((text) => Number(text.slice(0, 3)) <= Number(text.slice(-3)), "a range whose start is not above its end"),
    ),
  ], 'a status code such as 200 or a range such as "200-399"'),
  v.transform((value): StatusRange => {
    const text = String(value);
    return { from: Number(text.slice(0, 3)), to: Number(text.slice(-3)) };
  }),
);

/** Outcomes of proxied requests that passive observation may count as errors. */
export const PASSIVE_ERRORS = ["connect", "timeout", "5xx"] as const;
export type PassiveError = (typeof PASSIVE_ERRORS)[number];

export const CheckSchema = v.pipe(
  v.strictObject({
    path: v.optional(v.pipe(v.string(), v.regex(/^\/[!-~]*$/, "a path starting with '/', without spaces")), "/"),
    method: v.optional(v.pipe(v.string(), v.regex(/^[A-Z]+$/, "an HTTP method such as GET, HEAD or OPTIONS")), "GET"),
    /** Host header; defaults to the member's host:port. */
    host: v.optional(v.pipe(v.string(), v.regex(/^[!-~]+$/, "a host name without spaces"))),
    /** Statuses that pass; anything else fails the check. */
    expect: v.optional(v.pipe(v.array(statusRange), v.minLength(1, "at least one status or range")), ["200-399"]),
    /** A substring the first 64 KiB of the body must contain. */
    body: v.optional(v.pipe(v.string(), v.minLength(1, "a non-empty string"))),
    interval: duration("2s", 1),
    /** While a member is changing state (HAProxy `fastinter`); defaults to the interval. */
    fastInterval: v.optional(durationValue(1)),
    /** While a member is down (HAProxy `downinter`); defaults to the interval. */
    downInterval: v.optional(durationValue(1)),
    /** For the whole check: connect, response head and body. */
    timeout: duration("1s", 1),
    /** Consecutive passed checks that bring a down member up. */
    rise: count(2, 1),
    /** Consecutive failed checks that take an up member down. */
    fall: count(3, 1),
  }),
  v.transform((check) => ({
    ...check,
    fastInterval: check.fastInterval ?? check.interval,
    downInterval: check.downInterval ?? check.interval,
  })),
);

export const PassiveSchema = v.strictObject({
  /** Consecutive errors that take a member down (HAProxy `error-limit`); 0 turns observation off. */
  errorLimit: count(10, 0),
  /** Which outcomes count as errors; any other outcome resets the streak. */
  on: v.optional(v.array(v.picklist(PASSIVE_ERRORS)), [...PASSIVE_ERRORS]),
  /** Without active checks a member comes back after backoff × 2^(ejections − 1)... */
  backoff: duration("10s", 1),
  /** ...capped here; a member that stays up this long starts again from `backoff`. */
  maxBackoff: duration("5m", 1),
});

export const HealthSchema = v.strictObject({
  /** Active checks; absent means none. */
  check: v.optional(CheckSchema),
  passive: v.optional(PassiveSchema, {}),
  /** A member coming back ramps from 10 % to 100 % of its weight over this long; 0 = off. */
  slowStart: duration(0),
});

export type HealthConfig = v.InferOutput<typeof HealthSchema>;
export type CheckConfig = v.InferOutput<typeof CheckSchema>;
export type PassiveConfig = v.InferOutput<typeof PassiveSchema>;

export function statusExpected(expect: readonly StatusRange[], status: number): boolean {
  return expect.some((range) => status >= range.from && status <= range.to);
}

/** As an operator wrote them: `200-399`, `200,204`. */
export function formatStatuses(expect: readonly StatusRange[]): string {
  return expect.map(({ from, to }) => (from === to ? `${from}` : `${from}-${to}`)).join(",");
}
