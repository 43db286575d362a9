/**
 * Header rules of a proxy: hop-by-hop removal both ways (RFC 9110 §7.6.1), refusal of Connection
 * abuse, and the forwarding headers (X-Forwarded-*, RFC 7239 Forwarded, Via).
 *
 * @module
 */
import type { ForwardingConfig } from "../config/schema.ts";
import type { Fields } from "../http/message.ts";
import { displayIp } from "./ip.ts";

const HOP_BY_HOP: ReadonlySet<string> = new Set([
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
]);
/** A WebSocket handshake keeps Upgrade and Connection (set to `upgrade` again afterwards). */
const HOP_BY_HOP_BUT_UPGRADE: ReadonlySet<string> = new Set([...HOP_BY_HOP].filter((name) => name !== "upgrade" && name !== "connection"));
/** What an untrusted client's request may not say about where it came from. */
const FORWARDING: ReadonlySet<string> = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-real-ip", "forwarded"]);

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
function _connectionTokens(fields: Fields): string[] {
  const value = fields.get("connection");
  if (!value) return [];
  return value.split(",").map((token) => token.trim().toLowerCase()).filter(Boolean);
}

/**
 * Removes hop-by-hop fields in place, in one pass over the fields. `keepUpgrade` keeps
 * Upgrade/Connection for a WebSocket handshake; TE is kept only as `trailers`, the one value
 * meaningful end to end. Throws {@link HeaderError} when Connection names a protected field.
 */
export function stripHopByHop(fields: Fields, options: { keepUpgrade?: boolean; request?: boolean } = {}): void {
  const tokens = _connectionTokens(fields);
  if (options.request) {
    for (const token of tokens) {
      if (PROTECTED.has(token) || token.startsWith("x-forwarded-")) {
        throw new HeaderError(`Connection header names ${token}`);
      }
    }
  }
  const te = options.request ? fields.get("te") : null;
  let names = options.keepUpgrade ? HOP_BY_HOP_BUT_UPGRADE : HOP_BY_HOP;
  const listed = tokens.filter((token) => !(options.keepUpgrade && token === "upgrade"));
  if (listed.length > 0) names = new Set([...names, ...listed]);
  fields.deleteAll(names);
  if (te && te.split(",").some((part) => part.trim().toLowerCase() === "trailers")) fields.set("te", "trailers");
  if (options.keepUpgrade) fields.set("connection", "upgrade");
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
export function applyForwarding(headers: Fields, forwarding: ForwardingConfig, context: ForwardContext): void {
  const client = displayIp(context.clientAddress);
  if (!context.trusted) headers.deleteAll(FORWARDING);
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
