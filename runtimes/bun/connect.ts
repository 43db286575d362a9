/**
 * Outgoing TCP and TLS connections on `Bun.connect`, as the core's {@link Connect} port. The
 * socket's bytes move through a {@link SocketStream} (queue, pause, drain).
 *
 * @module
 */
import type { Connect, StreamConnection } from "../../core/ports.ts";
import { SocketStream } from "./socket-stream.ts";

export const connect: Connect = ({ hostname, port, tls, signal }) =>
  new Promise<StreamConnection>((resolve, reject) => {
    const stream = new SocketStream();
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (error) {
        stream.close(error);
        reject(error);
      } else {
        resolve(stream.connection);
      }
    };
    const onAbort = () => settle(signal!.reason ?? new Error("connect aborted"));

    signal?.addEventListener("abort", onAbort);
    if (signal?.aborted) return onAbort();
    const client = tls?.clientCertificate;
    Bun.connect({
      hostname,
      port,
      tls: tls && { serverName: tls.serverName, ca: tls.caCerts, rejectUnauthorized: tls.verify, cert: client?.cert, key: client?.key },
      socket: {
        binaryType: "uint8array",
        open(s) {
          stream.attach(s);
          if (!tls) settle();
        },
        // With a handshake handler `open` comes before the handshake; without one a failed
        // verification would only show up later as a closed socket.
        handshake(_s, success, error) {
          if (success || !tls?.verify) settle();
          else settle(error ?? new Error("TLS handshake failed"));
        },
        data: (_s, data) => stream.received(data),
        drain: () => stream.drained(),
        end: () => stream.ended(),
        error(_s, error) {
          settle(error);
          stream.failed(error);
        },
        close(_s, error) {
          settle(error ?? new Error("connection closed before it was established"));
          stream.closedBySocket(error);
        },
        connectError: (_s, error) => settle(error),
      },
    }).then(undefined, (error) => settle(error));
  });
