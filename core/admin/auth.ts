/**
 * Bearer-token checks for the admin API: HS256 tokens signed with a shared secret (minted by
 * `tandem token`), and/or EdDSA / ES256 tokens signed by an identity provider whose public keys
 * are in a local JWKS.
 *
 * Algorithms are pinned per key kind before any key is looked at, so `alg: none`, a secret
 * verifier fed an RS/ES token, or a JWKS verifier fed an HS256 token signed with a public key
 * (the classic confusion attack) never reach signature checking.
 *
 * @example
 * ```ts
 * const verify = createVerifier({ secret, audience: "tandem-admin" });
 * const result = await verify(request.headers.get("authorization"), "127.0.0.1");
 * ```
 * @module
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey, type JWTVerifyOptions, jwtVerify, SignJWT } from "jose";

export type Scope = "read" | "admin";

export type AuthResult =
  | { ok: true; subject: string; scope: Scope }
  | { ok: false; status: 401 | 403 | 429; error: string; retryAfter?: number };

/** `client` is the caller's address; failures are counted per client. */
export type Verifier = (authorization: string | null, client?: string) => Promise<AuthResult>;

export interface VerifierOptions {
  secret?: string;
  jwks?: JSONWebKeySet;
  audience: string;
  /** Longest `exp - iat` accepted (ms): a token that never expires is a key that cannot be revoked. */
  maxLifetime: number;
  /** The same for read-scope tokens (ms), which a wall display keeps for weeks; default `maxLifetime`. */
  maxReadLifetime?: number;
  /** Wall-clock milliseconds since the Unix epoch (token times are wall-clock); defaults to Date.now. */
  clock?: () => number;
}

/** Far more than any honest token; a bigger one is refused before jose spends time on it. */
export const MAX_TOKEN_LENGTH = 4096;
/** Clock skew tolerated on `nbf`, `exp` and `iat` between the token issuer and this host. */
const SKEW_SECONDS = 60;
const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 60_000;
/** Bounds the failure table, so a flood from many addresses costs memory only up to here. */
const MAX_TRACKED_CLIENTS = 10_000;
const MIN_SECRET_LENGTH = 32;
const JWKS_ALGORITHMS = ["EdDSA", "ES256"];

export function createVerifier(options: VerifierOptions): Verifier {
  const { audience, maxLifetime, clock = Date.now } = options;
  const maxReadLifetime = options.maxReadLifetime ?? maxLifetime;
  if (options.secret === undefined && options.jwks === undefined) throw new Error("admin auth: a secret or a JWKS is needed");
  const secret = options.secret === undefined ? undefined : _secretKey(options.secret);
  const jwks = options.jwks === undefined ? undefined : createLocalJWKSet(_checkJwks(options.jwks));
  const algorithms = [...(secret ? ["HS256"] : []), ...(jwks ? JWKS_ALGORITHMS : [])];
  // jose checks `alg` against `algorithms` before it asks for a key, so each branch only ever
  // sees its own algorithms.
  const key: JWTVerifyGetKey = (header, token) => (header.alg === "HS256" ? secret! : jwks!(header, token));
  const failures = _failureCounter(clock);

  // A valid token always passes: on loopback every local process shares one address, so refusing
  // valid tokens after failures would let any local user lock the operators out. Failures are
  // still counted, and a client over the limit learns nothing from its next guesses but 429.
  return async (authorization, client = "unknown") => {
    const token = authorization === null ? undefined : /^Bearer +(.*)$/is.exec(authorization)?.[1];
    if (token === undefined || token === "") {
      // Not a guess: this is how a client (the dashboard, curl) learns that a token is needed.
      return { ok: false, status: 401, error: "a bearer token is needed" };
    }
    const failed = (error: string): AuthResult => {
      const retryAfter = failures.blockedFor(client);
      failures.record(client);
      if (retryAfter !== undefined) return { ok: false, status: 429, error: "too many failed attempts", retryAfter };
      return { ok: false, status: 401, error };
    };
    if (token.length > MAX_TOKEN_LENGTH) return failed("token too large");

    const now = clock();
    const verifyOptions: JWTVerifyOptions = {
      algorithms,
      audience,
      requiredClaims: ["exp", "iat", "sub"],
      clockTolerance: SKEW_SECONDS,
      currentDate: new Date(now),
    };
    let payload;
    try {
      payload = await _verify(token, key, verifyOptions);
    } catch (error) {
      return failed(_reason(error));
    }
    // jose checks `iat` against the clock only together with maxTokenAge, which we do not want.
    if ((payload.iat as number) > now / 1000 + SKEW_SECONDS) return failed("token issued in the future");
    // OAuth `scope` is space-separated, so an IdP's "openid admin" works as well as our "admin";
    // a token naming both is refused rather than read as the stronger one.
    const scopes = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
    const admin = scopes.includes("admin");
    const read = scopes.includes("read");
    // Checked on the signed claims before the scope is judged: an overlong admin token is a failure
    // like any bad token, whatever else it says.
    const [limit, setting] = read && !admin ? [maxReadLifetime, "maxReadTokenLifetime"] : [maxLifetime, "maxTokenLifetime"];
    if ((payload.exp as number) - (payload.iat as number) > limit / 1000) {
      return failed(`token lifetime longer than ${Math.floor(limit / 1000)} s (admin.auth.${setting})`);
    }
    if (typeof payload.sub !== "string" || payload.sub === "") return failed('token claim "sub" is not a name');
    if (admin && read) return { ok: false, status: 403, error: 'token scope names both "read" and "admin"' };
    if (!admin && !read) return { ok: false, status: 403, error: 'token scope is neither "read" nor "admin"' };
    return { ok: true, subject: payload.sub, scope: admin ? "admin" : "read" };
  };
}

