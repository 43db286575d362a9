/**
 * The names an ACME certificate is ordered for: `tls.acme.domains`, or else the names of the
 * listener's own certificate files (a listener moving from certbot-managed files to ACME keeps
 * its names, and its files serve until the first ACME certificate arrives).
 *
 * @module
 */
import type { AcmeConfig } from "./schema.ts";

/** An ACME config with its names settled. */
export type ResolvedAcmeConfig = AcmeConfig & { domains: string[] };

/** `acme.domains`, else the DNS names of `certificates` in their order, each once. */
export function acmeDomains(acme: AcmeConfig, certificates: readonly { leaf: { dnsNames: readonly string[] } }[]): string[] {
  return acme.domains ?? [...new Set(certificates.flatMap((pair) => pair.leaf.dnsNames))];
}
