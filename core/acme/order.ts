/**
 * One certificate, start to finish (RFC 8555 §7.4-7.4.2): a new order, each authorization
 * proven through the chosen challenge (published by the caller's responder, withdrawn after,
 * whatever the outcome), finalize with a CSR for a fresh key, and the chain downloaded. Every
 * wait honours the CA's Retry-After and has a deadline.
 *
 * @module
 */
import { base64url } from "jose";
import { parseCertificate, pemBlocks } from "../tls/certificate.ts";
import { certificateId } from "./ari.ts";
import { AcmeError, invalidResponse } from "./errors.ts";
import { keyAuthorization } from "./jws.ts";
import { type AcmeKeyType, generateKeyPem, loadKeyPem, type SigningKey } from "./keys.ts";
import type { AcmeResponse, AcmeTransport, Signer } from "./transport.ts";
import { certificationRequest, selfSignedCertificate } from "./x509.ts";

/** A responder publishes what the CA will fetch, and withdraws it after. */
export interface ChallengeResponder {
  publishHttp01(token: string, keyAuthorization: string, domain: string): Promise<void>;
  /** The acmeIdentifier certificate (RFC 8737), built by the client, for the `acme-tls/1` handshake on `domain`. */
  publishTlsAlpn01?(domain: string, certPem: string, keyPem: string): Promise<void>;
  withdraw(domain: string, token: string): Promise<void>;
}

export interface CertificateRequest {
  domains: string[];
  challenge: "http-01" | "tls-alpn-01";
  keyType: AcmeKeyType;
  /** RFC 9773 §5: the certID (ariId) of the certificate this one renews. */
  replaces?: string;
}

export interface IssuedCertificate {
  /** Leaf first, then the chain, as the CA sent it. */
  certPem: string;
  keyPem: string;
  /** The leaf's validity, wall-clock milliseconds since the Unix epoch. */
  notBefore: number;
  notAfter: number;
  /** The RFC 9773 certID, for renewalInfo and for `replaces` when renewing it. */
  ariId?: string;
}

interface Order {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: unknown;
}

interface Challenge {
  type: string;
  url: string;
  token: string;
  status: string;
  error?: unknown;
}

interface Authorization {
  status: string;
  identifier: { type: string; value: string };
  challenges: Challenge[];
}

/** How long one wait (a challenge being validated, an order being issued) may take before giving up. */
const POLL_DEADLINE_MS = 5 * 60_000;
const DEFAULT_POLL_MS = 1_000;
/** A Retry-After beyond this is polled sooner anyway: the deadline decides, not one long sleep. */
const MAX_POLL_MS = 30_000;
const PEM_CHAIN = "application/pem-certificate-chain";

export async function obtainCertificate(
  transport: AcmeTransport,
  account: { url: string; key: SigningKey },
  request: CertificateRequest,
  responder: ChallengeResponder,
): Promise<IssuedCertificate> {
  const domains = [...new Set(request.domains.map((domain) => domain.toLowerCase()))];
  if (domains.length === 0) throw new AcmeError("no-domains", "a certificate needs at least one domain");
  if (request.challenge === "tls-alpn-01" && !responder.publishTlsAlpn01) {
    throw new AcmeError("challenge-unavailable", "tls-alpn-01 needs a responder that can publish a validation certificate");
  }
  const signer: Signer = { key: account.key, accountUrl: account.url };
  const directory = await transport.directory();
  const identifiers = domains.map((value) => ({ type: "dns", value }));
  let created: AcmeResponse;
  try {
    created = await transport.post(directory.newOrder, signer, {
      identifiers,
      ...(request.replaces && directory.renewalInfo ? { replaces: request.replaces } : {}),
    });
  } catch (error) {
    // RFC 9773 §5: another order already replaces that certificate (an earlier attempt, the other
    // node of a pair). `replaces` is only a hint for the CA; the renewal itself must still happen.
    if (!(error instanceof AcmeError) || error.code !== "already-replaced") throw error;
    created = await transport.post(directory.newOrder, signer, { identifiers });
  }
  const orderUrl = created.headers.get("location");
  if (!orderUrl) throw invalidResponse("newOrder answered without a Location (the order URL)", created.status);
  let order = _order(created);

  for (const url of order.authorizations) await _authorize(transport, signer, url, request.challenge, responder);

  order = await _poll(transport, signer, orderUrl, _order, (o) => o.status !== "pending", "the order to become ready");
  _expectStatus(order, "ready", "order-failed", "the order");
  const keyPem = await generateKeyPem(request.keyType);
  const csr = await certificationRequest(await loadKeyPem(keyPem), domains);
  order = _order(await transport.post(order.finalize, signer, { csr: base64url.encode(csr) }));
  if (order.status !== "valid") {
    order = await _poll(transport, signer, orderUrl, _order, (o) => o.status !== "processing" && o.status !== "ready", "the certificate to be issued");
  }
  _expectStatus(order, "valid", "order-failed", "the order");
  if (!order.certificate) throw invalidResponse("a valid order without a certificate URL");
  const certPem = (await transport.post(order.certificate, signer, undefined, PEM_CHAIN)).text;
  const leaf = pemBlocks(certPem).find((block) => block.label === "CERTIFICATE");
  if (!leaf) throw invalidResponse(`${order.certificate} sent no PEM certificate`);
  let info;
  let ariId;
  try {
    info = parseCertificate(leaf.der);
    ariId = certificateId(certPem);
  } catch (error) {
    throw invalidResponse(`${order.certificate} sent a certificate that cannot be parsed: ${(error as Error).message}`);
  }
  const missing = domains.filter((domain) => !info.dnsNames.includes(domain));
  if (missing.length) throw invalidResponse(`${order.certificate} sent a certificate without ${missing.join(", ")}`);
  return { certPem, keyPem, notBefore: info.notBefore, notAfter: info.notAfter, ...(ariId ? { ariId } : {}) };
}

