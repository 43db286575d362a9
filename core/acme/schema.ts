/**
 * `tls.acme` on a listener: the certificate is obtained and renewed from an ACME CA (RFC 8555)
 * instead of read from files.
 *
 * @example
 * ```yaml
 * listeners:
 *   - address: ":443"
 *     tls:
 *       acme:
 *         directory: https://acme-staging-v02.api.letsencrypt.org/directory
 *         email: ops@example.com
 *         domains: [www.example.com, example.com]
 *   - address: ":80"        # answers the CA's http-01 requests, redirects everything else
 *     redirectToHttps: 443
 * ```
 * @module
 */
import * as v from "valibot";
import { duration } from "../config/fields.ts";

export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
export const ACME_CHALLENGES = ["http-01", "tls-alpn-01"] as const;
export const ACME_KEY_TYPES = ["ec-p256", "rsa-2048", "rsa-3072"] as const;

const DOMAIN = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const domain = v.pipe(
  v.string(),
  v.toLowerCase(),
  v.maxLength(253, "a domain name of at most 253 characters"),
  v.check((text) => !text.startsWith("*."), "a name without a wildcard (CAs validate wildcards by dns-01 only, which tandem does not answer)"),
  v.regex(DOMAIN, 'a DNS name such as "www.example.com"'),
);

const directoryUrl = v.pipe(
  v.string(),
  v.check((text) => {
    try {
      return new URL(text).protocol === "https:";
    } catch {
      return false;
    }
  }, 'an https:// URL of an ACME directory such as "https://acme-v02.api.letsencrypt.org/directory"'),
);

export const AcmeSchema = v.pipe(
  v.strictObject({
    /** The CA's directory URL; Let's Encrypt production by default (try its staging first). */
    directory: v.optional(directoryUrl, LETS_ENCRYPT_DIRECTORY),
    /** Contact for expiry and policy mail from the CA. */
    email: v.optional(v.pipe(v.string(), v.email("an e-mail address"))),
    /** The names on the certificate, the first its common name; default the names of the listener's `certificates` (core/acme/domains.ts). */
    domains: v.optional(v.pipe(v.array(domain), v.minLength(1, "at least one domain"), v.maxLength(100, "at most 100 domains (the CAs' limit)"))),
    /** http-01 is answered on a plain listener on port 80; tls-alpn-01 in this listener's handshake. */
    challenge: v.optional(v.picklist(ACME_CHALLENGES), "http-01"),
    keyType: v.optional(v.picklist(ACME_KEY_TYPES), "ec-p256"),
    /** Renew when this much validity is left; default a third of the certificate's lifetime (with jitter), or the CA's ARI window. */
    renewBefore: v.optional(duration(0, 60_000)),
    /** External Account Binding, for CAs that tie ACME accounts to an account of theirs. */
    eab: v.optional(v.strictObject({
      keyId: v.pipe(v.string(), v.minLength(1, "the key id the CA gave")),
      /** TANDEM_ACME_EAB_HMAC_KEY overrides it. */
      hmacKey: v.optional(v.pipe(v.string(), v.regex(BASE64URL, "the base64url HMAC key the CA gave"))),
    })),
    /** PEM file of the CAs that sign the directory's HTTPS certificate, for a private ACME CA. */
    trustedCa: v.optional(v.pipe(v.string(), v.minLength(1, "a file path"))),
    /** Where the account key and certificates are kept (0600), relative to the config file. */
    storage: v.optional(v.pipe(v.string(), v.minLength(1, "a directory path")), "acme"),
    /** Failed attempts are retried after this, doubling up to `retryMax`. */
    retryMin: duration("1m", 100),
    retryMax: duration("1h", 100),
  }),
  v.forward(v.check((acme) => acme.domains === undefined || new Set(acme.domains).size === acme.domains.length, "distinct domains"), ["domains"]),
  v.forward(v.check((acme) => acme.retryMax >= acme.retryMin, "at least retryMin"), ["retryMax"]),
);

export type AcmeConfig = v.InferOutput<typeof AcmeSchema>;
