/**
 * Outgoing TCP and TLS connections on `Bun.connect`, as the core's {@link Connect} port.
 *
 * Bun sockets are callback-based and `write` does not buffer (it returns the bytes taken), so the
 * writable side keeps the unwritten rest until `drain`, and the readable side pauses the socket
 * when its queue is full and resumes it on the next pull.
 *
 * @module
 */
import type { Socket } from "bun";
import type { Connect, StreamConnection } from "../../core/ports.ts";

/** Bytes queued on the readable side before the socket is paused. */
const READ_HIGH_WATER_MARK = 256 * 1024;

export const connect: Connect = ({ hostname, port, tls, signal }) =>
  new Promise<StreamConnection>((resolve, reject) => {
    let socket: Socket | undefined;
    let settled = false;
    let closed = false;
    let readableOpen = true;
    let paused = false;
    /** The one write in flight (WritableStream never overlaps writes) and what is left of it. */
    let unwritten: { data: Uint8Array; resolve(): void; reject(error: Error): void } | undefined;
    let controller!: ReadableStreamDefaultController<Uint8Array>;

    const endReadable = (error?: Error) => {
      if (!readableOpen) return;
      readableOpen = false;
      if (error) controller.error(error);
      else controller.close();
    };
    const flush = () => {
      const pending = unwritten;
      if (!pending || !socket) return;
      const written = socket.write(pending.data);
      if (written < 0) {
        unwritten = undefined;
        pending.reject(new Error("connection closed"));
      } else if (written === pending.data.length) {
        unwritten = undefined;
        pending.resolve();
      } else {
        pending.data = pending.data.subarray(written);
      }
    };
    const close = (error?: Error) => {
      if (closed) return;
      closed = true;
      // end() first so the peer sees a FIN, not the RST that terminate() alone sends.
      socket?.end();
      socket?.terminate();
      endReadable(error);
      unwritten?.reject(error ?? new Error("connection closed"));
      unwritten = undefined;
    };
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (error) {
        close(error);
        reject(error);
      } else {
        resolve({ readable, writable, close: () => close() });
      }
    };
    const onAbort = () => settle(signal!.reason ?? new Error("connect aborted"));

    const readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (controller = c),
        pull() {
          if (!paused) return;
          paused = false;
          socket?.resume();
        },
        cancel: () => close(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: READ_HIGH_WATER_MARK }),
    );
    const writable = new WritableStream<Uint8Array>({
      write: (data) =>
        new Promise<void>((resolve, reject) => {
          if (closed) return reject(new Error("connection closed"));
          unwritten = { data, resolve, reject };
          flush();
        }),
      close: () => void socket?.end(),
      abort: () => close(),
    });

    signal?.addEventListener("abort", onAbort);
    if (signal?.aborted) return onAbort();
    Bun.connect({
      hostname,
      port,
      tls: tls && { serverName: tls.serverName, ca: tls.caCerts, rejectUnauthorized: tls.verify },
      socket: {
        binaryType: "uint8array",
        open(s) {
          socket = s;
          if (closed) return s.terminate();
          s.setNoDelay(true);
          if (!tls) settle();
        },
        // With a handshake handler `open` comes before the handshake; without one a failed
        // verification would only show up later as a closed socket.
        handshake(_s, success, error) {
          if (success || !tls?.verify) settle();
          else settle(error ?? new Error("TLS handshake failed"));
        },
        data(s, data) {
          if (!readableOpen) return;
          controller.enqueue(data);
          if (!paused && (controller.desiredSize ?? 1) <= 0) {
            paused = true;
            s.pause();
          }
        },
        drain: flush,
        end: () => endReadable(),
        error(_s, error) {
          settle(error);
          close(error);
        },
        close(_s, error) {
          settle(error ?? new Error("connection closed before it was established"));
          endReadable(error);
          closed = true;
          unwritten?.reject(error ?? new Error("connection closed"));
          unwritten = undefined;
        },
        connectError: (_s, error) => settle(error),
      },
    }).then(undefined, (error) => settle(error));
  });
