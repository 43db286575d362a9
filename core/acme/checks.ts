/**
 * What `tandem check`, start-up and reload refuse in `tls.acme` beyond the schema: settings this
 * process could not carry out, each named by its config path.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { ListenerTls } from "../tls/certificate.ts";
import { acmeDomains } from "./domains.ts";

export const EAB_HMAC_KEY_ENV = "TANDEM_ACME_EAB_HMAC_KEY";

/**
 * tls-alpn-01 is refused on every runtime for now: the CA's validation handshake must get the
 * acmeIdentifier certificate while browsers asking for the same name get the real one, and
 * neither Bun's nor Deno's TLS listener can choose a certificate by the ALPN offered.
 */
export function acmeProblems(
  config: Config,
  runtime: string,
  env: (name: string) => string | undefined,
  listenerTls: ReadonlyMap<string, ListenerTls>,
): string[] {
  const problems: string[] = [];
  for (const [index, listener] of config.listeners.entries()) {
    const acme = listener.tls?.acme;
    if (!acme) continue;
    const where = `listeners[${index}].tls.acme`;
    const fileCertificates = listenerTls.get(listener.address)?.certificates ?? [];
    const domains = acmeDomains(acme, fileCertificates);
    if (acme.domains === undefined && listener.tls!.certificates.length === 0) {
      problems.push(`${where}.domains: the names to put on the certificate (or tls.certificates to take them from)`);
    } else if (acme.domains === undefined && domains.some((name) => name.startsWith("*.") || !name.includes("."))) {
      problems.push(`${where}.domains: the names of tls.certificates include ${domains.filter((name) => name.startsWith("*.") || !name.includes(".")).join(", ")}, which no CA validates over http-01: list the domains`);
    }
    if (acme.challenge === "tls-alpn-01") {
      problems.push(`${where}.challenge: "tls-alpn-01" cannot be answered on ${runtime}: its TLS listener cannot pick the acme-tls/1 certificate by ALPN (use "http-01" with a plain listener on port 80)`);
    }
    if (acme.eab && acmeHmacKey(acme.eab, env) === undefined) {
      problems.push(`${where}.eab.hmacKey: the HMAC key the CA gave with the key id (or ${EAB_HMAC_KEY_ENV})`);
    }
    if (config.cluster && config.cluster.tls === undefined) {
      problems.push(`cluster.tls: ${where} shares the certificate's private key with the peers, which only mutual TLS keeps secret on the way (cluster.key authenticates, it does not encrypt)`);
    }
  }
  return problems;
}

/** The EAB HMAC key: the environment's wins, so the config file can stay free of it. */
export function acmeHmacKey(eab: { hmacKey?: string }, env: (name: string) => string | undefined): string | undefined {
  return env(EAB_HMAC_KEY_ENV) ?? eab.hmacKey;
}
