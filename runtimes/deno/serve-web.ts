/**
 * Deno's side of {@link Platform.serveWeb}: connections accepted here (TLS with the SNI resolver
 * and ALPN h2, as the socket front end's listener), each served by Deno's HTTP server, which
 * speaks HTTP/1.1 or HTTP/2 on it (ALPN over TLS, the client preface on plain TCP). Accepting
 * them here is what tells tandem each TLS connection's protocol and the connection count, which
 * `Deno.serve` keeps to itself; the per-connection server (`serveHttpOnConnection`, what Deno's
 * own node:http2 builds on) is reachable through `Deno[Deno.internal]` only, so its absence is a
 * clear start-up error. Deno's server closes no idle connection by itself: tandem does, after
 * `requestTimeout` without a first request from its opening (a silent client, a head that never
 * ends), then after `idleTimeout` without a request in progress (HTTP/2: GOAWAY). Deno has no
 * HTTP/3 server (2.9.6).
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

interface _Connection {
  server: _ConnectionServer;
  /** A request came: Deno's server knows by now whether it speaks HTTP/1.1 or HTTP/2 on it. */
  spoke: boolean;
  /** Requests (HTTP/2: streams) whose answer is not yet delivered. */
  active: number;
  /** Set while no request is in progress: closes the connection when it fires. */
  idle?: ReturnType<typeof setTimeout>;
  closing?: Promise<void>;
}

/**
 * How long a connection that has sent no request yet may still send one once its listener closes.
 * Deno's graceful shutdown of a connection whose protocol it has not yet read closes it at once,
 * failing the request its client is sending (a client of a listener replaced by new certificates
 * that connected in the instant before); shutting it down after its first request lets that
 * request through and sends the GOAWAY after.
 */
const SILENT_GRACE_MS = 2_000;

type _ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request, info: { completed: Promise<void> }) => Promise<Response>,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => _ConnectionServer;

const PROTOCOL_OF_ALPN: Record<string, WebClient["protocol"]> = { h2: "HTTP/2", "http/1.1": "HTTP/1.1" };

export const serveWeb: Platform["serveWeb"] = (hostname, port, handler, { tls, protocols, reusePort, idleTimeout, requestTimeout, onConnection, onRequestTimeout }) => {
  const idleMs = idleTimeout * 1000;
  const requestMs = requestTimeout * 1000;
  // deno-lint-ignore no-explicit-any
  const serveOnConnection: _ServeOnConnection | undefined = ((Deno as any)[(Deno as any).internal] ?? {}).serveHttpOnConnection;
  if (typeof serveOnConnection !== "function") {
    return Promise.reject(new Error(`h2 listeners need Deno's per-connection HTTP server, which deno ${Deno.version.deno} lacks (tested on 2.9)`));
  }
  const connections = new Set<_Connection>();
  // Never aborted: aborting it makes Deno close connections that may already be gone, which
  // throws out of its own listener (2.9.6); each server is shut down instead.
  const signal = new AbortController().signal;
  let stopping = false;
  const serve = (conn: Deno.Conn<Deno.NetAddr>, protocol: WebClient["protocol"]) => {
    onConnection?.();
    const client: WebClient = { address: conn.remoteAddr.hostname, port: conn.remoteAddr.port, protocol };
    const connection = { spoke: false, active: 0 } as _Connection;
    const delivered = () => {
      if (--connection.active === 0) _idleFrom(connection, idleMs);
    };
    connection.server = serveOnConnection(conn, signal, (request, { completed }) => {
      connection.active++;
      clearTimeout(connection.idle);
      completed.then(delivered, delivered);
      if (connection.spoke) return handler(request, client);
      connection.spoke = true;
      // It reached a listener already closing: it goes once this request is answered.
      if (stopping) queueMicrotask(() => void _close(connection));
      return handler(request, { ...client, firstRequest: true });
    }, _internalError, () => {});
    connections.add(connection);
    // Deno reads the head itself and hands over only complete requests: the time to the first
    // one is all tandem sees of a head in progress.
    connection.idle = setTimeout(() => {
      onRequestTimeout?.();
      void _close(connection);
    }, requestMs);
    // A client that breaks its connection rejects `finished`: nothing to do but forget it.
    const forget = () => {
      clearTimeout(connection.idle);
      connections.delete(connection);
    };
    connection.server.finished.then(forget, forget);
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
      return connections.size;
    },
    stopAccepting: () => sockets.close(),
    async shutdown() {
      stopping = true;
      await sockets.close();
      await Promise.all([...connections].map((connection) => (connection.spoke ? _close(connection) : _closeOnceSpoken(connection))));
    },
  });
};

/** Closes the connection once it has been `ms` without a request (a client that never sends one too). */
function _idleFrom(connection: _Connection, ms: number): void {
  connection.idle = setTimeout(() => void _close(connection), ms);
}

/** Answers what is in flight, then closes (GOAWAY on HTTP/2). */
function _close(connection: _Connection): Promise<void> {
  return (connection.closing ??= connection.server.shutdown().catch(() => {}));
}

async function _closeOnceSpoken(connection: _Connection): Promise<void> {
  const timer = setTimeout(() => void _close(connection), SILENT_GRACE_MS);
  await connection.server.finished.catch(() => {});
  clearTimeout(timer);
}

function _internalError(): Response {
  return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } });
}
