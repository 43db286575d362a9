/**
 * A replication connection: frames in and out of a {@link StreamConnection}, with the MAC of
 * {@link ./frame-auth.ts} when a key is set. Sends are queued in order (the MAC counter follows
 * the order frames are written) and each waits for the runtime to take the previous one, so a
 * slow peer applies backpressure instead of growing a buffer here.
 *
 * @module
 */
import type { StreamConnection } from "../../ports.ts";
import { type Direction, frameMac, MAC_BYTES, sameMac } from "./frame-auth.ts";
import { ByteWriter, decodeFrame, encodeFrame, type Frame, FrameError, FrameSplitter } from "./frames.ts";

export class FramedConnection {
  readonly #connection: StreamConnection;
  readonly #splitter = new FrameSplitter();
  readonly #sendDirection: Direction;
  #key: CryptoKey | undefined;
  #bind: Uint8Array | undefined;
  #sent = 0;
  #received = 0;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #onClose = new Set<() => void>();

  /** `key`: the cluster key for the handshake, replaced by the session key after it; undefined with mutual TLS only. */
  constructor(connection: StreamConnection, sendDirection: Direction, key: CryptoKey | undefined) {
    this.#connection = connection;
    this.#sendDirection = sendDirection;
    this.#key = key;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Switches to the session key once both nonces are known (no-op without a key: mutual TLS only). */
  useKey(key: CryptoKey): void {
    if (this.#key !== undefined) this.#key = key;
  }

  /** Binds the next MACs to `bind` (the initiator's nonce) while still on the cluster key. */
  bind(bind: Uint8Array): void {
    this.#bind = bind;
  }

  /**
   * The next frame, verified and decoded; null once the connection ended. Throws FrameError for
   * bytes that are not an authentic frame: the caller closes the connection, nothing is applied.
   */
  async read(): Promise<Frame | null> {
    for (;;) {
      const raw = this.#splitter.next();
      if (raw !== undefined) return await this.#open(raw);
      if (this.#closed) return null;
      const chunk = await this.#connection.read();
      if (chunk === null) {
        if (this.#splitter.partial && !this.#closed) throw new FrameError("truncated");
        return null;
      }
      this.#splitter.push(chunk);
    }
  }

  async #open(raw: Uint8Array): Promise<Frame> {
    const counter = this.#received++;
    let body = raw;
    if (this.#key !== undefined) {
      if (raw.length <= MAC_BYTES) throw new FrameError("malformed");
      body = raw.subarray(0, raw.length - MAC_BYTES);
      const expected = await frameMac(this.#key, (1 - this.#sendDirection) as Direction, counter, this.#bind, body);
      if (!sameMac(expected, raw.subarray(raw.length - MAC_BYTES))) throw new FrameError("bad-mac");
    }
    return decodeFrame(body);
  }

  /** Queues `frame`; resolves once written, rejects when the connection failed or closed. */
  send(frame: Frame): Promise<void> {
    const sending = this.#tail.then(() => this.#write(frame));
    // A failed write fails every later one too (the connection is being closed), once each.
    this.#tail = sending.catch(() => {
      throw new Error("replication connection closed");
    });
    this.#tail.catch(() => {});
    return sending;
  }

  async #write(frame: Frame): Promise<void> {
    if (this.#closed) throw new Error("replication connection closed");
    const out = new ByteWriter();
    out.u32(0);
    encodeFrame(frame, out);
    if (this.#key !== undefined) {
      const mac = await frameMac(this.#key, this.#sendDirection, this.#sent, this.#bind, out.view().subarray(4));
      out.bytes(mac);
    }
    this.#sent++;
    out.patchU32(0, out.length - 4);
    if (this.#closed) throw new Error("replication connection closed");
    await this.#connection.write(out.view());
  }

  /** Runs `listener` once the connection is closed (by either side's call to close). */
  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#onClose.add(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection.close();
    for (const listener of this.#onClose) listener();
    this.#onClose.clear();
  }
}
