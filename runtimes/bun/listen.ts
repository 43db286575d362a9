/**
 * TCP and mutual-TLS listeners on `Bun.listen`, as the core's {@link ListenStream} port. Each
 * accepted socket becomes a {@link SocketStream}, the same adapter outgoing connections use.
 *
 * With `tls`, a connection reaches `onConnection` only after a handshake in which the client
 * presented a certificate that chains to `caCerts`: BoringSSL reports some verification failures
 * (a certificate from another CA) as a successful handshake with an authorization error, so both
 * are checked here.
 *
 * @example
 * ```ts
 * const listener = await listenStream({ hostname: "127.0.0.1", port: 0 }, async (connection) => {
 *   for (let chunk; (chunk = await connection.read()) !== null;) await connection.write(chunk);
 *   connection.close();
 * });
 * ```
 *
 * @module
 */
import type { ListenStream } from "../../core/ports.ts";
import { listenSockets } from "./listen-connections.ts";

export const listenStream: ListenStream = ({ hostname, port, tls }, onConnection) =>
  listenSockets({
    hostname,
    port,
    // Another process already on the port must make this fail, not share the port.
    exclusive: true,
    tls: tls && { cert: tls.cert, key: tls.key, ca: tls.caCerts, requestCert: true, rejectUnauthorized: true },
  }, onConnection, {
    handshakeAccepted: (socket, success, authorizationError) => success && authorizationError === null && socket.authorized,
  });
