/**
 * HTTP/1.1 wire format for the upstream client: request head encoding, response head parsing
 * and response body framing. Pure functions over bytes; the client owns the sockets.
 *
 * ```ts
 * import { findHeadEnd, parseResponseHead } from "./http1-parse.ts";
 * const bytes = new TextEncoder().encode("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n");
 * const head = parseResponseHead(bytes.subarray(0, findHeadEnd(bytes, 0)));
 * console.log(head.status); // 204
 * ```
 *
 * @module
 */

import { Fields, type RequestFraming } from "../http/message.ts";

/** Malformed bytes from the upstream; the client maps it to junk-response or body-error. */
export class ProtocolError extends Error {}

export interface ResponseHead {
  status: number;
  /** Names lower-cased, values without surrounding whitespace. */
  fields: Fields;
  /** -1 when absent. */
  contentLength: number;
  /** False under a Transfer-Encoding that does not end in chunked: the body runs until close. */
  chunked: boolean;
  /** The server allows another request on this connection (version and Connection header). */
  keepAlive: boolean;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 64 * 1024;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const utf8 = new TextDecoder();
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: |$)/;
const CONTENT_LENGTH = /^[ \t]*([0-9]{1,15})[ \t]*$/;
const NON_ASCII = /[\x80-\uffff]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A CTL other than HTAB, including a bare CR or LF inside a line. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Terminates a chunked request body (no trailers). */
export const LAST_CHUNK: Uint8Array = new Uint8Array([48, 13, 10, 13, 10]);

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** One chunk of a chunked request body, framed in a single buffer so it goes out in one write. */
export function encodeChunk(data: Uint8Array): Uint8Array {
  const size = `${data.length.toString(16)}\r\n`;
  const framed = new Uint8Array(size.length + data.length + 2);
  encoder.encodeInto(size, framed);
  framed.set(data, size.length);
  framed[framed.length - 2] = CR;
  framed[framed.length - 1] = LF;
  return framed;
}

/** Index of the CR that starts "\r\n\r\n" at or after `from`, or -1. */
export function findHeadEnd(buf: Uint8Array, from: number): number {
  let i = buf.indexOf(CR, from);
  while (i >= 0 && i + 3 < buf.length) {
    if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
    i = buf.indexOf(CR, i + 1);
  }
  return -1;
}

/**
 * Header bytes are ISO-8859-1 on the wire and ByteStrings in `Headers`; UTF-8 would mangle them.
 * Heads are nearly always ASCII, where the native UTF-8 decoder gives the same text much faster.
 */
function _latin1(bytes: Uint8Array): string {
  const ascii = utf8.decode(bytes);
  if (!NON_ASCII.test(ascii)) return ascii;
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return text;
}

function _encodeLatin1(text: string): Uint8Array {
  // Every character above 0x7f takes two or more UTF-8 bytes: same length means plain ASCII.
  const utf8Bytes = encoder.encode(text);
  if (utf8Bytes.length === text.length) return utf8Bytes;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The value of a field line: `text` from `start` to `end` without the optional whitespace around
 * it (RFC 9110 §5.5). Scanning by hand instead of a global regex replace: this runs for every
 * field of every head.
 */
export function fieldValue(text: string, start: number, end: number): string {
  let code = text.charCodeAt(start);
  while (start < end && (code === SP || code === HTAB)) code = text.charCodeAt(++start);
  code = text.charCodeAt(end - 1);
  while (end > start && (code === SP || code === HTAB)) code = text.charCodeAt(--end - 1);
  return text.slice(start, end);
}

/** The client side's codec (core/frontend) reads and writes heads with the same conversions. */
export { _encodeLatin1 as encodeLatin1, _latin1 as latin1 };

/**
 * Request head bytes; the fields' Content-Length and Transfer-Encoding are replaced by `framing`,
 * so what they announce is always exactly the body that follows.
 */
export function encodeRequestHead(
  method: string,
  target: string,
  fields: Fields,
  framing: RequestFraming,
): Uint8Array {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  const list = fields.list;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    if (name === "content-length" || name === "transfer-encoding") continue;
    head += `${name}: ${list[i + 1]}\r\n`;
  }
  if (framing === -1) head += "transfer-encoding: chunked\r\n";
  else if (framing !== null) head += `content-length: ${framing}\r\n`;
  return _encodeLatin1(head + "\r\n");
}

