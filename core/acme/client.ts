/**
 * The ACME client (RFC 8555) as the rest of tandem sees it: open an account, obtain a certificate
 * through a challenge responder, ask the CA when to renew (RFC 9773). Runtime-free: the runtime
 * hands in `fetch` (with the CA trust it needs) and a clock.
 *
 * This file is the contract between the protocol (core/acme/*: account, order, jws, x509, ari)
 * and what puts it to work (config, storage, renewal, responders). Change an export only by
 * agreement, noted here and in the commit message.
 *
 * ```ts
 * import { AcmeClient } from "./client.ts";
 * const client = await AcmeClient.open({ fetch, clock: systemClock }, { directory, email: "ops@example.com" });
 * const issued = await client.obtain({ domains: ["example.com"], challenge: "http-01", keyType: "ec-p256" }, responder);
 * const window = await client.renewalInfo(issued.certPem); // null when the CA has no ARI
 * ```
 *
 * @module
 */
import { type AccountOptions, openAccount } from "./account.ts";
import { fetchRenewalInfo, type RenewalWindow } from "./ari.ts";
import { loadKeyPem, type SigningKey } from "./keys.ts";
import { type CertificateRequest, type ChallengeResponder, type IssuedCertificate, obtainCertificate } from "./order.ts";
import { type AcmePorts, AcmeTransport } from "./transport.ts";
import { selfSignedCertificate } from "./x509.ts";

export type { AccountOptions, ExternalAccountBinding } from "./account.ts";
export type { RenewalWindow } from "./ari.ts";
export { AcmeError } from "./errors.ts";
export { type AcmeKeyType, generateKeyPem } from "./keys.ts";
export type { CertificateRequest, ChallengeResponder, IssuedCertificate } from "./order.ts";
export type { AcmePorts } from "./transport.ts";

export interface Account {
  url: string;
  /** PKCS#8 PEM: store it (0600) and hand it back as `accountKeyPem` to reuse the account. */
  keyPem: string;
}

export class AcmeClient {
  readonly account: Account;
  readonly #transport: AcmeTransport;
  readonly #key: SigningKey;

  private constructor(transport: AcmeTransport, account: Account, key: SigningKey) {
    this.#transport = transport;
    this.account = account;
    this.#key = key;
  }

  /** The account for `options.accountKeyPem` found again, or a new one created. Rejects with AcmeError. */
  static async open(ports: AcmePorts, options: AccountOptions): Promise<AcmeClient> {
    const transport = new AcmeTransport(ports, options.directory);
    const opened = await openAccount(transport, options);
    return new AcmeClient(transport, { url: opened.url, keyPem: opened.keyPem }, opened.key);
  }

  /** Orders, proves control of every domain, finalizes and downloads. Rejects with AcmeError. */
  obtain(request: CertificateRequest, responder: ChallengeResponder): Promise<IssuedCertificate> {
    return obtainCertificate(this.#transport, { url: this.account.url, key: this.#key }, request, responder);
  }

  /** The CA's suggested renewal window (RFC 9773); null when the CA has no ARI. Rejects with AcmeError. */
  renewalInfo(certPem: string): Promise<RenewalWindow | null> {
    return fetchRenewalInfo(this.#transport, certPem);
  }
}

/**
 * A self-signed certificate for `domains` valid from `now` for `lifetimeMs` (wall-clock
 * milliseconds), signed with `keyPem`: what a listener serves until its first ACME certificate.
 */
export async function selfSignedPem(domains: string[], keyPem: string, lifetimeMs: number, now: number): Promise<string> {
  return await selfSignedCertificate(await loadKeyPem(keyPem), { domains, notBefore: now, notAfter: now + lifetimeMs });
}

