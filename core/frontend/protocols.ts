/**
 * `listeners[].protocols`: which HTTP versions a listener speaks to clients, and whether this
 * runtime can serve them. HTTP/1.1 alone stays on the socket front end (core/frontend/http1-*);
 * `h2` or `h3` moves the listener to the runtime's own HTTP server, the web front end
 * (core/frontend/web-listener.ts), whose HTTP/2 and HTTP/3 tandem does not implement itself.
 *
 * @module
 */
import * as v from "valibot";

export const PROTOCOLS = ["http/1.1", "h2", "h3"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * The default is HTTP/1.1 alone, TLS or not: h2 moves a listener to the web front end, which costs
 * more CPU per request and leaves the HTTP/2 frame limits to the runtime, so it is the operator's
 * choice, not an upgrade that comes with a certificate.
 */
export const ProtocolsSchema = v.optional(
  v.pipe(
    v.array(v.picklist(PROTOCOLS)),
    v.check((list) => new Set(list).size === list.length, "each protocol once"),
    // Deno's server cannot turn HTTP/1.1 off, and a browser falls back to it when h2 fails.
    v.check((list) => list.includes("http/1.1"), 'a list that includes "http/1.1" (it is always served)'),
  ),
  ["http/1.1"],
);

/** True when the listener needs the web front end. */
export function servesOnWeb(config: { protocols: readonly Protocol[] }): boolean {
  return config.protocols.length > 1;
}

/** The listener fields the checks read (core/config/schema.ts imports this module: no import back). */
interface _Listener {
  protocols: readonly Protocol[];
  tls?: unknown;
  maxConnections: number;
}

/** What a listener asks that this runtime's web front end cannot give, each problem with its config path. */
export function protocolProblems(listeners: readonly _Listener[], runtime: string, webProtocols: readonly Protocol[]): string[] {
  const problems: string[] = [];
  for (const [index, listener] of listeners.entries()) {
    const where = `listeners[${index}].protocols`;
    for (const protocol of listener.protocols) {
      if (protocol === "http/1.1") continue;
      if (!webProtocols.includes(protocol)) {
        problems.push(`${where}: "${protocol}" is not served on ${runtime} (it serves: ${["http/1.1", ...webProtocols].map((p) => `"${p}"`).join(", ")})`);
      } else if (protocol === "h3" && listener.tls === undefined) {
        problems.push(`${where}: "h3" needs tls (QUIC is always encrypted)`);
      }
    }
    if (servesOnWeb(listener) && listener.maxConnections > 0) {
      problems.push(`listeners[${index}].maxConnections: not enforced on an h2/h3 listener (the runtime's server accepts its connections); remove it or serve "http/1.1" only`);
    }
  }
  return problems;
}
