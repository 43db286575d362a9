import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { createVerifier, MAX_TOKEN_LENGTH, mintToken } from "../../../core/admin/auth.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const AUDIENCE = "tandem-admin";
const DAY_MS = 86_400_000;
/** A fixed wall clock: 2026-01-01T00:00:00Z. */
const NOW = Date.UTC(2026, 0, 1);
const NOW_S = NOW / 1000;
const clock = () => NOW;

const secretVerifier = () => createVerifier({ secret: SECRET, audience: AUDIENCE, maxLifetime: DAY_MS, clock });
const bearer = (token: string) => `Bearer ${token}`;

/** A token with exactly these claims (nothing added), signed HS256 with SECRET. */
const signHs = (claims: JWTPayload, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256", ...header }).sign(new TextEncoder().encode(SECRET));
const good = (extra: JWTPayload = {}): JWTPayload => ({ sub: "ops", aud: AUDIENCE, iat: NOW_S, exp: NOW_S + 300, scope: "read", ...extra });

const b64url = (value: unknown) =>
  btoa(typeof value === "string" ? value : JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

async function keyPair(alg: "ES256" | "EdDSA" | "RS256", kid?: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), ...(kid ? { kid } : {}) };
  const sign = (claims: JWTPayload) => new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(privateKey);
  return { jwk, sign };
}

