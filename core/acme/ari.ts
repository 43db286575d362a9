/**
 * ACME Renewal Information (RFC 9773): the certificate identifier the CA knows a certificate by
 * (its issuer's key identifier and its serial), and the renewal window the CA suggests for it,
 * which moves earlier when the CA plans to revoke (an incident) or wants load spread out.
 *
 * ```ts
 * import { certificateId } from "./ari.ts";
 * console.log(certificateId(leafPem)); // "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
 * ```
 *
 * @module
 */
import { base64url } from "jose";
import { children, decodeOid, expectTag, readOne, Tag } from "../tls/der.ts";
import { pemBlocks } from "../tls/certificate.ts";
import { invalidResponse } from "./errors.ts";
import type { AcmeTransport } from "./transport.ts";

export interface RenewalWindow {
  /** Wall-clock milliseconds since the Unix epoch, like the certificate's validity. */
  start: number;
  end: number;
  /** When to ask again: the CA's Retry-After (or 6 hours without one), kept within a minute and a day (RFC 9773 §4.3.2). */
  retryAfterMs: number;
  explanationUrl?: string;
}

const OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35";
const EXPLICIT_3 = 0xa3;
const KEY_IDENTIFIER = 0x80;
const DEFAULT_RETRY_MS = 6 * 3_600_000;
const MIN_RETRY_MS = 60_000;
const MAX_RETRY_MS = 24 * 3_600_000;

/**
 * The RFC 9773 §4.1 certID of the first certificate in `certPem`: base64url(authority key
 * identifier) "." base64url(serial number's DER content octets). Undefined when the certificate
 * names no authority key identifier (no CA that offers ARI issues such certificates).
 */
export function certificateId(certPem: string): string | undefined {
  const leaf = pemBlocks(certPem).find((block) => block.label === "CERTIFICATE");
  if (!leaf) throw new Error('no certificate (expected a PEM "CERTIFICATE" block)');
  const certificate = children(readOne(leaf.der, Tag.SEQUENCE, "certificate"));
  const tbs = children(expectTag(certificate[0], Tag.SEQUENCE, "tbsCertificate"));
  const serial = expectTag(tbs[tbs[0]?.tag === 0xa0 ? 1 : 0], Tag.INTEGER, "serialNumber");
  const extensions = tbs.find((node) => node.tag === EXPLICIT_3);
  if (!extensions) return undefined;
  for (const extension of children(expectTag(children(extensions)[0], Tag.SEQUENCE, "extensions"))) {
    const parts = children(extension);
    if (decodeOid(expectTag(parts[0], Tag.OID, "extension id").value) !== OID_AUTHORITY_KEY_IDENTIFIER) continue;
    const value = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, "authorityKeyIdentifier");
    const keyIdentifier = children(readOne(value.value, Tag.SEQUENCE, "authorityKeyIdentifier"))
      .find((node) => node.tag === KEY_IDENTIFIER);
    if (!keyIdentifier) return undefined;
    return `${base64url.encode(keyIdentifier.value)}.${base64url.encode(serial.value)}`;
  }
  return undefined;
}

/** The CA's suggested window for `certPem`; null when the CA offers no ARI or the certificate has no certID. */
export async function fetchRenewalInfo(transport: AcmeTransport, certPem: string): Promise<RenewalWindow | null> {
  const base = (await transport.directory()).renewalInfo;
  const id = certificateId(certPem);
  if (!base || !id) return null;
  const url = `${base.replace(/\/$/, "")}/${id}`;
  const response = await transport.get(url);
  const body = response.body as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown } | undefined;
  const start = Date.parse(String(body?.suggestedWindow?.start));
  const end = Date.parse(String(body?.suggestedWindow?.end));
  // RFC 9773 §4.2: a window that ends before or when it starts is as good as no answer.
  if (Number.isNaN(start) || Number.isNaN(end) || end <= start) {
    throw invalidResponse(`${url} has no valid suggestedWindow (start and end RFC 3339 times, end after start)`, response.status);
  }
  const retryAfterMs = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, response.retryAfterMs ?? DEFAULT_RETRY_MS));
  const explanationUrl = typeof body?.explanationURL === "string" ? body.explanationURL : undefined;
  return { start, end, retryAfterMs, ...(explanationUrl ? { explanationUrl } : {}) };
}
