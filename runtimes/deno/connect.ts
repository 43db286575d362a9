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
import { connect as nodeTlsConnect, type TLSSocket } from "node:tls";
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

/** Bytes asked for per read: a whole TLS record, most response heads with their body. */
const READ_SIZE = 64 * 1024;

function _wrap(conn: Deno.Conn): StreamConnection {
  let closed = false;
  /** Settles a read in progress when `close` comes first (Deno's read would reject instead). */
  let cancelRead: (() => void) | undefined;
  return {
    async read() {
      if (closed) return null;
      const buffer = new Uint8Array(READ_SIZE);
      const closing = new Promise<null>((resolve) => void (cancelRead = () => resolve(null)));
      try {
        const n = await Promise.race([conn.read(buffer), closing]);
        if (n === null || closed) return null;
        // A small chunk is copied out so that it does not pin the whole buffer.
        return n < READ_SIZE / 4 ? buffer.slice(0, n) : buffer.subarray(0, n);
      } catch (error) {
        if (closed) return null;
        throw error;
      } finally {
        cancelRead = undefined;
      }
    },
    write(data) {
      if (closed) throw new Error("connection closed");
      return _writeAll(conn, data);
    },
    close() {
      if (closed) return;
      closed = true;
      cancelRead?.();
      _close(conn);
    },
  };
}

async function _writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
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
      resolve(_wrapNodeSocket(socket));
    });
  });
}

/** The same port over a node:tls socket (unverified TLS only): chunks queue, reading resumes it. */
function _wrapNodeSocket(socket: TLSSocket): StreamConnection {
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
    socket.pause();
  });
  socket.on("end", () => finish(null));
  socket.on("close", () => finish(null));
  socket.on("error", (error) => finish(error));
  return {
    read() {
      const chunk = queue.shift();
      if (chunk) return Promise.resolve(chunk);
      if (ended) return ended.error ? Promise.reject(ended.error) : Promise.resolve(null);
      socket.resume();
      return new Promise((resolve, reject) => void (waiting = { resolve, reject }));
    },
    write(data) {
      if (socket.destroyed) throw new Error("connection closed");
      if (socket.write(data)) return undefined;
      return new Promise<void>((resolve, reject) => {
        socket.once("drain", resolve);
        socket.once("close", () => reject(new Error("connection closed")));
      });
    },
    close() {
      finish(null);
      socket.destroy();
    },
  };
}
