/**
 * ACME failures as data: a stable `code` a caller switches on (to back off, to ask the operator
 * for EAB credentials, to retry at once), and the CA's own words (`type`, `detail`, `subproblems`)
 * kept intact for logs and the dashboard, since "rate limited" alone does not say which limit.
 *
 * ```ts
 * import { AcmeError, problemError } from "./errors.ts";
 * const error = problemError({ type: "urn:ietf:params:acme:error:rateLimited", detail: "too many" }, 429, 3_600_000);
 * console.log(error.code, error.retryAfterMs); // "rate-limited" 3600000
 * ```
 *
 * @module
 */

/** RFC 8555 §6.7 problem types (urn:ietf:params:acme:error:<name>) and the codes they map to. */
const CODES: Record<string, string> = {
  accountDoesNotExist: "account-does-not-exist",
  alreadyReplaced: "already-replaced",
  alreadyRevoked: "already-revoked",
  badCSR: "bad-csr",
  badNonce: "bad-nonce",
  badPublicKey: "bad-public-key",
  badRevocationReason: "bad-revocation-reason",
  badSignatureAlgorithm: "bad-signature-algorithm",
  caa: "caa",
  compound: "compound",
  connection: "challenge-connection",
  dns: "dns",
  externalAccountRequired: "eab-required",
  incorrectResponse: "incorrect-response",
  invalidContact: "invalid-contact",
  malformed: "malformed",
  orderNotReady: "order-not-ready",
  rateLimited: "rate-limited",
  rejectedIdentifier: "rejected-identifier",
  serverInternal: "server-internal",
  tls: "challenge-tls",
  unauthorized: "unauthorized",
  unsupportedContact: "unsupported-contact",
  unsupportedIdentifier: "unsupported-identifier",
  userActionRequired: "user-action-required",
};
const ACME_PREFIX = "urn:ietf:params:acme:error:";

export class AcmeError extends Error {
  /**
   * Stable: the RFC 8555 problem names in kebab case ("rate-limited", "bad-nonce", "unauthorized",
   * "eab-required", "account-does-not-exist", ...), "ca-error" for a problem type of the CA's own,
   * and the client's: "connection" (the CA could not be reached), "invalid-response" (it answered
   * something RFC 8555 does not allow), "challenge-failed", "order-failed", "timeout".
   */
  code: string;
  /** The problem document's type, e.g. urn:ietf:params:acme:error:rateLimited. */
  type?: string;
  /** HTTP status of the CA's answer. */
  status?: number;
  /** The CA's explanation, meant for a human. */
  detail?: string;
  /** From Retry-After: how long the CA asked to wait before trying again. */
  retryAfterMs?: number;
  /** Per-identifier problems (RFC 8555 §6.7.1), as the CA sent them. */
  subproblems?: unknown[];

  constructor(code: string, message: string, fields: Omit<Partial<AcmeError>, "code" | "message" | "name"> = {}) {
    super(message);
    this.name = "AcmeError";
    this.code = code;
    Object.assign(this, fields);
  }
}

/** The AcmeError for an RFC 7807 problem document the CA answered with. */
export function problemError(problem: unknown, status: number, retryAfterMs?: number, context = "the CA"): AcmeError {
  const fields = (problem && typeof problem === "object" ? problem : {}) as Record<string, unknown>;
  const type = typeof fields.type === "string" ? fields.type : undefined;
  const detail = typeof fields.detail === "string" ? fields.detail : undefined;
  const name = type?.startsWith(ACME_PREFIX) ? type.slice(ACME_PREFIX.length) : undefined;
  const code = (name && CODES[name]) ?? "ca-error";
  const subproblems = Array.isArray(fields.subproblems) ? fields.subproblems : undefined;
  // userActionRequired (RFC 8555 §7.3.3) names the page the operator must visit, e.g. new terms.
  const instance = typeof fields.instance === "string" ? `see ${fields.instance}` : undefined;
  const parts = [`${context} answered ${status}`, type ?? "without a problem type", detail, instance].filter(Boolean);
  const subDetails = (subproblems ?? []).map(_describeSubproblem).filter(Boolean);
  const message = parts.join(": ") + (subDetails.length ? ` (${subDetails.join("; ")})` : "");
  return new AcmeError(code, message, { type, status, detail, retryAfterMs, subproblems });
}

/** The AcmeError for an answer that breaks the protocol; `what` says what was expected. */
export function invalidResponse(what: string, status?: number): AcmeError {
  return new AcmeError("invalid-response", `invalid answer from the CA: ${what}`, { status });
}

function _describeSubproblem(subproblem: unknown): string {
  if (!subproblem || typeof subproblem !== "object") return "";
  const { identifier, detail } = subproblem as { identifier?: { value?: unknown }; detail?: unknown };
  const who = typeof identifier?.value === "string" ? identifier.value : "";
  return [who, typeof detail === "string" ? detail : ""].filter(Boolean).join(": ");
}
