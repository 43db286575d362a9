/**
 * The socket-level HTTP/1.1 front end's listener ({@link Platform.listenConnections}): plain TCP on
 * `Deno.listen`, TLS on `Deno.listenTls` with a certificate per server name; each connection is
 * wrapped by {@link wrapConn}. Connections are accepted here, one at a time, so that a failed
 * accept (out of file descriptors) pauses and retries instead of ending the listener.
 *
 * Nagle stays on for TLS connections: `Deno.TlsConn` has no setNoDelay (Deno 2.9.6) and
 * `Deno.listenTls` does not set TCP_NODELAY, so a response written in two small writes waits for
 * the client's delayed ACK (about 40 ms) before its second part leaves. `node:tls`, whose sockets
 * can turn Nagle off, is no way out: after an EMFILE its server never accepts again.
 *
 * @module
 */
import type { Platform } from "../../core/platform.ts";
import type { RemoteAddress, StreamListener } from "../../core/ports.ts";
import { selectCertificate } from "../../core/tls/certificate.ts";
import type { ListenerTls } from "../../core/tls/certificate.ts";
import { closeConn, wrapConn } from "./conn-stream.ts";

/** Pause before accepting again after a failed accept. */
const ACCEPT_RETRY_MS = 100;

/**
 * `handshakeTimeout` is not applied: closing a `Deno.TlsConn` whose handshake is pending cancels
 * the handshake but leaks its socket (Deno 2.9.6; even a second close finds no resource), which
 * is worse than waiting: a client that leaves fails its handshake, and that frees the socket.
 */
export const listenConnections: Platform["listenConnections"] = (hostname, port, onConnection, { tls, reusePort = false } = {}) => {
  const handOver = (conn: Deno.Conn<Deno.NetAddr>) => onConnection(wrapConn(conn), _remote(conn));
  try {
    if (tls) {
      return Promise.resolve(acceptEach(listenTlsWithSni(hostname, port, tls, ["http/1.1"]), (conn) => {
        // A client that fails its handshake is closed unseen; the others wait only for their own.
        conn.handshake().then(() => handOver(conn), () => closeConn(conn));
      }));
    }
    return Promise.resolve(acceptEach(Deno.listen({ hostname, port, reusePort } as Deno.TcpListenOptions), (conn) => {
      conn.setNoDelay(true);
      handOver(conn);
    }));
  } catch (error) {
    return Promise.reject(error);
  }
};

/**
 * A TLS listener that presents, for each ClientHello, the certificate selectCertificate picks for
 * its server name, and offers the ALPN protocols given. `Deno.listenTls` takes one certificate; the
 * per-name resolver (what node:tls's SNICallback is built on) is reachable through
 * `Deno[Deno.internal]` only, so its absence is a clear start-up error rather than a silent single
 * certificate. The resolver caches its answer per name for the listener's life, so new
 * certificates need a new listener beside this one: it binds with SO_REUSEPORT, which
 * `Deno.listenTls` allows under --unstable-net only. rustls offers TLS 1.2 and 1.3 with no switch
 * for 1.3 only, so `tls.minVersion` "1.3" cannot be honoured (Platform.tlsMinVersions says so).
 */
export function listenTlsWithSni(hostname: string, port: number, tls: ListenerTls, alpnProtocols: string[]): Deno.TlsListener {
  // deno-lint-ignore no-explicit-any
  const resolverSymbol = ((Deno as any)[(Deno as any).internal] ?? {}).resolverSymbol;
  if (typeof resolverSymbol !== "symbol") {
    throw new Error(`TLS listeners need Deno's SNI certificate resolver, which deno ${Deno.version.deno} lacks (tested on 2.9)`);
  }
  return Deno.listenTls({
    hostname,
    port,
    reusePort: true,
    alpnProtocols,
    [resolverSymbol]: (serverName: string) => {
      const { cert, key } = selectCertificate(tls.certificates, serverName || undefined);
      return { cert, key };
    },
  } as unknown as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem);
}

/** Accepts until closed, handing each connection to `onAccepted`; a failed accept is retried after a pause. */
export function acceptEach<C extends Deno.Conn<Deno.NetAddr>>(listener: Deno.Listener<C, Deno.NetAddr>, onAccepted: (conn: C) => void): StreamListener {
  let closed = false;
  const accepting = (async () => {
    while (!closed) {
      let conn: C;
      try {
        conn = await listener.accept();
      } catch {
        // Closing the listener ends a pending accept with an error; anything else is retried.
        if (!closed) await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (closed) {
        closeConn(conn);
        break;
      }
      onAccepted(conn);
    }
  })();
  return {
    hostname: listener.addr.hostname,
    port: listener.addr.port,
    // The socket is freed only once the pending accept has ended, which ends the loop.
    close() {
      if (!closed) {
        closed = true;
        listener.close();
      }
      return accepting;
    },
  };
}

function _remote(conn: Deno.Conn<Deno.NetAddr>): RemoteAddress {
  return { address: conn.remoteAddr.hostname, port: conn.remoteAddr.port };
}
