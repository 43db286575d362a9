/**
 * The port discovery resolves names through, and what one lookup comes to. The DNS client
 * (dns-client.ts) implements it over the runtimes' UDP and TCP sockets; tests hand in a fake.
 *
 * @module
 */
import type { DnsRecord } from "./dns-message.ts";
import type { RecordType } from "./schema.ts";

/** How one lookup ended, as metrics and the admin API name it. */
export type LookupOutcome = "ok" | "nx" | "timeout" | "servfail" | "refused" | "error";

export type Lookup =
  /** Records of the asked type (CNAMEs followed by the server), and the addresses the server added for SRV targets. */
  | { outcome: "ok"; records: DnsRecord[]; additional: DnsRecord[] }
  /** NXDOMAIN, or the name exists without records of that type (NODATA). */
  | { outcome: "nx"; reason: string }
  | { outcome: "timeout" | "servfail" | "refused" | "error"; reason: string };

export type Resolve = (name: string, type: RecordType) => Promise<Lookup>;
