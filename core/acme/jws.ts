/**
 * RFC 8555 §6.2 request bodies: flattened JWS signed by the account key, identified by its
 * public JWK until the account exists and by the account URL (`kid`) after; the External
 * Account Binding (§7.3.4), an HMAC JWS over the account's public key; and key authorizations
 * (§8.1). Signing is jose's, so the encoding rules (base64url, ECDSA signature form) are too.
 *
 * ```ts
 * import { signedBody } from "./jws.ts";
 * const body = await signedBody(key, { url, nonce, jwk: key.publicJwk }, { termsOfServiceAgreed: true });
 * ```
 *
 * @module
 */
import { base64url, calculateJwkThumbprint, FlattenedSign } from "jose";
import type { SigningKey } from "./keys.ts";

/** The protected header members that vary per request; exactly one of `jwk` and `kid`. */
export type RequestIdentity = { url: string; nonce: string } & ({ jwk: JsonWebKey } | { kid: string });

/**
 * The JSON text of a signed request. `payload` undefined makes a POST-as-GET (§6.3): an empty
 * payload, which is not the same as `{}`.
 */
export async function signedBody(key: SigningKey, identity: RequestIdentity, payload: unknown): Promise<string> {
  const bytes = payload === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(payload));
  const jws = await new FlattenedSign(bytes)
    .setProtectedHeader({ alg: key.jwsAlgorithm, ...identity } as Parameters<FlattenedSign["setProtectedHeader"]>[0])
    .sign(key.privateKey);
  return JSON.stringify(jws);
}

/**
 * The externalAccountBinding member of a newAccount payload: HS256 over the account's public
 * JWK, keyed with the CA-issued MAC key (base64url, as CAs hand it out).
 */
export async function externalAccountBinding(
  binding: { keyId: string; hmacKey: string },
  accountJwk: JsonWebKey,
  newAccountUrl: string,
): Promise<unknown> {
  let secret: Uint8Array;
  try {
    secret = base64url.decode(binding.hmacKey);
  } catch {
    throw new Error("the EAB HMAC key is not base64url");
  }
  if (secret.length === 0) throw new Error("the EAB HMAC key is empty");
  return await new FlattenedSign(new TextEncoder().encode(JSON.stringify(accountJwk)))
    .setProtectedHeader({ alg: "HS256", kid: binding.keyId, url: newAccountUrl })
    .sign(secret);
}

/** §8.1: token "." base64url(SHA-256 JWK thumbprint of the account key). */
export async function keyAuthorization(token: string, accountJwk: JsonWebKey): Promise<string> {
  return `${token}.${await calculateJwkThumbprint(accountJwk as Parameters<typeof calculateJwkThumbprint>[0], "sha256")}`;
}
