/**
 * Valibot schemas of the admin plane: the `admin` config key, and the bodies and query strings
 * the API accepts. Like the rest of the config, unknown keys are errors.
 *
 * @module
 */
import * as v from "valibot";
import { ACTIVATIONS, address, duration } from "../config/fields.ts";

export const AdminAuthSchema = v.strictObject({
  /** HS256 key. 32 characters at least: RFC 7518 wants a key as long as the hash (256 bits). */
  secret: v.optional(v.pipe(v.string(), v.minLength(32, "a secret of at least 32 characters"))),
  /** A local JWKS file of EdDSA (Ed25519) or ES256 (P-256) public keys, for tokens an IdP signs. */
  jwksFile: v.optional(v.pipe(v.string(), v.minLength(1, "a non-empty path"))),
  /** The `aud` every token must carry, so a token minted for another service is refused. */
  audience: v.optional(v.pipe(v.string(), v.minLength(1, "a non-empty string")), "tandem-admin"),
  /** Tokens whose `exp` lies further than this after their `iat` are refused (and `tandem token --ttl` may not exceed it). */
  maxTokenLifetime: duration("24h", 1000),
  /** The same limit for read-scope tokens, which can only look: a wall display's token minted for weeks (`tandem token --scope read --ttl 30d`). */
  maxReadTokenLifetime: duration("30d", 1000),
});

export const AdminSchema = v.strictObject({
  address: v.optional(address, "127.0.0.1:8404"),
  auth: v.optional(AdminAuthSchema, {}),
  /** Serve /metrics without a token, for scrapers that cannot send one. */
  publicMetrics: v.optional(v.boolean(), false),
});

export type AdminConfig = v.InferOutput<typeof AdminSchema>;

/** PATCH /api/v1/pools/:pool/members/:member */
export const MemberChangeSchema = v.pipe(
  v.strictObject({
    activation: v.optional(v.picklist(ACTIVATIONS, `one of ${ACTIVATIONS.map((a) => `"${a}"`).join(" | ")}`)),
    weight: v.optional(v.pipe(v.number(), v.integer("an integer"), v.minValue(0, "from 0 to 256"), v.maxValue(256, "from 0 to 256"))),
  }, "a JSON object"),
  v.check((change) => change.activation !== undefined || change.weight !== undefined, "at least one of activation, weight"),
);

/** Query parameters arrive as strings; a default goes through the same pipe as a given value. */
const integerParameter = (fallback: string, min: number, max: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,9}$/, `an integer from ${min} to ${max}`),
      v.transform(Number),
      v.minValue(min, `an integer from ${min} to ${max}`),
      v.maxValue(max, `an integer from ${min} to ${max}`),
    ),
    fallback,
  );

/** GET /api/v1/pools/:pool/sessions */
export const SessionsQuerySchema = v.strictObject({
  offset: integerParameter("0", 0, 999_999_999),
  limit: integerParameter("100", 1, 1000),
});

/** `GET /api/v1/rate-limits?top=N`: the busiest N keys of each limit. */
export const RateLimitsQuerySchema = v.strictObject({ top: integerParameter("20", 1, 1000) });

/** `path: message; path: message` for a 400 body. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const path = issue.path?.map((item) => String(item.key)).join(".");
      const message = issue.type === "strict_object" && issue.kind === "schema" && path ? `no such key (got ${issue.received})` : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join("; ");
}
