/**
 * Outgoing TCP and TLS connections on `Deno.connect` / `Deno.startTls`, as the core's
 * {@link Connect} port. Needs only `--allow-net`.
 *
 * TLS goes through `startTls` because `connectTls` takes no server name: the member is dialled by
 * address while SNI and verification use `serverName`. Deno's own TLS cannot skip chain
 * verification, so `verify: false` uses `node:tls`, which can.
 *
 * @module
 */
import { connect as nodeTlsConnect } from "node:tls";
import { Duplex } from "node:stream";
import type { Connect, ConnectOptions, StreamConnection } from "../../core/ports.ts";

export const connect: Connect = async (options) => {
  const { hostname, port, tls, signal } = options;
  signal?.throwIfAborted();
  if (tls && !tls.verify) return await _connectUnverified(options);
  // Deno closes a connection whenever the signal given to Deno.connect aborts, even long after
  // connecting; the port's signal covers the attempt only.
  const attempt = new AbortController();
  let conn: Deno.Conn | undefined;
  const onAbort = () => {
    attempt.abort(signal!.reason);
    if (conn) _close(conn);
  };
  signal?.addEventListener("abort", onAbort);
  try {
    const tcp = conn = await Deno.connect({ hostname, port, signal: attempt.signal });
    tcp.setNoDelay(true);
    if (tls) {
      const { serverName, caCerts } = tls;
      const tlsConn = conn = await Deno.startTls(tcp, { hostname: serverName, caCerts });
      // startTls resolves before the handshake; a bad certificate must fail here, not on write.
      await tlsConn.handshake();
    }
    signal?.throwIfAborted();
    return _wrap(conn);
  } catch (error) {
    if (conn) _close(conn);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
};

function _close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: cancelling the readable closes the resource too.
  }
}

function _wrap(conn: Deno.Conn): StreamConnection {
  return { readable: conn.readable, writable: conn.writable, close: () => _close(conn) };
}

function _connectUnverified(options: ConnectOptions): Promise<StreamConnection> {
  const { hostname, port, tls, signal } = options;
  return new Promise((resolve, reject) => {
    // SNI carries host names only (RFC 6066); node:tls warns when given an address.
    const isAddress = /^[0-9.]+$|:/.test(tls!.serverName);
    const socket = nodeTlsConnect({
      host: hostname,
      port,
      servername: isAddress ? undefined : tls!.serverName,
      ca: tls!.caCerts,
      rejectUnauthorized: false,
    });
    const onAbort = () => {
      socket.destroy();
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    // Kept after connecting too: an 'error' event without a listener would throw.
    socket.on("error", (error) => {
      signal?.removeEventListener("abort", onAbort);
      reject(error);
    });
    socket.once("secureConnect", () => {
      signal?.removeEventListener("abort", onAbort);
      socket.setNoDelay(true);
      const { readable, writable } = Duplex.toWeb(socket) as unknown as {
        readable: ReadableStream<Uint8Array>;
        writable: WritableStream<Uint8Array>;
      };
      resolve({ readable, writable, close: () => socket.destroy() });
    });
  });
}
