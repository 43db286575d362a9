/**
 * Byte-level HTTP/1.1 and WebSocket helpers for runtime tests, on `node:net` only so the same code
 * runs under `bun test` and `deno test`: a raw client that sends exact bytes and parses whatever
 * comes back (bounded by a timeout), a streaming upload with a fixed Content-Length, scriptable raw
 * TCP servers, and a minimal RFC 6455 echo server.
 *
 * @example
 * ```ts
 * const result = await rawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
 * assert.equal(result.response?.status, 200);
 * ```
 */
import { createHash } from "node:crypto";
import net from "node:net";

export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawResult {
  /** The first complete response, if one arrived. */
  response?: RawResponse;
  /** The peer closed (or reset) the connection. */
  closed: boolean;
  /** Neither a complete response nor a close within the timeout. */
  timedOut: boolean;
  /** Socket error code, e.g. ECONNRESET, ECONNREFUSED. */
  error?: string;
  /** Every byte received. */
  raw: Buffer;
}

const HEAD_END = Buffer.from("\r\n\r\n");

/**
 * The shortest time a Linux client delays an ACK (TCP_DELACK_MIN). With Nagle on, a small write
 * that follows another waits for that ACK: a round trip that takes this long or more has stalled,
 * however idle or busy the machine (load only makes round trips longer, never the stall shorter).
 */
export const DELAYED_ACK_MIN_MS = 40;

/**
 * Parses the first response in `data`: undefined while incomplete. `untilClose` completes a body
 * that has neither Content-Length nor chunked framing (it runs until the connection closes).
 */
export function parseRawResponse(data: Buffer, untilClose = false, bodyless = false): RawResponse | undefined {
  const end = data.indexOf(HEAD_END);
  if (end < 0) return undefined;
  const lines = data.subarray(0, end).toString("latin1").split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const status = Number(match[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const rest = data.subarray(end + 4);
  if (bodyless || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { status, headers, body: Buffer.alloc(0) };
  }
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString("latin1"), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size in response");
      if (size === 0) {
        // Trailers (none expected) end with an empty line.
        if (rest.indexOf("\r\n", lineEnd + 2) < 0) return undefined;
        return { status, headers, body: Buffer.concat(parts) };
      }
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"]);
    return rest.length >= length ? { status, headers, body: rest.subarray(0, length) } : undefined;
  }
  return untilClose ? { status, headers, body: rest } : undefined;
}

/**
 * Connects to 127.0.0.1:`port`, writes `request` (all at once, or piece by piece with `pieces`)
 * and resolves with the first complete response, a close, or a timeout; always destroys the socket.
 */
export function rawExchange(
  port: number,
  request: string | Uint8Array | (string | Uint8Array)[],
  options: { timeoutMs?: number; head?: boolean } = {},
): Promise<RawResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ host: "127.0.0.1", port });
    const finish = (result: Omit<RawResult, "raw">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, raw: Buffer.concat(chunks) });
    };
    const timer = setTimeout(() => {
      const raw = Buffer.concat(chunks);
      finish({ response: _tryParse(raw, false, options.head), closed: false, timedOut: true });
    }, timeoutMs);
    socket.on("connect", () => {
      for (const piece of Array.isArray(request) ? request : [request]) {
        socket.write(typeof piece === "string" ? Buffer.from(piece, "latin1") : piece);
      }
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const response = _tryParse(Buffer.concat(chunks), false, options.head);
      if (response) finish({ response, closed: false, timedOut: false });
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      finish({ response: _tryParse(Buffer.concat(chunks), true, options.head), closed: true, timedOut: false, error: error.code ?? error.message });
    });
    socket.on("close", () => {
      finish({ response: _tryParse(Buffer.concat(chunks), true, options.head), closed: true, timedOut: false });
    });
  });
}

function _tryParse(data: Buffer, untilClose: boolean, head?: boolean): RawResponse | undefined {
  try {
    return parseRawResponse(data, untilClose, head);
  } catch {
    return undefined;
  }
}

/**
 * POSTs `total` bytes generated on the fly (`chunkSize` pieces) with a Content-Length, honouring
 * the socket's backpressure, and resolves with the response. Bounded by `timeoutMs`.
 */
