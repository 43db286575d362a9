/**
 * Outgoing TCP and TLS connections on `Bun.connect`, as the core's {@link Connect} port.
 *
 * Bun sockets are callback-based and `write` does not buffer (it returns the bytes taken), so a
 * partial write keeps the rest until `drain`. Received chunks queue until read; past a high-water
 * mark the socket is paused, and reading resumes it.
 *
 * @module
 */
import type { Socket } from "bun";
import type { Connect, StreamConnection } from "../../core/ports.ts";

/** Bytes queued unread before the socket is paused. */
const READ_HIGH_WATER_MARK = 256 * 1024;

export const connect: Connect = ({ hostname, port, tls, signal }) =>
  new Promise<StreamConnection>((resolve, reject) => {
    let socket: Socket | undefined;
    let settled = false;
    let closed = false;
    /** Set once nothing more will arrive: null for a clean end, else the error. */
    let ended: { error: Error | null } | undefined;
    let paused = false;
    const queue: Uint8Array[] = [];
    let queued = 0;
    let waiting: { resolve(chunk: Uint8Array | null): void; reject(error: Error): void } | undefined;
    /** What is left of the one write in progress. */
    let unwritten: { data: Uint8Array; resolve(): void; reject(error: Error): void } | undefined;

    const finishReading = (error: Error | null) => {
      ended ??= { error };
      const reader = waiting;
      waiting = undefined;
      if (!reader) return;
      if (ended.error && queue.length === 0) reader.reject(ended.error);
      else reader.resolve(queue.shift() ?? null);
    };
    const failWrite = (error: Error) => {
      unwritten?.reject(error);
      unwritten = undefined;
    };
    const flush = () => {
      const pending = unwritten;
      if (!pending || !socket) return;
      const written = socket.write(pending.data);
      if (written < 0) return failWrite(new Error("connection closed"));
      if (written < pending.data.length) {
        pending.data = pending.data.subarray(written);
        return;
      }
      unwritten = undefined;
      pending.resolve();
    };
    const close = (error?: Error) => {
      if (closed) return;
      closed = true;
      // end() first so the peer sees a FIN, not the RST that terminate() alone sends.
      socket?.end();
      socket?.terminate();
      queue.length = 0;
      finishReading(null);
      failWrite(error ?? new Error("connection closed"));
    };
    const connection: StreamConnection = {
      read() {
        const chunk = queue.shift();
        if (chunk) {
          queued -= chunk.length;
          if (paused && queued < READ_HIGH_WATER_MARK) {
            paused = false;
            socket?.resume();
          }
          return Promise.resolve(chunk);
        }
        if (ended) return ended.error ? Promise.reject(ended.error) : Promise.resolve(null);
        return new Promise((resolve, reject) => void (waiting = { resolve, reject }));
      },
      write(data) {
        if (closed || !socket) throw new Error("connection closed");
        const written = socket.write(data);
        if (written === data.length) return undefined;
        if (written < 0) throw new Error("connection closed");
        return new Promise<void>((resolve, reject) => void (unwritten = { data: data.subarray(written), resolve, reject }));
      },
      close: () => close(),
    };
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (error) {
        close(error);
        reject(error);
      } else {
        resolve(connection);
      }
    };
    const onAbort = () => settle(signal!.reason ?? new Error("connect aborted"));

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
          if (closed || ended) return;
          if (waiting) {
            const reader = waiting;
            waiting = undefined;
            return reader.resolve(data);
          }
          queue.push(data);
          queued += data.length;
          if (!paused && queued >= READ_HIGH_WATER_MARK) {
            paused = true;
            s.pause();
          }
        },
        drain: flush,
        end: () => finishReading(null),
        error(_s, error) {
          settle(error);
          finishReading(error);
          close(error);
        },
        close(_s, error) {
          settle(error ?? new Error("connection closed before it was established"));
          finishReading(error ?? null);
          closed = true;
          failWrite(error ?? new Error("connection closed"));
        },
        connectError: (_s, error) => settle(error),
      },
    }).then(undefined, (error) => settle(error));
  });