async function _authorize(
  transport: AcmeTransport,
  signer: Signer,
  url: string,
  type: CertificateRequest["challenge"],
  responder: ChallengeResponder,
): Promise<void> {
  const authorization = _authorization(await transport.post(url, signer, undefined));
  if (authorization.status === "valid") return;
  const domain = authorization.identifier.value;
  if (authorization.status !== "pending") {
    throw new AcmeError("challenge-failed", `the authorization for ${domain} is ${authorization.status}`);
  }
  const challenge = authorization.challenges.find((candidate) => candidate.type === type);
  if (!challenge) {
    const offered = authorization.challenges.map((candidate) => candidate.type).join(", ") || "none";
    throw new AcmeError("challenge-unavailable", `the CA offers no ${type} challenge for ${domain} (it offers: ${offered})`);
  }
  if (typeof challenge.token !== "string" || !/^[A-Za-z0-9_-]+$/.test(challenge.token)) {
    throw invalidResponse(`the ${type} challenge for ${domain} has no base64url token`);
  }
  const authorizationKey = await keyAuthorization(challenge.token, signer.key.publicJwk);
  if (type === "http-01") {
    await responder.publishHttp01(challenge.token, authorizationKey, domain);
  } else {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(authorizationKey)));
    const keyPem = await generateKeyPem("ec-p256");
    const now = Date.now();
    const certPem = await selfSignedCertificate(await loadKeyPem(keyPem), {
      domains: [domain],
      notBefore: now - 3_600_000,
      notAfter: now + 7 * 86_400_000,
      acmeIdentifier: digest,
    });
    await responder.publishTlsAlpn01!(domain, certPem, keyPem);
  }
  try {
    if (challenge.status === "pending") await transport.post(challenge.url, signer, {});
    const done = await _poll(transport, signer, url, _authorization, (a) => a.status !== "pending", `the ${type} challenge for ${domain}`);
    if (done.status !== "valid") {
      const failed = done.challenges.find((candidate) => candidate.type === type);
      const problem = (failed?.error ?? {}) as { type?: string; detail?: string };
      throw new AcmeError("challenge-failed", `the ${type} challenge for ${domain} failed: ${problem.detail ?? done.status}`, {
        type: problem.type,
        detail: problem.detail,
      });
    }
  } finally {
    await responder.withdraw(domain, challenge.token);
  }
}

async function _poll<T>(
  transport: AcmeTransport,
  signer: Signer,
  url: string,
  read: (response: AcmeResponse) => T,
  done: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = transport.clock.now() + POLL_DEADLINE_MS;
  for (;;) {
    const response = await transport.post(url, signer, undefined);
    const value = read(response);
    if (done(value)) return value;
    const wait = Math.min(MAX_POLL_MS, response.retryAfterMs ?? DEFAULT_POLL_MS);
    if (transport.clock.now() + wait > deadline) {
      throw new AcmeError("timeout", `gave up waiting for ${what} after ${POLL_DEADLINE_MS / 1000} s (${url})`);
    }
    await transport.sleep(wait);
  }
}

function _expectStatus(order: Order, status: string, code: string, what: string): void {
  if (order.status === status) return;
  const problem = (order.error ?? {}) as { type?: string; detail?: string };
  throw new AcmeError(code, `${what} is ${order.status}${problem.detail ? `: ${problem.detail}` : ""}`, {
    type: problem.type,
    detail: problem.detail,
  });
}

function _order(response: AcmeResponse): Order {
  const body = response.body as Partial<Order> | undefined;
  if (
    !body || typeof body.status !== "string" || typeof body.finalize !== "string" ||
    !Array.isArray(body.authorizations) || !body.authorizations.every((url) => typeof url === "string")
  ) {
    throw invalidResponse("an order without status, authorizations or finalize", response.status);
  }
  return body as Order;
}

function _authorization(response: AcmeResponse): Authorization {
  const body = response.body as Partial<Authorization> | undefined;
  if (
    !body || typeof body.status !== "string" || typeof body.identifier?.value !== "string" || !Array.isArray(body.challenges) ||
    !body.challenges.every((c) => c && typeof c.type === "string" && typeof c.url === "string")
  ) {
    throw invalidResponse("an authorization without status, identifier or challenges", response.status);
  }
  return body as Authorization;
}