describe("admin auth: shared secret (HS256)", () => {
  test("minted read and admin tokens verify, with subject and scope", async () => {
    const verify = secretVerifier();
    for (const scope of ["read", "admin"] as const) {
      const token = await mintToken({ secret: SECRET, audience: AUDIENCE, subject: "alice", scope, ttlSeconds: 600, clock });
      assert.deepEqual(await verify(bearer(token)), { ok: true, subject: "alice", scope });
    }
  });

  test("a minted token says HS256 and JWT in its header and carries exp, iat, sub, aud", async () => {
    const token = await mintToken({ secret: SECRET, audience: AUDIENCE, subject: "alice", scope: "admin", ttlSeconds: 600, clock });
    const [header, payload] = token.split(".").slice(0, 2).map((part) => JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))));
    assert.deepEqual(header, { alg: "HS256", typ: "JWT" });
    assert.deepEqual(payload, { scope: "admin", sub: "alice", aud: AUDIENCE, iat: NOW_S, exp: NOW_S + 600 });
  });

  test("the scheme is case-insensitive; a missing or empty token is 401", async () => {
    const verify = secretVerifier();
    assert.equal((await verify(`bearer ${await signHs(good())}`)).ok, true);
    for (const header of [null, "", "Bearer ", "Basic b3BzOnB3"]) {
      assert.deepEqual(await verify(header), { ok: false, status: 401, error: "a bearer token is needed" });
    }
  });

  test("expired, not yet valid and issued-in-the-future tokens are refused; 60 s of skew is tolerated", async () => {
    const verify = secretVerifier();
    const cases: [JWTPayload, string | true][] = [
      [good({ iat: NOW_S - 600, exp: NOW_S - 61 }), "token expired"],
      [good({ iat: NOW_S - 600, exp: NOW_S - 30 }), true],
      [good({ nbf: NOW_S + 120 }), "token not yet valid"],
      [good({ nbf: NOW_S + 30 }), true],
      [good({ iat: NOW_S + 120 }), "token issued in the future"],
      [good({ iat: NOW_S + 30 }), true],
    ];
    for (const [claims, expected] of cases) {
      const result = await verify(bearer(await signHs(claims)));
      if (expected === true) assert.equal(result.ok, true, JSON.stringify(claims));
      else assert.deepEqual(result, { ok: false, status: 401, error: expected }, JSON.stringify(claims));
    }
  });

  test("exp, iat and sub are required, and sub must be a name", async () => {
    const verify = secretVerifier();
    for (const claim of ["exp", "iat", "sub"]) {
      const claims = good();
      delete claims[claim];
      assert.deepEqual(await verify(bearer(await signHs(claims))), { ok: false, status: 401, error: `token lacks the "${claim}" claim` });
    }
    assert.deepEqual(await verify(bearer(await signHs(good({ sub: "" })))), { ok: false, status: 401, error: 'token claim "sub" is not a name' });
  });

  test("a token for another audience, or signed with another secret, is refused", async () => {
    const verify = secretVerifier();
    assert.deepEqual(await verify(bearer(await signHs(good({ aud: "grafana" })))), { ok: false, status: 401, error: 'token claim "aud" rejected' });
    const other = await new SignJWT(good()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("x".repeat(32)));
    assert.deepEqual(await verify(bearer(other)), { ok: false, status: 401, error: "invalid token" });
  });

  test("scope must be read or admin; an OAuth scope list is searched", async () => {
    const verify = secretVerifier();
    for (const scope of [undefined, "write", "readonly", 7]) {
      assert.deepEqual(await verify(bearer(await signHs(good({ scope })))), { ok: false, status: 403, error: 'token scope is neither "read" nor "admin"' });
    }
    assert.deepEqual(await verify(bearer(await signHs(good({ scope: "openid admin" })))), { ok: true, subject: "ops", scope: "admin" });
    assert.deepEqual(await verify(bearer(await signHs(good({ scope: "profile read" })))), { ok: true, subject: "ops", scope: "read" });
  });

  test('"alg: none" is refused, however it is spelt', async () => {
    const verify = secretVerifier();
    for (const alg of ["none", "None", "NONE"]) {
      const token = `${b64url({ alg, typ: "JWT" })}.${b64url(good())}.`;
      const result = await verify(bearer(token));
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.status, 401);
    }
  });

  test("RS256, ES256 and EdDSA tokens are refused by a secret verifier", async () => {
    const verify = secretVerifier();
    for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
      const { sign } = await keyPair(alg);
      assert.deepEqual(await verify(bearer(await sign(good()))), { ok: false, status: 401, error: "token algorithm not allowed" }, alg);
    }
  });

  test("a token over 4 KiB is refused before its signature or claims are looked at", async () => {
    const verify = secretVerifier();
    // Correctly signed and otherwise valid: only the size can refuse it.
    const big = await signHs(good({ pad: "x".repeat(MAX_TOKEN_LENGTH) }));
    assert.ok(big.length > MAX_TOKEN_LENGTH);
    assert.deepEqual(await verify(bearer(big)), { ok: false, status: 401, error: "token too large" });
    assert.deepEqual(await verify(bearer("a".repeat(1_000_000))), { ok: false, status: 401, error: "token too large" });
  });

  test("a secret shorter than 32 characters is refused at start and by mintToken", async () => {
    assert.throws(() => createVerifier({ secret: "short", audience: AUDIENCE, maxLifetime: DAY_MS }), /at least 32 characters/);
    assert.throws(() => createVerifier({ audience: AUDIENCE, maxLifetime: DAY_MS }), /a secret or a JWKS/);
    await assert.rejects(mintToken({ secret: "short", audience: AUDIENCE, subject: "a", scope: "read", ttlSeconds: 60 }), /at least 32/);
  });
});

