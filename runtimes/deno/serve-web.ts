/**
 * Deno's side of {@link Platform.serveWeb}: connections accepted here (TLS with the SNI resolver
 * and ALPN h2, as the socket front end's listener), each served by Deno's HTTP server, which
 * speaks HTTP/1.1 or HTTP/2 on it (ALPN over TLS, the client preface on plain TCP). Accepting
 * them here is what tells tandem each TLS connection's protocol and the connection count, which
 * `Deno.serve` keeps to itself; the per-connection server (`serveHttpOnConnection`, what Deno's
 * own node:http2 builds on) is reachable through `Deno[Deno.internal]` only, so its absence is a
 * clear start-up error. Deno has no HTTP/3 server (2.9.6).
 *
 * @module
 */
import type { Platform, WebClient } from "../../core/platform.ts";
import type { StreamListener } from "../../core/ports.ts";
import { closeConn } from "./conn-stream.ts";
import { acceptEach, listenTlsWithSni } from "./listen-connections.ts";

interface _ConnectionServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

type _ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request) => Promise<Response>,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => _ConnectionServer;

const PROTOCOL_OF_ALPN: Record<string, WebClient["protocol"]> = { h2: "HTTP/2", "http/1.1": "HTTP/1.1" };

export const serveWeb: Platform["serveWeb"] = (hostname, port, handler, { tls, protocols, reusePort, onConnection }) => {
  // deno-lint-ignore no-explicit-any
  const serveOnConnection: _ServeOnConnection | undefined = ((Deno as any)[(Deno as any).internal] ?? {}).serveHttpOnConnection;
  if (typeof serveOnConnection !== "function") {
    return Promise.reject(new Error(`h2 listeners need Deno's per-connection HTTP server, which deno ${Deno.version.deno} lacks (tested on 2.9)`));
  }
  const servers = new Set<_ConnectionServer>();
  // Never aborted: aborting it makes Deno close connections that may already be gone, which
  // throws out of its own listener (2.9.6); shutdown() is called on each server instead.
  const signal = new AbortController().signal;
  let stopping = false;
  const serve = (conn: Deno.Conn<Deno.NetAddr>, protocol: WebClient["protocol"]) => {
    onConnection?.();
    const client: WebClient = { address: conn.remoteAddr.hostname, port: conn.remoteAddr.port, protocol };
    const server = serveOnConnection(conn, signal, (request) => handler(request, client), _internalError, () => {});
    servers.add(server);
    server.finished.finally(() => servers.delete(server));
    // A connection accepted while the listener was closing gets its GOAWAY at once.
    if (stopping) void server.shutdown();
  };
  let sockets: StreamListener;
  try {
    if (tls) {
      const alpn = protocols.includes("h2") ? ["h2", "http/1.1"] : ["http/1.1"];
      sockets = acceptEach(listenTlsWithSni(hostname, port, tls, alpn), (conn) => {
        conn.handshake().then(({ alpnProtocol }) => serve(conn, PROTOCOL_OF_ALPN[alpnProtocol ?? "http/1.1"]), () => closeConn(conn));
      });
    } else {
      sockets = acceptEach(Deno.listen({ hostname, port, reusePort } as Deno.TcpListenOptions), (conn) => {
        conn.setNoDelay(true);
        // Plain TCP: Deno reads the client preface itself and does not say what it found.
        serve(conn, undefined);
      });
    }
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.resolve({
    hostname: sockets.hostname,
    port: sockets.port,
    get connections() {
      return servers.size;
    },
    stopAccepting: () => sockets.close(),
    async shutdown() {
      stopping = true;
      await sockets.close();
      await Promise.all([...servers].map((server) => server.shutdown()));
    },
  });
};

function _internalError(): Response {
  return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } });
}