/** An HS256 token for `tandem token`. */
export async function mintToken(options: {
  secret: string;
  audience: string;
  subject: string;
  scope: Scope;
  ttlSeconds: number;
  /** Wall-clock milliseconds; defaults to Date.now. */
  clock?: () => number;
}): Promise<string> {
  const now = Math.floor((options.clock ?? Date.now)() / 1000);
  return await new SignJWT({ scope: options.scope })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.subject)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
    .sign(_secretKey(options.secret));
}

function _secretKey(secret: string): Uint8Array {
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`admin auth: the secret needs at least ${MIN_SECRET_LENGTH} characters`);
  return new TextEncoder().encode(secret);
}

/** A JWKS holding a private or symmetric key is a mistake better reported at start than as 401s. */
function _checkJwks(jwks: JSONWebKeySet): JSONWebKeySet {
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) throw new Error("admin auth: the JWKS has no keys");
  jwks.keys.forEach((jwk, index) => {
    const usable = (jwk.kty === "OKP" && jwk.crv === "Ed25519") || (jwk.kty === "EC" && jwk.crv === "P-256");
    if (!usable) throw new Error(`admin auth: JWKS key ${index} is not an Ed25519 or P-256 key`);
    if ("d" in jwk) throw new Error(`admin auth: JWKS key ${index} is a private key; give tandem the public key only`);
  });
  return jwks;
}

/** A JWKS with several keys and tokens without `kid` (mid-rotation): try each candidate key. */
async function _verify(token: string, key: JWTVerifyGetKey, options: JWTVerifyOptions) {
  try {
    return (await jwtVerify(token, key, options)).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const candidate of error) {
      try {
        return (await jwtVerify(token, candidate, options)).payload;
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function _reason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "token not yet valid";
    if (error.reason === "missing") return `token lacks the "${error.claim}" claim`;
    return `token claim "${error.claim}" rejected`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "token algorithm not allowed";
  return "invalid token";
}

/**
 * Failed attempts per client in fixed windows. Entries are (re)inserted when their window opens,
 * so Map order is window order: expired entries are at the front, and so is the one to evict.
 */
function _failureCounter(clock: () => number) {
  const entries = new Map<string, { count: number; resetAt: number }>();
  return {
    /** Seconds until `client` may try again, or undefined when it may now. */
    blockedFor(client: string): number | undefined {
      const entry = entries.get(client);
      const now = clock();
      if (entry === undefined || entry.count < MAX_FAILURES || now >= entry.resetAt) return undefined;
      return Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
    },
    record(client: string): void {
      const now = clock();
      const entry = entries.get(client);
      if (entry !== undefined && now < entry.resetAt) {
        entry.count++;
        return;
      }
      entries.delete(client);
      for (const [oldest, { resetAt }] of entries) {
        if (now < resetAt && entries.size < MAX_TRACKED_CLIENTS) break;
        entries.delete(oldest);
      }
      entries.set(client, { count: 1, resetAt: now + FAILURE_WINDOW_MS });
    },
  };
}