describe("admin auth: JWKS (EdDSA, ES256)", () => {
  test("EdDSA and ES256 tokens verify against their public keys", async () => {
    const ed = await keyPair("EdDSA", "ed-1");
    const es = await keyPair("ES256", "es-1");
    const verify = createVerifier({ jwks: { keys: [ed.jwk, es.jwk] }, audience: AUDIENCE, maxLifetime: DAY_MS, clock });
    assert.deepEqual(await verify(bearer(await ed.sign(good({ scope: "admin" })))), { ok: true, subject: "ops", scope: "admin" });
    assert.deepEqual(await verify(bearer(await es.sign(good()))), { ok: true, subject: "ops", scope: "read" });
  });

  test("several keys and tokens without kid (key rotation): each candidate key is tried", async () => {
    const old = await keyPair("ES256");
    const current = await keyPair("ES256");
    const stranger = await keyPair("ES256");
    const verify = createVerifier({ jwks: { keys: [old.jwk, current.jwk] }, audience: AUDIENCE, maxLifetime: DAY_MS, clock });
    assert.equal((await verify(bearer(await old.sign(good())))).ok, true);
    assert.equal((await verify(bearer(await current.sign(good())))).ok, true);
    assert.deepEqual(await verify(bearer(await stranger.sign(good()))), { ok: false, status: 401, error: "invalid token" });
  });

  test("HS256 signed with the public key (algorithm confusion) and alg none are refused", async () => {
    const es = await keyPair("ES256");
    const verify = createVerifier({ jwks: { keys: [es.jwk] }, audience: AUDIENCE, maxLifetime: DAY_MS, clock });
    for (const secret of [JSON.stringify(es.jwk), es.jwk.x!, SECRET]) {
      const token = await new SignJWT(good()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret));
      assert.deepEqual(await verify(bearer(token)), { ok: false, status: 401, error: "token algorithm not allowed" });
    }
    const none = `${b64url({ alg: "none" })}.${b64url(good())}.`;
    assert.deepEqual(await verify(bearer(none)), { ok: false, status: 401, error: "token algorithm not allowed" });
  });

  test("an RS256 token is refused even when its key is in the JWKS", async () => {
    const rs = await keyPair("RS256");
    const es = await keyPair("ES256");
    assert.throws(() => createVerifier({ jwks: { keys: [rs.jwk] }, audience: AUDIENCE, maxLifetime: DAY_MS }), /not an Ed25519 or P-256 key/);
    const verify = createVerifier({ jwks: { keys: [es.jwk] }, audience: AUDIENCE, maxLifetime: DAY_MS, clock });
    assert.deepEqual(await verify(bearer(await rs.sign(good()))), { ok: false, status: 401, error: "token algorithm not allowed" });
  });

  test("a JWKS with a private, symmetric or no key is refused at start", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    assert.throws(() => createVerifier({ jwks: { keys: [privateJwk] }, audience: AUDIENCE, maxLifetime: DAY_MS }), /private key/);
    assert.throws(() => createVerifier({ jwks: { keys: [{ kty: "oct", k: "c2VjcmV0" }] }, audience: AUDIENCE, maxLifetime: DAY_MS }), /not an Ed25519/);
    assert.throws(() => createVerifier({ jwks: { keys: [] }, audience: AUDIENCE, maxLifetime: DAY_MS }), /no keys/);
  });

  test("secret and JWKS together: each token kind goes to its own key", async () => {
    const ed = await keyPair("EdDSA");
    const verify = createVerifier({ secret: SECRET, jwks: { keys: [ed.jwk] }, audience: AUDIENCE, maxLifetime: DAY_MS, clock });
    assert.equal((await verify(bearer(await signHs(good())))).ok, true);
    assert.equal((await verify(bearer(await ed.sign(good())))).ok, true);
    const confused = await new SignJWT(good()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(JSON.stringify(ed.jwk)));
    assert.deepEqual(await verify(bearer(confused)), { ok: false, status: 401, error: "invalid token" });
  });
});

