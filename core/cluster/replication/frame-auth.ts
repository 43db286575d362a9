/**
 * Frame authentication with a shared key: HMAC-SHA256 over every frame. Each connection derives
 * its own session key from the cluster key and both sides' random nonces, and every MAC also
 * covers the frame's direction and an implicit per-direction counter: a frame replayed (from this
 * connection or an older one), reordered or reflected back to its sender fails verification.
 *
 * @module
 */

export const MAC_BYTES = 32;
const HMAC = { name: "HMAC", hash: "SHA-256" } as const;
const SESSION_LABEL = new TextEncoder().encode("tandem replication session v1");

/** Which side wrote a frame: the node that opened the connection, or the one that accepted it. */
export type Direction = 0 | 1;
export const FROM_INITIATOR: Direction = 0;
export const FROM_RESPONDER: Direction = 1;

export function importClusterKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), HMAC, false, ["sign"]);
}

/** The connection's key: HMAC(clusterKey, label | initiator nonce | responder nonce). */
export async function deriveSessionKey(cluster: CryptoKey, initiatorNonce: Uint8Array, responderNonce: Uint8Array): Promise<CryptoKey> {
  const input = new Uint8Array(SESSION_LABEL.length + initiatorNonce.length + responderNonce.length);
  input.set(SESSION_LABEL);
  input.set(initiatorNonce, SESSION_LABEL.length);
  input.set(responderNonce, SESSION_LABEL.length + initiatorNonce.length);
  const raw = await crypto.subtle.sign("HMAC", cluster, input);
  return crypto.subtle.importKey("raw", raw, HMAC, false, ["sign", "verify"]);
}

/**
 * The MAC of `body` as frame number `counter` in `direction`. `bind` (the initiator's nonce) ties
 * the handshake reply to this connection's hello before a session key exists.
 */
export async function frameMac(
  key: CryptoKey,
  direction: Direction,
  counter: number,
  bind: Uint8Array | undefined,
  body: Uint8Array,
): Promise<Uint8Array> {
  const bindLength = bind?.length ?? 0;
  const input = new Uint8Array(9 + bindLength + body.length);
  const view = new DataView(input.buffer);
  input[0] = direction;
  view.setUint32(1, Math.floor(counter / 2 ** 32));
  view.setUint32(5, counter >>> 0);
  if (bind) input.set(bind, 9);
  input.set(body, 9 + bindLength);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, input));
}

/** Compares in time independent of where the first difference is. */
export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
