/**
 * Key pairs for the ACME account and for certificates, as PKCS#8 PEM (what storage keeps and
 * what the runtimes' TLS listeners take), and their WebCrypto forms for signing JWS, CSRs and
 * certificates.
 *
 * ```ts
 * import { generateKeyPem, loadKeyPem } from "./keys.ts";
 * const key = await loadKeyPem(await generateKeyPem("ec-p256"));
 * console.log(key.jwsAlgorithm, key.publicJwk.crv); // "ES256" "P-256"
 * ```
 *
 * @module
 */
import { children, decodeOid, expectTag, readOne, Tag } from "../tls/der.ts";

export type AcmeKeyType = "ec-p256" | "rsa-2048" | "rsa-3072";

/** A private key ready to sign, with what goes into JWS headers and certificates about it. */
export interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public half only (no private members), for the JWS `jwk` header and thumbprints. */
  publicJwk: JsonWebKey;
  /** RFC 7518 name: ES256, ES384 or RS256. */
  jwsAlgorithm: "ES256" | "ES384" | "RS256";
  /** What crypto.subtle.sign takes for this key. */
  signParams: AlgorithmIdentifier | EcdsaParams;
}

const OID_RSA = "1.2.840.113549.1.1.1";
const OID_EC = "1.2.840.10045.2.1";
const CURVES: Record<string, { curve: "P-256" | "P-384"; jws: "ES256" | "ES384"; hash: string }> = {
  "1.2.840.10045.3.1.7": { curve: "P-256", jws: "ES256", hash: "SHA-256" },
  "1.3.132.0.34": { curve: "P-384", jws: "ES384", hash: "SHA-384" },
};
const PUBLIC_MEMBERS = ["kty", "crv", "x", "y", "n", "e"];
const PEM_KEY = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/;

/** A new key pair of `type`, as PKCS#8 PEM. */
export async function generateKeyPem(type: AcmeKeyType): Promise<string> {
  const algorithm: RsaHashedKeyGenParams | EcKeyGenParams = type === "ec-p256"
    ? { name: "ECDSA", namedCurve: "P-256" }
    : {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: type === "rsa-2048" ? 2048 : 3072,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    };
  const pair = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as CryptoKeyPair;
  return toPem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)));
}

/** Imports a PKCS#8 PEM key (EC P-256/P-384 or RSA). Throws an Error saying what is wrong with it. */
export async function loadKeyPem(pem: string): Promise<SigningKey> {
  const match = PEM_KEY.exec(pem);
  if (!match) throw new Error('no PKCS#8 private key (expected a PEM "PRIVATE KEY" block)');
  const der = _base64Decode(match[1]);
  const info = children(readOne(der, Tag.SEQUENCE, "PKCS#8 key"));
  const algorithm = children(expectTag(info[1], Tag.SEQUENCE, "PKCS#8 key algorithm"));
  const oid = decodeOid(expectTag(algorithm[0], Tag.OID, "PKCS#8 key algorithm").value);
  let importParams: RsaHashedImportParams | EcKeyImportParams;
  let jwsAlgorithm: SigningKey["jwsAlgorithm"];
  let signParams: SigningKey["signParams"];
  if (oid === OID_RSA) {
    importParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    jwsAlgorithm = "RS256";
    signParams = "RSASSA-PKCS1-v1_5";
  } else if (oid === OID_EC) {
    const curveOid = decodeOid(expectTag(algorithm[1], Tag.OID, "EC curve").value);
    const curve = CURVES[curveOid];
    if (!curve) throw new Error(`unsupported EC curve ${curveOid} (P-256 and P-384 are supported)`);
    importParams = { name: "ECDSA", namedCurve: curve.curve };
    jwsAlgorithm = curve.jws;
    signParams = { name: "ECDSA", hash: curve.hash };
  } else {
    throw new Error(`unsupported key algorithm ${oid} (EC P-256/P-384 and RSA are supported)`);
  }
  const privateKey = await crypto.subtle.importKey("pkcs8", der, importParams, true, ["sign"]);
  const privateJwk = await crypto.subtle.exportKey("jwk", privateKey) as JsonWebKey;
  const publicJwk = Object.fromEntries(
    PUBLIC_MEMBERS.filter((name) => name in privateJwk).map((name) => [name, privateJwk[name as keyof JsonWebKey]]),
  ) as JsonWebKey;
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, importParams, true, ["verify"]);
  return { privateKey, publicKey, publicJwk, jwsAlgorithm, signParams };
}

/** PEM text for DER bytes, 64 characters a line. */
export function toPem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function _base64Decode(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/\s+/g, ""));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
