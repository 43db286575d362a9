/**
 * A raw HTTP/2 client for hostile-input tests: it writes frames no well-behaved client library
 * would (streams reset as soon as opened, endless CONTINUATION, header lists past any limit) over
 * a plain TCP connection with prior knowledge, and records what the server sends back.
 * HPACK is written without Huffman coding and without the dynamic table (literal fields, never
 * indexed), which every decoder must accept.
 *
 * @example
 * ```ts
 * const h2 = await H2Connection.open(port);
 * h2.send(h2.headers(1, [[":method", "GET"], [":path", "/"], [":scheme", "http"], [":authority", "a"]], { endStream: true }));
 * await h2.until(() => h2.received.headers.has(1), 5_000, "the answer");
 * ```
 */
import { connect, type Socket } from "node:net";

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** RFC 9113 §7 error codes. */
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, CANCEL: 8, REFUSED_STREAM: 7, ENHANCE_YOUR_CALM: 0xb } as const;
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface Received {
  /** Streams the server answered with a HEADERS frame, and the :status it gave. */
  headers: Map<number, number>;
  /** RST_STREAM frames by stream, with their error code. */
  resets: Map<number, number>;
  /** DATA payload bytes by stream. */
  data: Map<number, number>;
  /** Streams the server ended (END_STREAM on HEADERS or DATA). */
  ended: Set<number>;
  goAway?: { lastStreamId: number; errorCode: number };
  /** The server's SETTINGS values by identifier (3 = MAX_CONCURRENT_STREAMS, 6 = MAX_HEADER_LIST_SIZE). */
  settings: Map<number, number>;
  closed: boolean;
  bytes: number;
}

export class H2Connection {
  readonly received: Received = { headers: new Map(), resets: new Map(), data: new Map(), ended: new Set(), settings: new Map(), closed: false, bytes: 0 };
  /** Whether received DATA is acknowledged with WINDOW_UPDATE, as a reading client does; without it the server is blocked by flow control once its windows (64 KiB) are spent. */
  replenish = false;
  readonly #socket: Socket;
  #buffer = new Uint8Array(0);
  /** Bytes the kernel has not taken yet: a server that stopped reading leaves them here. */
  get pendingBytes(): number {
    return this.#socket.writableLength;
  }

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => this.#read(chunk));
    socket.on("close", () => (this.received.closed = true));
    socket.on("error", () => (this.received.closed = true));
  }

  /** Connects, sends the preface and empty SETTINGS, and waits for the server's SETTINGS. */
  static async open(port: number, host = "127.0.0.1"): Promise<H2Connection> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.setNoDelay(true);
    const connection = new H2Connection(socket);
    connection.send(PREFACE, frame(FRAME.SETTINGS, 0, 0, new Uint8Array(0)));
    await connection.until(() => connection.received.settings.size > 0 || connection.received.bytes > 0, 5_000, "the server's SETTINGS");
    return connection;
  }

  /** Writes bytes; false when the socket is closed. */
  send(...parts: Uint8Array[]): boolean {
    if (this.received.closed) return false;
    for (const part of parts) this.#socket.write(part);
    return true;
  }

  /** A HEADERS frame for `fields`; without END_HEADERS, CONTINUATION frames must follow. */
  headers(streamId: number, fields: [string, string][], { endStream = false, endHeaders = true } = {}): Uint8Array {
    const flags = (endStream ? FLAG.END_STREAM : 0) | (endHeaders ? FLAG.END_HEADERS : 0);
    return frame(FRAME.HEADERS, flags, streamId, headerBlock(fields));
  }

  continuation(streamId: number, fields: [string, string][], endHeaders: boolean): Uint8Array {
    return frame(FRAME.CONTINUATION, endHeaders ? FLAG.END_HEADERS : 0, streamId, headerBlock(fields));
  }

  data(streamId: number, payload: Uint8Array, endStream = false): Uint8Array {
    return frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, streamId, payload);
  }

  windowUpdate(streamId: number, increment: number): Uint8Array {
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, increment);
    return frame(FRAME.WINDOW_UPDATE, 0, streamId, payload);
  }

  reset(streamId: number, errorCode: number = ERROR.CANCEL): Uint8Array {
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, errorCode);
    return frame(FRAME.RST_STREAM, 0, streamId, payload);
  }

  /** Resolves once `condition` holds; rejects with `what` after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(this.summary())}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Until the socket's buffered bytes are taken by the kernel (or the connection closed). */
  drained(timeoutMs: number): Promise<boolean> {
    return this.until(() => this.received.closed || this.#socket.writableLength === 0, timeoutMs, "the writes to drain").then(() => true, () => false);
  }

  summary() {
    const { headers, resets, goAway, settings, closed, bytes, data } = this.received;
    return { answered: headers.size, resets: Object.fromEntries(resets), data: Object.fromEntries(data), goAway, settings: Object.fromEntries(settings), closed, bytes };
  }

  close(): void {
    this.#socket.destroy();
  }

  #read(chunk: Uint8Array): void {
    this.received.bytes += chunk.length;
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    let at = 0;
    while (joined.length - at >= 9) {
      const length = (joined[at] << 16) | (joined[at + 1] << 8) | joined[at + 2];
      if (joined.length - at < 9 + length) break;
      const view = new DataView(joined.buffer, joined.byteOffset + at);
      const type = joined[at + 3];
      const flags = joined[at + 4];
      const streamId = view.getUint32(5) & 0x7fffffff;
      const payload = joined.subarray(at + 9, at + 9 + length);
      this.#frame(type, flags, streamId, payload);
      at += 9 + length;
    }
    this.#buffer = joined.slice(at);
  }

  #frame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    if (type === FRAME.SETTINGS && !(flags & FLAG.ACK)) {
      for (let i = 0; i + 6 <= payload.length; i += 6) this.received.settings.set(view.getUint16(i), view.getUint32(i + 2));
      this.send(frame(FRAME.SETTINGS, FLAG.ACK, 0, new Uint8Array(0)));
    } else if (type === FRAME.HEADERS) {
      this.received.headers.set(streamId, _status(payload, flags));
      if (flags & FLAG.END_STREAM) this.received.ended.add(streamId);
    } else if (type === FRAME.DATA) {
      this.received.data.set(streamId, (this.received.data.get(streamId) ?? 0) + payload.length);
      if (flags & FLAG.END_STREAM) this.received.ended.add(streamId);
      if (this.replenish && payload.length > 0) this.send(this.windowUpdate(0, payload.length), this.windowUpdate(streamId, payload.length));
    } else if (type === FRAME.RST_STREAM) {
      this.received.resets.set(streamId, view.getUint32(0));
    } else if (type === FRAME.GOAWAY) {
      this.received.goAway = { lastStreamId: view.getUint32(0) & 0x7fffffff, errorCode: view.getUint32(4) };
    } else if (type === FRAME.PING && !(flags & FLAG.ACK)) {
      this.send(frame(FRAME.PING, FLAG.ACK, 0, payload.slice()));
    }
  }
}

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(9 + payload.length);
  bytes[0] = payload.length >> 16;
  bytes[1] = (payload.length >> 8) & 0xff;
  bytes[2] = payload.length & 0xff;
  bytes[3] = type;
  bytes[4] = flags;
  new DataView(bytes.buffer).setUint32(5, streamId);
  bytes.set(payload, 9);
  return bytes;
}

/** Literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
export function headerBlock(fields: [string, string][]): Uint8Array {
  const bytes: number[] = [];
  const string = (text: string) => {
    const encoded = new TextEncoder().encode(text);
    _integer(bytes, encoded.length, 7, 0);
    bytes.push(...encoded);
  };
  for (const [name, value] of fields) {
    bytes.push(0x00);
    string(name);
    string(value);
  }
  return new Uint8Array(bytes);
}

function _integer(bytes: number[], value: number, prefixBits: number, high: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) return void bytes.push(high | value);
  bytes.push(high | max);
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
}

/**
 * The :status of a response HEADERS frame: servers send it first, as an indexed static entry (8 =
 * 200, 13 = 404, ...) or a literal with an indexed name, plain or Huffman-coded; 0 when it refers
 * to the dynamic table (a later answer on the connection: read first answers only).
 */
function _status(block: Uint8Array, flags: number): number {
  let at = 0;
  if (flags & 0x8) at += 1; // PADDED
  if (flags & 0x20) at += 5; // PRIORITY
  const first = block[at];
  const STATIC: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };
  if (first & 0x80) return STATIC[first & 0x7f] ?? 0;
  const nameIndex = first & (first & 0x40 ? 0x3f : 0x0f);
  if (nameIndex < 8 || nameIndex > 14) return 0;
  const length = block[at + 1];
  if (length & 0x80) return _huffmanStatus(block.subarray(at + 2, at + 2 + (length & 0x7f)));
  return Number(new TextDecoder().decode(block.subarray(at + 2, at + 2 + length)));
}

/** Three Huffman-coded digits (RFC 7541 Appendix B: '0'-'2' are 5 bits, '3'-'9' 6 bits). */
function _huffmanStatus(bytes: Uint8Array): number {
  const CODES: [number, number, string][] = [
    [0x0, 5, "0"], [0x1, 5, "1"], [0x2, 5, "2"], [0x19, 6, "3"], [0x1a, 6, "4"], [0x1b, 6, "5"], [0x1c, 6, "6"], [0x1d, 6, "7"], [0x1e, 6, "8"], [0x1f, 6, "9"],
  ];
  let bits = "";
  for (const byte of bytes) bits += byte.toString(2).padStart(8, "0");
  let digits = "";
  let at = 0;
  while (digits.length < 3) {
    const found = CODES.find(([code, length]) => parseInt(bits.slice(at, at + length), 2) === code && at + length <= bits.length);
    if (!found) return 0;
    digits += found[2];
    at += found[1];
  }
  return Number(digits);
}
