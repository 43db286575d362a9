/**
 * The socket-level HTTP/1.1 front end's listener on `Bun.listen` ({@link Platform.listenConnections}):
 * each accepted socket becomes a {@link SocketStream}, the same adapter outgoing connections use.
 *
 * `Bun.listen` takes one certificate (its `tls` refuses the array `Bun.serve` takes), but it asks
 * its `serverName` socket handler for a context per ClientHello server name, as Bun's own
 * `node:tls` server does for SNICallback. bun-types leave that handler out (tested on Bun 1.4.5),
 * so it is declared here; the test of SNI fails if a Bun release drops it.
 *
 * A failed accept (EMFILE) never reaches JavaScript: Bun keeps the listener and retries at once,
 * keeping a core busy for as long as descriptors are short, then accepts again.
 *
 * @module
 */
import type { Socket, SocketHandler, TCPSocketListenOptions } from "bun";
import { createSecureContext } from "node:tls";
import type { Platform } from "../../core/platform.ts";
import type { RemoteAddress, StreamListener } from "../../core/ports.ts";
import { type KeyPair, selectCertificate } from "../../core/tls/certificate.ts";
import type { ListenerTls } from "../../core/tls/certificate.ts";
import { SocketStream } from "./socket-stream.ts";

/** BoringSSL's option that refuses TLS 1.2, leaving 1.3 only; it refuses 1.0 and 1.1 by default. */
const SSL_OP_NO_TLSv1_2 = 0x08000000;

/** `secureOptions` for a Bun TLS listener that must refuse versions below `minVersion`. */
export function tlsSecureOptions(minVersion: ListenerTls["minVersion"]): number {
  return minVersion === "1.3" ? SSL_OP_NO_TLSv1_2 : 0;
}

/** ALPN in wire format (length-prefixed names): Bun takes even a string option as those bytes. */
const ALPN_HTTP1 = new Uint8Array([8, ...new TextEncoder().encode("http/1.1")]);

interface SniHandler {
  /** The native context whose certificate to present; undefined presents the listener's own. */
  serverName(listenerData: unknown, serverName: string): unknown;
}

export const listenConnections: Platform["listenConnections"] = (hostname, port, onConnection, options = {}) => {
  const { tls, reusePort = false, handshakeTimeout, onHandshakeTimeout } = options;
  // New certificates come on a second TLS listener bound beside the first.
  const shared = reusePort || tls !== undefined;
  return listenSockets({
    hostname,
    port,
    reusePort: shared,
    // Unshared, a port already in use must make this fail, not share the port.
    exclusive: !shared,
    tls: tls && {
      cert: tls.certificates[0].cert,
      key: tls.certificates[0].key,
      secureOptions: tlsSecureOptions(tls.minVersion),
      ALPNProtocols: ALPN_HTTP1,
    },
  }, onConnection, {
    handshakeAccepted: (_socket, success) => success,
    extraHandlers: tls && _sniHandler(tls.certificates),
    handshakeTimeout: handshakeTimeout && { ms: handshakeTimeout, expired: onHandshakeTimeout },
  });
};

/** What decides whether a TLS socket is handed over once its handshake ended. */
type HandshakeCheck = (socket: Socket<SocketStream>, success: boolean, authorizationError: Error | null) => boolean;

/**
 * `Bun.listen` with each accepted socket wrapped in a {@link SocketStream} and handed to
 * `onConnection`: at once over plain TCP, after a handshake that `handshakeAccepted` approves over
 * TLS (the others are closed unseen). `close` stops accepting and leaves accepted sockets open.
 */
export function listenSockets(
  options: Omit<TCPSocketListenOptions<SocketStream>, "socket"> & { reusePort?: boolean },
  onConnection: Parameters<Platform["listenConnections"]>[2],
  { handshakeAccepted, extraHandlers, handshakeTimeout }: {
    handshakeAccepted: HandshakeCheck;
    extraHandlers?: Partial<SniHandler>;
    /** TLS: a client still in its handshake after `ms()` is closed unseen. */
    handshakeTimeout?: { ms: () => number; expired?: () => void };
  },
): Promise<StreamListener> {
  const handOver = (socket: Socket<SocketStream>) => {
    const remote: RemoteAddress = { address: socket.remoteAddress, port: socket.remotePort };
    if (options.tls) remote.tls = { version: socket.getTLSVersion(), serverName: socket.getServername() || undefined };
    onConnection(socket.data.connection, remote);
  };
  const handshakeTimers = new WeakMap<SocketStream, ReturnType<typeof setTimeout>>();
  const socket: SocketHandler<SocketStream> & Partial<SniHandler> = {
    binaryType: "uint8array",
    open(socket) {
      const stream = socket.data = new SocketStream();
      stream.attach(socket);
      if (!options.tls) return handOver(socket);
      if (handshakeTimeout) {
        handshakeTimers.set(stream, setTimeout(() => {
          stream.close();
          handshakeTimeout.expired?.();
        }, handshakeTimeout.ms()));
      }
    },
    handshake(socket, success, authorizationError) {
      clearTimeout(handshakeTimers.get(socket.data));
      if (handshakeAccepted(socket, success, authorizationError)) handOver(socket);
      else socket.data.close();
    },
    data: (socket, data) => socket.data.received(data),
    drain: (socket) => socket.data.drained(),
    end: (socket) => socket.data.ended(),
    error: (socket, error) => socket.data.failed(error),
    close: (socket, error) => socket.data.closedBySocket(error),
    ...extraHandlers,
  };
  try {
    const listener = Bun.listen<SocketStream>({ ...options, socket } as TCPSocketListenOptions<SocketStream>);
    return Promise.resolve({
      hostname: listener.hostname,
      port: listener.port,
      // stop(false) leaves accepted sockets open, as the port asks; the port is free at once.
      close: () => Promise.resolve(listener.stop(false)),
    });
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Presents the certificate selectCertificate picks; each pair's context is built once, here. */
function _sniHandler(certificates: readonly KeyPair[]): SniHandler {
  const contexts = new Map(certificates.map((pair) => [pair, createSecureContext({ cert: pair.cert, key: pair.key }).context]));
  return { serverName: (_listenerData, serverName) => contexts.get(selectCertificate(certificates, serverName)) };
}
