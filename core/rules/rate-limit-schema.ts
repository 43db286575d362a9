/**
 * The `rateLimits` section: named limits that rules apply with `rateLimit: <name>`. A limit counts
 * per key (the client address by default, else a header's or a cookie's value) either requests
 * in a sliding window (`requests` per `per`), requests in flight (`concurrent`), or both.
 *
 * @example
 * ```yaml
 * rateLimits:
 *   per-client: { requests: 100, per: 1s, concurrent: 20 }
 *   per-api-key: { key: { header: X-Api-Key }, requests: 1000, per: 1m, size: 10000 }
 * ```
 * @module
 */
import * as v from "valibot";
import { durationValue } from "../config/fields.ts";

/**
 * Replication carries counts as u32 and a window's share of a count as a float; a limit far
 * beyond any real client's rate is a typo, refused rather than silently capped.
 */
export const MAX_RATE_REQUESTS = 1_000_000_000;
/** Keys kept per limit by default: about 20 MB of table at 200 bytes a key. */
export const DEFAULT_RATE_LIMIT_SIZE = 100_000;
export const MAX_RATE_LIMIT_SIZE = 10_000_000;

const fieldName = v.pipe(
  v.string(),
  v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "a header or cookie name (letters, digits and !#$%&'*+.^_`|~-)"),
);

export const RateLimitKeySchema = v.union([
  v.literal("ip"),
  v.strictObject({ header: fieldName }),
  v.strictObject({ cookie: fieldName }),
], 'the key of a rate limit: "ip", { header: <name> } or { cookie: <name> }');

const positiveInteger = (max: number) =>
  v.pipe(v.number(), v.integer("a whole number"), v.minValue(1, "at least 1"), v.maxValue(max, `at most ${max}`));

export const RateLimitSchema = v.pipe(
  v.strictObject({
    /** What is counted per: the client's address (after trusted-proxy handling), a header or a cookie. */
    key: v.optional(RateLimitKeySchema, "ip"),
    /** Requests allowed per `per` (a sliding window). */
    requests: v.optional(positiveInteger(MAX_RATE_REQUESTS)),
    per: v.optional(durationValue(1), "1s"),
    /** Requests in flight per key. */
    concurrent: v.optional(positiveInteger(MAX_RATE_REQUESTS)),
    /** Most keys kept (least recently seen go first); evictions are counted. */
    size: v.optional(positiveInteger(MAX_RATE_LIMIT_SIZE), DEFAULT_RATE_LIMIT_SIZE),
  }),
  v.check((limit) => limit.requests !== undefined || limit.concurrent !== undefined, "a rate limit needs requests, concurrent or both"),
);

/** Limit names follow pool names: they appear in metrics labels and admin paths. */
const limitName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a name of letters, digits, '.', '_' or '-'"),
  v.maxLength(64, "at most 64 characters"),
);

export const RateLimitsSchema = v.optional(v.record(limitName, RateLimitSchema), {});

export type RateLimitConfig = v.InferOutput<typeof RateLimitSchema>;
export type RateLimitsConfig = v.InferOutput<typeof RateLimitsSchema>;
