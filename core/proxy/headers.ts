/**
 * Header rules of a proxy: hop-by-hop removal both ways (RFC 9110 §7.6.1), refusal of Connection
 * abuse, and the forwarding headers (X-Forwarded-*, RFC 7239 Forwarded, Via).
 *
 * @module
 */
import type { ForwardingConfig } from "../config/schema.ts";
import type { FieldMap } from "../http/message.ts";
import { displayIp } from "./ip.ts";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "proxy-authorization",
  "proxy-authenticate",
];

/**
 * Fields a client must not be able to make a proxy drop by listing them in Connection: removing
 * them would change message framing (Host, Content-Length, Transfer-Encoding) or let a client
 * strip what the proxy vouches for.
 */
const PROTECTED = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
]);

export class HeaderError extends Error {
  readonly code = "BAD_HEADER";
}

/** The field names listed in Connection, lower-cased. */
function _connectionTokens(headers: FieldMap): string[] {
  const value = headers.get("connection");
  if (!value) return [];
  return value.split(",").map((token) => token.trim().toLowerCase()).filter(Boolean);
}

/**
 * Removes hop-by-hop fields in place. `keepUpgrade` keeps Upgrade/Connection for a WebSocket
 * handshake; TE is kept only as `trailers`, the one value meaningful end to end.
 * Throws {@link HeaderError} when Connection names a protected field.
 */
export function stripHopByHop(headers: FieldMap, options: { keepUpgrade?: boolean; request?: boolean } = {}): void {
  const tokens = _connectionTokens(headers);
  if (options.request) {
    for (const token of tokens) {
      if (PROTECTED.has(token) || token.startsWith("x-forwarded-")) {
        throw new HeaderError(`Connection header names ${token}`);
      }
    }
  }
  const te = headers.get("te");
  for (const token of tokens) {
    if (options.keepUpgrade && token === "upgrade") continue;
    headers.delete(token);
  }
  for (const name of HOP_BY_HOP) {
    if (options.keepUpgrade && (name === "upgrade" || name === "connection")) continue;
    headers.delete(name);
  }
  if (options.request && te && te.split(",").some((part) => part.trim().toLowerCase() === "trailers")) {
    headers.set("te", "trailers");
  }
  if (options.keepUpgrade) headers.set("connection", "upgrade");
}

export interface ForwardContext {
  clientAddress: string;
  /** The client is a trusted proxy: its forwarding headers are extended, not replaced. */
  trusted: boolean;
  proto: "http" | "https";
  /** Host the client asked for (Host header), if any. */
  host: string | null;
}

/** Sets the forwarding headers the pool asks for; client-sent copies survive only from trusted proxies. */
export function applyForwarding(headers: FieldMap, forwarding: ForwardingConfig, context: ForwardContext): void {
  const client = displayIp(context.clientAddress);
  if (!context.trusted) {
    headers.delete("x-forwarded-for");
    headers.delete("x-forwarded-proto");
    headers.delete("x-forwarded-host");
    headers.delete("x-forwarded-port");
    headers.delete("x-real-ip");
    headers.delete("forwarded");
  }
  if (forwarding.xForwardedFor) {
    const previous = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", previous ? `${previous}, ${client}` : client);
  }
  if (forwarding.xForwardedProto && !headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", context.proto);
  if (forwarding.xForwardedHost && context.host && !headers.has("x-forwarded-host")) {
    headers.set("x-forwarded-host", context.host);
  }
  if (forwarding.forwarded) {
    const node = client.includes(":") ? `"[${client}]"` : client;
    let element = `for=${node};proto=${context.proto}`;
    if (context.host) element += `;host="${context.host.replace(/["\\]/g, "")}"`;
    const previous = headers.get("forwarded");
    headers.set("forwarded", previous ? `${previous}, ${element}` : element);
  }
  if (forwarding.via) {
    const previous = headers.get("via");
    headers.set("via", previous ? `${previous}, 1.1 tandem` : "1.1 tandem");
  }
}
