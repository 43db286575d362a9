/**
 * A Bun TCP/TLS socket as the core's pull-style {@link StreamConnection}, shared by outgoing
 * connections ({@link ./connect.ts}) and accepted ones ({@link ./listen.ts}).
 *
 * Bun sockets are callback-based and `write` does not buffer (it returns the bytes taken), so a
 * partial write keeps the rest until `drain`. Received chunks queue until read; past a high-water
 * mark the socket is paused, and reading resumes it.
 *
 * @example
 * ```ts
 * const stream = new SocketStream();
 * // in the socket handlers: open -> stream.attach(socket), data -> stream.received(data), ...
 * const connection = stream.connection;
 * ```
 *
 * @module
 */
import type { Socket } from "bun";
import type { StreamConnection } from "../../core/ports.ts";

/** Bytes queued unread before the socket is paused. */
const READ_HIGH_WATER_MARK = 256 * 1024;

export class SocketStream {
  #socket: Socket<unknown> | undefined;
  #closed = false;
  /** Set once nothing more will arrive: null for a clean end, else the error. */
  #ended: { error: Error | null } | undefined;
  #paused = false;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #waiting: { resolve(chunk: Uint8Array | null): void; reject(error: Error): void } | undefined;
  /** What is left of the one write in progress. */
  #unwritten: { data: Uint8Array; resolve(): void; reject(error: Error): void } | undefined;

  readonly connection: StreamConnection = {
    read: () => this.#read(),
    write: (data) => this.#write(data),
    close: () => this.close(),
  };

  /** The socket is open: writes go to it from now on. A stream closed before that ends it at once. */
  attach(socket: Socket<unknown>): void {
    this.#socket = socket;
    if (this.#closed) {
      socket.terminate();
      return;
    }
    socket.setNoDelay(true);
  }

  /** The `data` handler. */
  received(data: Uint8Array): void {
    if (this.#closed || this.#ended) return;
    if (this.#waiting) {
      const reader = this.#waiting;
      this.#waiting = undefined;
      return reader.resolve(data);
    }
    this.#queue.push(data);
    this.#queued += data.length;
    if (!this.#paused && this.#queued >= READ_HIGH_WATER_MARK) {
      this.#paused = true;
      this.#socket?.pause();
    }
  }

  /** The `drain` handler: sends what is left of the write in progress. */
  drained(): void {
    const pending = this.#unwritten;
    if (!pending || !this.#socket) return;
    const written = this.#socket.write(pending.data);
    if (written < 0) return this.#failWrite(new Error("connection closed"));
    if (written < pending.data.length) {
      pending.data = pending.data.subarray(written);
      return;
    }
    this.#unwritten = undefined;
    pending.resolve();
  }

  /** The `end` handler: the peer will send nothing more. */
  ended(): void {
    this.#finishReading(null);
  }

  /** The `error` handler: reads and the write in progress reject with `error`. */
  failed(error: Error): void {
    this.#finishReading(error);
    this.close(error);
  }

  /** The `close` handler. */
  closedBySocket(error?: Error): void {
    this.#finishReading(error ?? null);
    this.#closed = true;
    this.#failWrite(error ?? new Error("connection closed"));
  }

  /** Ends the connection: a pending read settles with null, a pending write rejects. */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    // end() first so the peer sees a FIN, not the RST that terminate() alone sends.
    this.#socket?.end();
    this.#socket?.terminate();
    this.#queue.length = 0;
    this.#finishReading(null);
    this.#failWrite(error ?? new Error("connection closed"));
  }

  #read(): Promise<Uint8Array | null> {
    const chunk = this.#queue.shift();
    if (chunk) {
      this.#queued -= chunk.length;
      if (this.#paused && this.#queued < READ_HIGH_WATER_MARK) {
        this.#paused = false;
        this.#socket?.resume();
      }
      return Promise.resolve(chunk);
    }
    const ended = this.#ended;
    if (ended) return ended.error ? Promise.reject(ended.error) : Promise.resolve(null);
    return new Promise((resolve, reject) => void (this.#waiting = { resolve, reject }));
  }

  #write(data: Uint8Array): Promise<void> | undefined {
    const socket = this.#socket;
    if (this.#closed || !socket) throw new Error("connection closed");
    const written = socket.write(data);
    if (written === data.length) return undefined;
    if (written < 0) throw new Error("connection closed");
    return new Promise<void>((resolve, reject) => void (this.#unwritten = { data: data.subarray(written), resolve, reject }));
  }

  #finishReading(error: Error | null): void {
    this.#ended ??= { error };
    const reader = this.#waiting;
    this.#waiting = undefined;
    if (!reader) return;
    if (this.#ended.error && this.#queue.length === 0) reader.reject(this.#ended.error);
    else reader.resolve(this.#queue.shift() ?? null);
  }

  #failWrite(error: Error): void {
    this.#unwritten?.reject(error);
    this.#unwritten = undefined;
  }
}
