/**
 * In-memory byte streams for protocol tests: `streamPair()` gives two connected
 * StreamConnection ends. Closing either end ends both: the other reads what was already sent,
 * then null, and its writes throw (as a reset TCP connection would).
 */
import type { StreamConnection } from "../../core/ports.ts";

class _End implements StreamConnection {
  other!: _End;
  #queue: Uint8Array[] = [];
  #waiting: ((chunk: Uint8Array | null) => void) | undefined;
  #closed = false;
  #ended = false;
  /** Bytes written from this end, for tests that count traffic. */
  written = 0;
  /** While true, writes from this end vanish (a link that silently stopped carrying data). */
  muted = false;

  read(): Promise<Uint8Array | null> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    if (this.#closed || this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  write(data: Uint8Array): undefined {
    if (this.#closed || this.#ended) throw new Error("connection closed");
    this.written += data.length;
    if (this.muted) return undefined;
    this.other.#deliver(data.slice());
    return undefined;
  }

  #deliver(chunk: Uint8Array): void {
    if (this.#closed) return;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting(chunk);
    else this.#queue.push(chunk);
  }

  #end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(null);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#end();
    this.other.#end();
  }
}

export type MemoryStream = StreamConnection & { written: number; muted: boolean };

export function streamPair(): [MemoryStream, MemoryStream] {
  const a = new _End();
  const b = new _End();
  a.other = b;
  b.other = a;
  return [a, b];
}
