/**
 * TCP and mutual-TLS listeners, as the core's {@link ListenStream} port: plain TCP as HTTP
 * listeners get it (`listenConnections`); mutual TLS on `node:tls`, because `Deno.listenTls` cannot ask for a client
 * certificate, while Deno's `node:tls` server can and verifies it against `ca`.
 *
 * Under TLS 1.3 the client finishes its handshake before the server has checked the client's
 * certificate, so a refused client learns it from an alert on its first read, not from connect.
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
import { createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import type { ListenStream, StreamListener, StreamListenOptions } from "../../core/ports.ts";
import { wrapNodeSocket } from "./conn-stream.ts";
import { listenConnections } from "./listen-connections.ts";

type OnConnection = Parameters<ListenStream>[1];

export const listenStream: ListenStream = (options, onConnection) =>
  options.tls ? _listenMutualTls(options, onConnection) : listenConnections(options.hostname, options.port, onConnection);

function _listenMutualTls({ hostname, port, tls }: StreamListenOptions, onConnection: OnConnection): Promise<StreamListener> {
  const { cert, key, caCerts } = tls!;
  const server = createServer({ cert, key, ca: caCerts, requestCert: true, rejectUnauthorized: true });
  server.on("secureConnection", (socket: TLSSocket) => {
    if (!socket.authorized) return socket.destroy();
    socket.setNoDelay(true);
    onConnection(wrapNodeSocket(socket), { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 });
  });
  // A refused client (no certificate, another CA) ends its own socket; nothing to report.
  server.on("tlsClientError", () => {});
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      // Accept errors after start have no one to go to; an 'error' without a listener would throw.
      server.on("error", () => {});
      const address = server.address() as AddressInfo;
      // close() stops listening at once; its callback would wait for the connections, which stay open.
      resolve({ hostname: address.address, port: address.port, close: () => Promise.resolve(void server.close()) });
    });
  });
}