/** The comma-separated tokens of a field value, lower-cased and trimmed. */
function _tokens(value: string): string[] {
  return value.toLowerCase().split(",").map((token) => token.trim());
}

/**
 * Parses a head without its final blank line (`bytes` ends before "\r\n\r\n").
 *
 * Runs once per proxied response, so it walks the text with indexOf instead of splitting it
 * into lines, and looks closer only at the three fields that decide framing and reuse.
 */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  const text = _latin1(bytes);
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd < 0) lineEnd = text.length;
  const statusLine = text.slice(0, lineEnd);
  const match = STATUS_LINE.exec(statusLine);
  if (!match) throw new ProtocolError(`bad status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const fields: string[] = [];
  let contentLength = -1;
  let transferEncoding = "";
  let close = false;
  let keepAliveToken = false;
  for (let start = lineEnd + 2; start < text.length; start = lineEnd + 2) {
    lineEnd = text.indexOf("\r\n", start);
    if (lineEnd < 0) lineEnd = text.length;
    const first = text.charCodeAt(start);
    if (first === SP || first === HTAB) throw new ProtocolError("obsolete line folding");
    const colon = text.indexOf(":", start);
    if (colon <= start || colon > lineEnd) throw new ProtocolError("header line without a name and colon");
    const name = text.slice(start, colon).toLowerCase();
    const value = fieldValue(text, colon + 1, lineEnd);
    if (!TOKEN.test(name)) throw new ProtocolError(`invalid header name ${JSON.stringify(name.slice(0, 80))}`);
    if (CONTROL.test(value)) throw new ProtocolError(`control character in header ${JSON.stringify(name.slice(0, 80))}`);
    fields.push(name, value);
    if (name === "content-length") {
      for (const token of value.split(",")) {
        const digits = CONTENT_LENGTH.exec(token);
        if (!digits) throw new ProtocolError("invalid content-length");
        const length = Number(digits[1]);
        if (contentLength !== -1 && contentLength !== length) {
          throw new ProtocolError("conflicting content-length");
        }
        contentLength = length;
      }
    } else if (name === "transfer-encoding") {
      transferEncoding += transferEncoding ? `,${value}` : value;
    } else if (name === "connection") {
      for (const token of _tokens(value)) {
        if (token === "close") close = true;
        else if (token === "keep-alive") keepAliveToken = true;
      }
    }
  }
  // RFC 9112 6.3: both framings at once is how response splitting starts; the caller would
  // forward a content-length that does not match the decoded body.
  if (transferEncoding && contentLength !== -1) {
    throw new ProtocolError("both content-length and transfer-encoding");
  }
  const codings = transferEncoding ? _tokens(transferEncoding) : [];
  return {
    status: Number(match[2]),
    fields: new Fields(fields),
    contentLength,
    chunked: codings[codings.length - 1] === "chunked",
    keepAlive: !close && (match[1] === "1" || keepAliveToken),
  };
}

const _SIZE = 0, _DATA = 1, _DATA_END = 2, _TRAILERS = 3, _DONE = 4;

/**
 * Incremental chunked-body decoder. Data comes out as views of the pushed chunks (no copy);
 * only a size line split across two reads is copied.
 */
export class ChunkedDecoder {
  #buf: Uint8Array = EMPTY;
  #state: number = _SIZE;
  #remaining = 0;
  #trailerBytes = 0;

  get done(): boolean {
    return this.#state === _DONE;
  }

  /** Bytes received after the end of the body. */
  get excess(): number {
    return this.#state === _DONE ? this.#buf.length : 0;
  }

  push(chunk: Uint8Array): void {
    this.#buf = concatBytes(this.#buf, chunk);
  }

  /** The next piece of body data, or null when more input is needed or the body is done. */
  next(): Uint8Array | null {
    for (;;) {
      const buf = this.#buf;
      switch (this.#state) {
        case _SIZE: {
          const end = this.#lineEnd(MAX_CHUNK_LINE);
          if (end < 0) return null;
          const size = _chunkSize(buf, end);
          this.#buf = buf.subarray(end + 2);
          this.#state = size === 0 ? _TRAILERS : _DATA;
          this.#remaining = size;
          break;
        }
        case _DATA: {
          if (buf.length === 0) return null;
          const n = Math.min(this.#remaining, buf.length);
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = _DATA_END;
          this.#buf = buf.subarray(n);
          return buf.subarray(0, n);
        }
        case _DATA_END:
          if (buf.length < 2) return null;
          if (buf[0] !== CR || buf[1] !== LF) throw new ProtocolError("chunk without its CRLF");
          this.#buf = buf.subarray(2);
          this.#state = _SIZE;
          break;
        case _TRAILERS: {
          const end = this.#lineEnd(MAX_TRAILERS - this.#trailerBytes);
          if (end < 0) return null;
          this.#buf = buf.subarray(end + 2);
          this.#trailerBytes += end + 2;
          if (end === 0) this.#state = _DONE;
          break;
        }
        case _DONE:
          return null;
      }
    }
  }

  /** Index of the CRLF ending the first line, -1 if incomplete; rejects bare LF and long lines. */
  #lineEnd(limit: number): number {
    const lf = this.#buf.indexOf(LF);
    if (lf < 0) {
      if (this.#buf.length > limit) throw new ProtocolError("chunk line too long");
      return -1;
    }
    if (lf === 0 || this.#buf[lf - 1] !== CR) throw new ProtocolError("bare LF in chunked body");
    if (lf > limit) throw new ProtocolError("chunk line too long");
    return lf - 1;
  }
}

function _hexDigit(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/** chunk-size [ BWS ";" chunk-ext ]; extensions are ignored. */
function _chunkSize(line: Uint8Array, end: number): number {
  let size = 0;
  let i = 0;
  for (; i < end; i++) {
    const digit = _hexDigit(line[i]);
    if (digit < 0) break;
    size = size * 16 + digit;
  }
  // 13 hex digits stay below 2^53, far beyond any real chunk.
  if (i === 0 || i > 13) throw new ProtocolError("invalid chunk size");
  while (i < end && (line[i] === 32 || line[i] === 9)) i++;
  if (i < end && line[i] !== 59) throw new ProtocolError("invalid chunk size");
  return size;
}

/** Pulls one response body out of a connection's byte stream. */
export interface BodyFraming {
  /** The next piece of body data; null once the body has ended. */
  next(): Promise<Uint8Array | null>;
  /** The body ended exactly at its framing: nothing missing, nothing extra. */
  complete(): boolean;
}

/** Source of connection bytes; null when the peer closed the connection. */
export type ReadChunk = () => Promise<Uint8Array | null>;

export function lengthFraming(length: number, read: ReadChunk): BodyFraming {
  let remaining = length;
  let excess = false;
  return {
    async next() {
      if (remaining === 0) return null;
      const chunk = await read();
      if (chunk === null) throw new ProtocolError(`connection closed ${remaining} bytes short`);
      if (chunk.length <= remaining) {
        remaining -= chunk.length;
        return chunk;
      }
      excess = true;
      const last = chunk.subarray(0, remaining);
      remaining = 0;
      return last;
    },
    complete: () => remaining === 0 && !excess,
  };
}

export function chunkedFraming(read: ReadChunk): BodyFraming {
  const decoder = new ChunkedDecoder();
  return {
    async next() {
      for (;;) {
        const piece = decoder.next();
        if (piece) return piece;
        if (decoder.done) return null;
        const chunk = await read();
        if (chunk === null) throw new ProtocolError("connection closed inside a chunked body");
        decoder.push(chunk);
      }
    },
    complete: () => decoder.done && decoder.excess === 0,
  };
}

/** No framing: the body is whatever arrives until the server closes. */
export function closeFraming(read: ReadChunk): BodyFraming {
  return { next: read, complete: () => false };
}