describe("admin auth: failed attempts are rate-limited per client", () => {
  test("after 10 failures within a minute further guesses get 429 with Retry-After, but a valid token always passes", async () => {
    let now = NOW;
    const verify = createVerifier({ secret: SECRET, audience: AUDIENCE, maxLifetime: DAY_MS, clock: () => now });
    const valid = bearer(await signHs(good({ exp: NOW_S + 3600 })));
    for (let i = 0; i < 10; i++) {
      assert.equal((await verify("Bearer nope", "127.0.0.1")).ok, false);
      now += 1000;
    }
    assert.deepEqual(await verify("Bearer nope", "127.0.0.1"), { ok: false, status: 429, error: "too many failed attempts", retryAfter: 50 });
    assert.deepEqual(await verify(valid, "127.0.0.1"), { ok: true, subject: "ops", scope: "read" }, "an operator on the same address is not locked out");
    const other = await verify("Bearer nope", "10.0.0.10");
    assert.equal(!other.ok && other.status, 401, "other clients are unaffected");
    now = NOW + 60_000;
    const fresh = await verify("Bearer nope", "127.0.0.1");
    assert.equal(!fresh.ok && fresh.status, 401, "a new window starts over");
  });

  test("a missing token and a wrong scope are not failed attempts", async () => {
    const verify = secretVerifier();
    const noScope = bearer(await signHs(good({ scope: undefined })));
    for (let i = 0; i < 20; i++) {
      assert.equal((await verify(null, "c")).ok, false);
      assert.equal((await verify(noScope, "c")).ok, false);
    }
    assert.equal((await verify(bearer(await signHs(good())), "c")).ok, true);
  });

  test("the failure table is bounded: a flood of other clients evicts the oldest entries", async () => {
    let now = NOW;
    const verify = createVerifier({ secret: SECRET, audience: AUDIENCE, maxLifetime: DAY_MS, clock: () => now });
    for (let i = 0; i < 10; i++) await verify("Bearer nope", "first");
    const blocked = await verify("Bearer nope", "first");
    assert.equal(!blocked.ok && blocked.status, 429);
    for (let i = 0; i < 10_000; i++) {
      now += 1;
      await verify("Bearer nope", `10.1.${i >> 8}.${i & 255}`);
    }
    const forgotten = await verify("Bearer nope", "first");
    assert.equal(!forgotten.ok && forgotten.status, 401);
  });
});

describe("admin auth: scope and lifetime", () => {
  test('a scope naming both "read" and "admin" grants nothing', async () => {
    const result = await secretVerifier()(bearer(await signHs(good({ scope: "read admin" }))));
    assert.deepEqual(result, { ok: false, status: 403, error: 'token scope names both "read" and "admin"' });
  });

  test("a token living longer than maxTokenLifetime is refused, one within it passes", async () => {
    const verify = secretVerifier();
    const forever = await verify(bearer(await signHs(good({ exp: Date.UTC(9999, 0, 1) / 1000 }))));
    assert.equal(!forever.ok && forever.status, 401);
    assert.match(!forever.ok ? forever.error : "", /lifetime longer than 86400 s/);
    assert.equal((await verify(bearer(await signHs(good({ exp: NOW_S + 86_400 }))))).ok, true);
  });

  test("a read token may live up to maxReadLifetime (a wall display's), an admin token still only maxLifetime", async () => {
    const verify = createVerifier({ secret: SECRET, audience: AUDIENCE, maxLifetime: DAY_MS, maxReadLifetime: 30 * DAY_MS, clock });
    const month = NOW_S + 30 * 86_400;
    assert.deepEqual(await verify(bearer(await signHs(good({ exp: month })))), { ok: true, subject: "ops", scope: "read" });
    const admin = await verify(bearer(await signHs(good({ exp: month, scope: "admin" }))));
    assert.deepEqual(admin, { ok: false, status: 401, error: "token lifetime longer than 86400 s (admin.auth.maxTokenLifetime)" });
    const tooLong = await verify(bearer(await signHs(good({ exp: month + 1 }))));
    assert.deepEqual(tooLong, { ok: false, status: 401, error: "token lifetime longer than 2592000 s (admin.auth.maxReadTokenLifetime)" });
    // Naming admin as well does not buy a read token's lifetime.
    const both = await verify(bearer(await signHs(good({ exp: month, scope: "read admin" }))));
    assert.equal(!both.ok && both.status, 401);
  });
});
