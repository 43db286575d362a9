/**
 * Outgoing TCP and TLS connections on `Deno.connect` / `Deno.startTls`, as the core's
 * {@link Connect} port. Needs only `--allow-net`.
 *
 * TLS goes through `startTls` because `connectTls` takes no server name: the member is dialled by
 * address while SNI and verification use `serverName`. Deno's own TLS can neither skip chain
 * verification nor present a client certificate on `startTls`, so `verify: false` and mutual TLS
 * use `node:tls`, which can.
 *
 * @module
 */
import { checkServerIdentity, connect as nodeTlsConnect } from "node:tls";
import type { Connect, ConnectOptions, StreamConnection } from "../../core/ports.ts";
import { closeConn, wrapConn, wrapNodeSocket } from "./conn-stream.ts";

export const connect: Connect = async (options) => {
  const { hostname, port, tls, signal } = options;
  signal?.throwIfAborted();
  if (tls && (!tls.verify || tls.clientCertificate)) return await _connectNodeTls(options);
  // Deno closes a connection whenever the signal given to Deno.connect aborts, even long after
  // connecting; the port's signal covers the attempt only.
  const attempt = new AbortController();
  let conn: Deno.Conn | undefined;
  const onAbort = () => {
    attempt.abort(signal!.reason);
    if (conn) closeConn(conn);
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
    return wrapConn(conn);
  } catch (error) {
    if (conn) closeConn(conn);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
};

function _connectNodeTls(options: ConnectOptions): Promise<StreamConnection> {
  const { hostname, port, signal } = options;
  const { serverName, caCerts, verify, clientCertificate } = options.tls!;
  return new Promise((resolve, reject) => {
    // SNI carries host names only (RFC 6066); node:tls warns when given an address.
    const isAddress = /^[0-9.]+$|:/.test(serverName);
    const socket = nodeTlsConnect({
      host: hostname,
      port,
      servername: isAddress ? undefined : serverName,
      ca: caCerts,
      rejectUnauthorized: verify,
      // Without SNI node would check the dialled address; the name to verify is serverName.
      checkServerIdentity: (_host, certificate) => checkServerIdentity(serverName, certificate),
      cert: clientCertificate?.cert,
      key: clientCertificate?.key,
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
      resolve(wrapNodeSocket(socket));
    });
  });
}
