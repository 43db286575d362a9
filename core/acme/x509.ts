/**
 * The X.509 structures the ACME client signs itself: the PKCS#10 request sent to finalize an
 * order (RFC 2986), the tls-alpn-01 validation certificate (RFC 8737) and the self-signed
 * placeholder a listener serves until its first certificate arrives. Built from WebCrypto keys
 * with the DER helpers of core/tls/der.ts: the structures are small and fixed, and a library
 * would bring a second ASN.1 stack (and node: imports) to a core that must stay runtime-free.
 *
 * ```ts
 * import { certificationRequest } from "./x509.ts";
 * import { generateKeyPem, loadKeyPem } from "./keys.ts";
 * const der = await certificationRequest(await loadKeyPem(await generateKeyPem("ec-p256")), ["example.com"]);
 * ```
 *
 * @module
 */
import { encodeDer, encodeOid, Tag } from "../tls/der.ts";
import { type SigningKey, toPem } from "./keys.ts";

const OID_COMMON_NAME = "2.5.4.3";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_EXTENDED_KEY_USAGE = "2.5.29.37";
const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
/** RFC 8737 §3: id-pe-acmeIdentifier. */
const OID_ACME_IDENTIFIER = "1.3.6.1.5.5.7.1.31";
const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384 = "1.2.840.10045.4.3.3";
const OID_RSA_SHA256 = "1.2.840.113549.1.1.11";
const DNS_NAME = 0x82;
const EXPLICIT_0 = 0xa0;
const EXPLICIT_3 = 0xa3;
/** RFC 5280 §4.1.2.4: a CN is at most 64 characters; longer names go only in the SAN. */
const MAX_COMMON_NAME = 64;
const ascii = new TextEncoder();

/** A DER PKCS#10 request for `domains` (all in the SAN, the first also as CN when it fits). */
export async function certificationRequest(key: SigningKey, domains: string[]): Promise<Uint8Array<ArrayBuffer>> {
  const extensions = encodeDer(Tag.SEQUENCE, _extension(OID_SUBJECT_ALT_NAME, false, _subjectAltName(domains)));
  const attribute = encodeDer(Tag.SEQUENCE, encodeOid(OID_EXTENSION_REQUEST), encodeDer(Tag.SET, extensions));
  const info = encodeDer(
    Tag.SEQUENCE,
    _integer(new Uint8Array([0])),
    _name(domains[0]),
    await _subjectPublicKeyInfo(key),
    encodeDer(EXPLICIT_0, attribute),
  );
  return await _signed(key, info);
}

export interface CertificateOptions {
  domains: string[];
  notBefore: number;
  notAfter: number;
  /** RFC 8737: the SHA-256 digest of the key authorization, as a critical acmeIdentifier extension. */
  acmeIdentifier?: Uint8Array;
}

/** A self-signed leaf certificate for `domains`, PEM. */
export async function selfSignedCertificate(key: SigningKey, options: CertificateOptions): Promise<string> {
  const extensions = [
    _extension(OID_BASIC_CONSTRAINTS, true, encodeDer(Tag.SEQUENCE)),
    _extension(OID_EXTENDED_KEY_USAGE, false, encodeDer(Tag.SEQUENCE, encodeOid(OID_SERVER_AUTH))),
    _extension(OID_SUBJECT_ALT_NAME, false, _subjectAltName(options.domains)),
  ];
  if (options.acmeIdentifier) {
    extensions.push(_extension(OID_ACME_IDENTIFIER, true, encodeDer(Tag.OCTET_STRING, options.acmeIdentifier)));
  }
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive, and a fixed 16 bytes (RFC 5280 allows up to 20)
  serial[0] |= 0x01; // no leading zero byte, which DER would forbid
  const name = _name(options.domains[0]);
  const tbs = encodeDer(
    Tag.SEQUENCE,
    encodeDer(EXPLICIT_0, _integer(new Uint8Array([2]))),
    _integer(serial),
    _signatureAlgorithm(key),
    name,
    encodeDer(Tag.SEQUENCE, _time(options.notBefore), _time(options.notAfter)),
    name,
    await _subjectPublicKeyInfo(key),
    encodeDer(EXPLICIT_3, encodeDer(Tag.SEQUENCE, ...extensions)),
  );
  return toPem("CERTIFICATE", await _signed(key, tbs));
}

async function _signed(key: SigningKey, body: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  let signature = new Uint8Array(await crypto.subtle.sign(key.signParams, key.privateKey, body));
  // WebCrypto gives ECDSA signatures as r || s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
  if (key.jwsAlgorithm !== "RS256") {
    const half = signature.length / 2;
    signature = encodeDer(Tag.SEQUENCE, _integer(signature.subarray(0, half)), _integer(signature.subarray(half)));
  }
  return encodeDer(Tag.SEQUENCE, body, _signatureAlgorithm(key), encodeDer(Tag.BIT_STRING, new Uint8Array([0]), signature));
}

function _signatureAlgorithm(key: SigningKey): Uint8Array<ArrayBuffer> {
  if (key.jwsAlgorithm === "RS256") return encodeDer(Tag.SEQUENCE, encodeOid(OID_RSA_SHA256), encodeDer(Tag.NULL));
  return encodeDer(Tag.SEQUENCE, encodeOid(key.jwsAlgorithm === "ES256" ? OID_ECDSA_SHA256 : OID_ECDSA_SHA384));
}

async function _subjectPublicKeyInfo(key: SigningKey): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
}

/** A Name with the CN `domain`, or the empty Name when it is too long for a CN. */
function _name(domain: string | undefined): Uint8Array<ArrayBuffer> {
  if (!domain || domain.length > MAX_COMMON_NAME) return encodeDer(Tag.SEQUENCE);
  const commonName = encodeDer(Tag.SEQUENCE, encodeOid(OID_COMMON_NAME), encodeDer(Tag.UTF8_STRING, ascii.encode(domain)));
  return encodeDer(Tag.SEQUENCE, encodeDer(Tag.SET, commonName));
}

function _subjectAltName(domains: string[]): Uint8Array<ArrayBuffer> {
  return encodeDer(Tag.SEQUENCE, ...domains.map((domain) => encodeDer(DNS_NAME, ascii.encode(domain))));
}

function _extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array<ArrayBuffer> {
  const parts = [encodeOid(oid)];
  if (critical) parts.push(encodeDer(Tag.BOOLEAN, new Uint8Array([0xff])));
  return encodeDer(Tag.SEQUENCE, ...parts, encodeDer(Tag.OCTET_STRING, value));
}

/** A non-negative INTEGER from big-endian magnitude bytes: minimal, with a 0 byte when the top bit is set. */
function _integer(magnitude: Uint8Array): Uint8Array<ArrayBuffer> {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return trimmed[0] & 0x80 ? encodeDer(Tag.INTEGER, new Uint8Array([0]), trimmed) : encodeDer(Tag.INTEGER, trimmed);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
function _time(ms: number): Uint8Array<ArrayBuffer> {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-12-05T10:09:57.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  const year = Number(iso.slice(0, 4));
  return year < 2050 ? encodeDer(Tag.UTC_TIME, ascii.encode(digits.slice(2))) : encodeDer(Tag.GENERALIZED_TIME, ascii.encode(digits));
}
