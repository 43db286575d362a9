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
import type { Socket } from "bun";
import type { ListenStream, RemoteAddress } from "../../core/ports.ts";
import { SocketStream } from "./socket-stream.ts";

export const listenStream: ListenStream = ({ hostname, port, tls }, onConnection) => {
  const accept = (socket: Socket<SocketStream>) => {
    const remote: RemoteAddress = { address: socket.remoteAddress, port: socket.remotePort };
    onConnection(socket.data.connection, remote);
  };
  try {
    const listener = Bun.listen<SocketStream>({
      hostname,
      port,
      // Another process already on the port must make this fail, not share the port.
      exclusive: true,
      tls: tls && { cert: tls.cert, key: tls.key, ca: tls.caCerts, requestCert: true, rejectUnauthorized: true },
      socket: {
        binaryType: "uint8array",
        open(socket) {
          socket.data = new SocketStream();
          socket.data.attach(socket);
          if (!tls) accept(socket);
        },
        handshake(socket, success, authorizationError) {
          if (success && authorizationError === null && socket.authorized) accept(socket);
          else socket.data.close();
        },
        data: (socket, data) => socket.data.received(data),
        drain: (socket) => socket.data.drained(),
        end: (socket) => socket.data.ended(),
        error: (socket, error) => socket.data.failed(error),
        close: (socket, error) => socket.data.closedBySocket(error),
      },
    });
    return Promise.resolve({
      hostname: listener.hostname,
      port: listener.port,
      // Bun's stop(false) leaves accepted sockets open, as the port asks.
      close: () => listener.stop(false),
    });
  } catch (error) {
    return Promise.reject(error);
  }
};