export function streamUpload(
  port: number,
  path: string,
  total: number,
  options: { chunkSize?: number; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sent = 0;
    let done = false;
    const socket = net.connect({ host: "127.0.0.1", port });
    const finish = (error?: Error, response?: RawResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(response!);
    };
    const timer = setTimeout(() => finish(new Error(`upload timed out after ${timeoutMs} ms (${sent} of ${total} bytes sent)`)), timeoutMs);
    const piece = Buffer.alloc(chunkSize, 0x61);
    const pump = () => {
      while (sent < total && !done) {
        const size = Math.min(chunkSize, total - sent);
        sent += size;
        // A fresh buffer each time: the runtime may hold on to a written one.
        if (!socket.write(size === chunkSize ? Buffer.from(piece) : piece.subarray(0, size))) return;
      }
    };
    socket.on("connect", () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: upload\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`);
      pump();
    });
    socket.on("drain", pump);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const response = _tryParse(Buffer.concat(chunks), false);
      if (response) finish(undefined, response);
    });
    socket.on("error", (error) => finish(error));
    socket.on("close", () => {
      const response = _tryParse(Buffer.concat(chunks), true);
      finish(response ? undefined : new Error(`connection closed without a response after ${sent} of ${total} bytes`), response);
    });
  });
}

export interface RawServer {
  port: number;
  url: string;
  /** Sockets accepted so far, in order. */
  sockets: net.Socket[];
  /** How many accepted sockets have closed. */
  closed: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 whose `onConnection(socket, index)` scripts every byte it sends. */
export async function startRawServer(onConnection: (socket: net.Socket, index: number) => void): Promise<RawServer> {
  const state = { sockets: [] as net.Socket[], closed: 0 } as RawServer;
  const server = net.createServer((socket) => {
    const index = state.sockets.length;
    state.sockets.push(socket);
    socket.on("error", () => {});
    socket.on("close", () => state.closed++);
    onConnection(socket, index);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(state, {
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of state.sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

/**
 * Calls `onRequest(head, socket)` for each request head on a keep-alive connection (requests
 * without a body only). The head is the raw text up to and excluding the blank line.
 */
export function onRequestHeads(socket: net.Socket, onRequest: (head: string, socket: net.Socket) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    let end: number;
    while ((end = buffered.indexOf(HEAD_END)) >= 0) {
      const head = buffered.subarray(0, end).toString("latin1");
      buffered = buffered.subarray(end + 4);
      onRequest(head, socket);
    }
  });
}

export interface WebSocketEchoServer extends RawServer {
  /** Handshake request heads received, in order. */
  handshakes: string[];
}

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * A minimal RFC 6455 server: accepts the handshake on any path and answers each text frame with
 * `<name>:<text>`, pings with pongs and a close with a close. Client frames must be masked.
 */
export async function startWebSocketEcho(name: string): Promise<WebSocketEchoServer> {
  const handshakes: string[] = [];
  const server = await startRawServer((socket) => {
    let buffered = Buffer.alloc(0);
    let open = false;
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!open) {
        const end = buffered.indexOf(HEAD_END);
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString("latin1");
        buffered = buffered.subarray(end + 4);
        handshakes.push(head);
        const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1];
        if (!key || !/^upgrade:\s*websocket\s*$/im.test(head)) {
          socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          return;
        }
        const accept = createHash("sha1").update(key + WS_GUID).digest("base64");
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        open = true;
      }
      for (;;) {
        const frame = _parseFrame(buffered);
        if (!frame) return;
        buffered = buffered.subarray(frame.length);
        if (!frame.masked) {
          socket.destroy();
          return;
        }
        if (frame.opcode === 1) socket.write(_frame(1, Buffer.from(`${name}:${frame.payload.toString("utf8")}`)));
        else if (frame.opcode === 9) socket.write(_frame(10, frame.payload));
        else if (frame.opcode === 8) {
          socket.end(_frame(8, frame.payload.subarray(0, 2)));
          return;
        }
      }
    });
  });
  return Object.assign(server, { handshakes });
}

function _parseFrame(data: Buffer): { opcode: number; masked: boolean; payload: Buffer; length: number } | undefined {
  if (data.length < 2) return undefined;
  const opcode = data[0] & 0x0f;
  const masked = (data[1] & 0x80) !== 0;
  let length = data[1] & 0x7f;
  let at = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    length = Number(data.readBigUInt64BE(2));
    at = 10;
  }
  const maskAt = at;
  if (masked) at += 4;
  if (data.length < at + length) return undefined;
  const payload = Buffer.from(data.subarray(at, at + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= data[maskAt + (i % 4)];
  return { opcode, masked, payload, length: at + length };
}

/** An unmasked server frame with FIN set. */
function _frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head = length < 126
    ? Buffer.from([0x80 | opcode, length])
    : length < 65536
    ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
    : Buffer.concat([Buffer.from([0x80 | opcode, 127]), _u64(length)]);
  return Buffer.concat([head, payload]);
}

function _u64(value: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(value));
  return buffer;
}
