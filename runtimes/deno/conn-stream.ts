/**
 * Deno connections as the core's pull-style {@link StreamConnection}, shared by outgoing
 * connections ({@link ./connect.ts}) and accepted ones ({@link ./listen.ts}): a native
 * `Deno.Conn`, or a `node:tls` socket where Deno's own TLS lacks an option (no chain
 * verification, client certificates).
 *
 * @module
 */
import type { Socket } from "node:net";
import type { StreamConnection } from "../../core/ports.ts";

/** Bytes asked for per read while data streams: a whole TLS record, most response heads with their body. */
const READ_SIZE = 64 * 1024;
/**
 * Bytes asked for while little arrives (a request head, an idle keep-alive connection waiting for
 * its next request): every connection keeps a read outstanding, so 5,000 idle clients would hold
 * 5,000 large buffers.
 */
const SMALL_READ_SIZE = 4 * 1024;

/** Closes `conn`, which may already be closed. */
export function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: cancelling the readable closes the resource too.
  }
}

/** A native connection: each read asks Deno for the next bytes, a write resolves once all are taken. */
export function wrapConn(conn: Deno.Conn): StreamConnection {
  let closed = false;
  /** Kept from read to read while what arrives is small and copied out; a fresh buffer per read shows in profiles. */
  let buffer: Uint8Array | undefined;
  let size = SMALL_READ_SIZE;
  return {
    async read() {
      if (closed) return null;
      const into = buffer ??= new Uint8Array(size);
      try {
        // A read in progress when `close` comes rejects (bad resource): that is the end, not an error.
        const n = await conn.read(into);
        if (n === null || closed) return null;
        if (n === into.length) {
          // A full buffer: more is coming, so it goes out whole and the next read asks for more.
          buffer = undefined;
          size = READ_SIZE;
          return into;
        }
        if (n < SMALL_READ_SIZE) {
          // Little arrived: copied out, and the connection goes back to a small buffer.
          if (into.length > SMALL_READ_SIZE) buffer = undefined;
          size = SMALL_READ_SIZE;
          return into.slice(0, n);
        }
        buffer = undefined;
        return into.subarray(0, n);
      } catch (error) {
        if (closed) return null;
        throw error;
      }
    },
    write(data) {
      if (closed) throw new Error("connection closed");
      return _writeAll(conn, data);
    },
    close() {
      if (closed) return;
      closed = true;
      closeConn(conn);
    },
  };
}

async function _writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
}

/**
 * A `node:net` / `node:tls` socket: received chunks queue and pause the socket until read, so
 * the kernel's window is what holds a fast sender back.
 *
 * Deno's `node:tls` sockets keep reading from TCP while paused (its TLSWrap's readStop does
 * nothing) and would buffer a fast sender's bytes without bound; reading stops only when the TCP
 * handle under the TLS layer stops, which is reachable through internals only. Where they are
 * missing the socket still pauses, just without that bound.
 */
export function wrapNodeSocket(socket: Socket): StreamConnection {
  const queue: Uint8Array[] = [];
  let ended: { error: Error | null } | undefined;
  let waiting: { resolve(chunk: Uint8Array | null): void; reject(error: Error): void } | undefined;
  const finish = (error: Error | null) => {
    ended ??= { error };
    const reader = waiting;
    waiting = undefined;
    if (reader) ended.error ? reader.reject(ended.error) : reader.resolve(null);
  };
  socket.on("data", (chunk: Uint8Array) => {
    if (waiting) {
      const reader = waiting;
      waiting = undefined;
      return reader.resolve(chunk);
    }
    queue.push(chunk);
    _pauseReading(socket);
  });
  socket.on("end", () => finish(null));
  socket.on("close", () => finish(null));
  socket.on("error", (error) => finish(error));
  return {
    read() {
      const chunk = queue.shift();
      if (chunk) return Promise.resolve(chunk);
      if (ended) return ended.error ? Promise.reject(ended.error) : Promise.resolve(null);
      _resumeReading(socket);
      return new Promise((resolve, reject) => void (waiting = { resolve, reject }));
    },
    write(data) {
      if (socket.destroyed) throw new Error("connection closed");
      if (socket.write(data)) return undefined;
      return new Promise<void>((resolve, reject) => {
        // Both listeners go once either fires: a long transfer must not pile them up.
        const onDrain = () => {
          socket.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          socket.off("drain", onDrain);
          reject(new Error("connection closed"));
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
      });
    },
    close() {
      queue.length = 0;
      finish(null);
      socket.destroy();
    },
  };
}

/** The TCP handle under Deno's TLSWrap, when this Deno has one. */
function _tcpUnderTls(socket: Socket): { readStart(): number; readStop(): number } | undefined {
  const handle = (socket as unknown as { _handle?: { _nativeTcpHandle?: { readStart?: unknown; readStop?: unknown } } })._handle?._nativeTcpHandle;
  return typeof handle?.readStart === "function" && typeof handle.readStop === "function" ? handle as { readStart(): number; readStop(): number } : undefined;
}

function _pauseReading(socket: Socket): void {
  socket.pause();
  _tcpUnderTls(socket)?.readStop();
}

function _resumeReading(socket: Socket): void {
  _tcpUnderTls(socket)?.readStart();
  socket.resume();
}
