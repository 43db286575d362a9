/**
 * The client a rule sees behind trusted proxies: HAProxy's `src` after `tcp-request connection
 * set-src`, nginx's `$remote_addr` after `real_ip`. Only the addresses trusted proxies appended
 * are believed, so the right-most untrusted one in X-Forwarded-For is the client; a client
 * cannot pick its address by sending the header itself.
 *
 * @example
 * ```ts
 * const trusted = compileCidrs(["10.0.0.0/8"]);
 * clientAddressOf("10.0.0.2", "198.51.100.1, 192.0.2.7", trusted); // "192.0.2.7"
 * clientAddressOf("192.0.2.9", "198.51.100.1", trusted);            // "192.0.2.9"
 * ```
 * @module
 */
import { parseIp } from "../proxy/ip.ts";

export function clientAddressOf(peer: string, forwardedFor: string | null, trusted: (address: string) => boolean): string {
  if (forwardedFor === null || !trusted(peer)) return peer;
  const hops = forwardedFor.split(",");
  let client = peer;
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = hops[index].trim();
    // A hop that is not an address ends what can be believed: the last believed one is the client.
    if (parseIp(hop) === undefined) return client;
    client = hop;
    if (!trusted(hop)) return hop;
  }
  return client;
}
