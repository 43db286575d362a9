/**
 * A recording member for wire-level proxy tests, on `node:net` only so it runs under both
 * `bun test` and `deno test`: a raw TCP server that keeps every byte it receives per connection,
 * parses them itself as HTTP/1.1 requests with a small strict parser (request line, fields,
 * Content-Length or chunked framing, trailers) and answers each request by a script chosen by
 * its path. Whatever a proxy forwards can then be checked exactly: which requests, with which
 * body boundaries, on which member connection, in which order.
 *
 * Scripts by path (anything else: `200`, body `<METHOD> <target> conn=<n>`, keep-alive):
 * - `/d/late`: the normal answer, then 300 ms later a second, unsolicited complete response.
 * - `/d/close-no-answer-on-reuse`: closes without answering unless it is the first request on its connection.
 * - `/d/cl-te`: a response with both Content-Length and Transfer-Encoding: chunked.
 * - `/d/two-cl`: a response with two different Content-Length fields.
 * - `/d/bad-status`: a malformed status line.
 * - `/d/huge-head`: a response head over 64 KiB.
 * - `/d/short`: a response that ends (close) short of its Content-Length.
 * - `/d/chunk-semicolon`: a chunked response whose chunk-size line carries `;` and garbage.
 * - `/d/chunk-bad-size`: a chunked response with a chunk size that is not hex.
 *
 * A request with `Expect: 100-continue` whose body is not there yet gets `100 Continue` first.
 * Bytes the strict parser cannot read are recorded in `errors`, answered 400 and the connection
 * is closed.
 *
 * The module also exports the wire parser for responses ({@link parseResponses}) the tests use
 * on the client side.
 *
 * @example
 * ```ts
 * const member = await startRecordingMember();
 * const mark = member.mark();
 * // ... send something through the proxy to member.url ...
 * const { requests, errors } = member.since(mark);
 * assert.deepEqual(requests.map((r) => r.target), ["/x"]);
 * await member.close();
 * ```
 */
import net from "node:net";

export interface RecordedRequest {
  method: string;
  /** The request-target exactly as received. */
  target: string;
  /** HTTP/1.0 or HTTP/1.1. */
  version: string;
  /** Fields in arrival order, names as sent. */
  headers: [string, string][];
  /** Decoded body (chunked framing removed). */
  body: Buffer;
  /** Whether the body came chunked. */
  chunked: boolean;
  /** Trailer fields of a chunked body. */
  trailers: [string, string][];
  /** Member connection index, 1-based in accept order. */
  conn: number;
  /** 1-based position of this request on its connection. */
  seq: number;
  /** 0-based arrival order over all connections. */
  order: number;
  /** performance.now() when the request was complete. */
  at: number;
}

export interface MemberError {
  conn: number;
  message: string;
  /** The bytes that could not be parsed (first 200, latin1). */
  near: string;
}

export interface MemberConnection {
  /** 1-based. */
  index: number;
  chunks: Buffer[];
  /** Bytes received so far. */
  bytes: number;
  /** Complete requests so far. */
  requests: number;
  closed: boolean;
  /** A request head arrived whose body is not complete yet. */
  partial?: { method: string; target: string; bodyBytes: number };
  socket: net.Socket;
}

export interface Mark {
  requests: number;
  errors: number;
  connections: number;
  bytes: number;
  /** Bytes received per connection (by index - 1) at the mark. */
  perConnection: number[];
  at: number;
}

export interface SinceMark {
  /** Complete requests since the mark. */
  requests: RecordedRequest[];
  errors: MemberError[];
  /** Connections accepted since the mark. */
  newConnections: MemberConnection[];
  /** Bytes received (any connection) since the mark. */
  bytes: number;
  /** Those bytes, connection after connection. */
  raw: Buffer;
  /** Those bytes per connection. */
  rawByConnection: { conn: number; bytes: Buffer }[];
  /** Requests whose head arrived but whose body is not complete (now), on connections that received bytes since the mark. */
  partials: { conn: number; method: string; target: string; bodyBytes: number }[];
}

export interface RecordingMember {
  port: number;
  url: string;
  requests: RecordedRequest[];
  errors: MemberError[];
  connections: MemberConnection[];
  /** Total bytes received. */
  bytes: number;
  /** Every byte received on connection `index` (1-based). */
  raw(index: number): Buffer;
  header(request: RecordedRequest, name: string): string | undefined;
  mark(): Mark;
  since(mark: Mark): SinceMark;
  close(): Promise<void>;
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field value: visible ASCII, obs-text, SP and HTAB; no CTLs. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e]+$/;
// deno-lint-ignore no-control-regex -- the quoted-string excludes control characters on purpose
const CHUNK_LINE = /^([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\.)*"))?)*)$/;
const MAX_HEAD = 1024 * 1024;

class StrictError extends Error {}

type Parsed =
  | { kind: "incomplete"; partial?: { method: string; target: string; bodyBytes: number }; expectContinue?: boolean }
  | { kind: "request"; request: Omit<RecordedRequest, "conn" | "seq" | "order" | "at">; length: number };

/** Looks up a field (case-insensitive); repeated fields joined with ", ". */
export function fieldValue(fields: [string, string][], name: string): string | undefined {
  const values = fields.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(", ");
}

function parseFields(lines: string[]): [string, string][] {
  const fields: [string, string][] = [];
  for (const line of lines) {
    if (line.length === 0) throw new StrictError("empty field line");
    if (line[0] === " " || line[0] === "\t") throw new StrictError("obs-fold continuation line");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new StrictError(`field line without a name and colon: ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new StrictError(`field name is not a token: ${JSON.stringify(name.slice(0, 60))}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new StrictError(`control character in field ${name}`);
    fields.push([name, value]);
  }
  return fields;
}

/** Splits a head at CRLF, refusing a bare CR or LF anywhere. */
function headLines(head: Buffer): string[] {
  const text = head.toString("latin1");
  const lines = text.split("\r\n");
  for (const line of lines) {
    if (line.includes("\r") || line.includes("\n")) throw new StrictError("bare CR or LF in the head");
  }
  return lines;
}

/** Parses the first request in `data` strictly; throws StrictError on anything not plainly valid. */
function parseRequest(data: Buffer): Parsed {
  const end = data.indexOf(HEAD_END);
  if (end < 0) {
    if (data.length > MAX_HEAD) throw new StrictError("request head over 1 MiB");
    // A head that cannot be valid is refused as soon as its first line is there.
    const lineEnd = data.indexOf(CRLF);
    if (lineEnd >= 0) _requestLine(data.subarray(0, lineEnd).toString("latin1"));
    return { kind: "incomplete" };
  }
  const [first, ...rest] = headLines(data.subarray(0, end));
  const { method, target, version } = _requestLine(first);
  const headers = parseFields(rest);
  const te = fieldValue(headers, "transfer-encoding");
  const cls = headers.filter(([n]) => n.toLowerCase() === "content-length").map(([, v]) => v);
  const bodyStart = end + 4;
  const partial = (bodyBytes: number) => ({ kind: "incomplete" as const, partial: { method, target, bodyBytes }, expectContinue: /^100-continue$/i.test(fieldValue(headers, "expect") ?? "") });
  if (te !== undefined) {
    if (cls.length > 0) throw new StrictError("both Content-Length and Transfer-Encoding");
    if (version !== "HTTP/1.1") throw new StrictError("Transfer-Encoding on HTTP/1.0");
    if (te.toLowerCase() !== "chunked") throw new StrictError(`unsupported Transfer-Encoding ${JSON.stringify(te)}`);
    const decoded = decodeChunked(data, bodyStart);
    if (!decoded) return partial(data.length - bodyStart);
    return { kind: "request", request: { method, target, version, headers, body: decoded.body, chunked: true, trailers: decoded.trailers }, length: decoded.end };
  }
  let length = 0;
  if (cls.length > 0) {
    if (!cls.every((value) => /^[0-9]{1,15}$/.test(value)) || new Set(cls).size !== 1) {
      throw new StrictError(`bad Content-Length ${JSON.stringify(cls)}`);
    }
    length = Number(cls[0]);
  }
  if (data.length < bodyStart + length) return partial(data.length - bodyStart);
  return {
    kind: "request",
    request: { method, target, version, headers, body: Buffer.from(data.subarray(bodyStart, bodyStart + length)), chunked: false, trailers: [] },
    length: bodyStart + length,
  };
}

function _requestLine(line: string): { method: string; target: string; version: string } {
  const parts = line.split(" ");
  if (parts.length !== 3) throw new StrictError(`bad request line ${JSON.stringify(line.slice(0, 80))}`);
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) throw new StrictError(`method is not a token: ${JSON.stringify(method.slice(0, 40))}`);
  if (!TARGET.test(target)) throw new StrictError(`bad request target ${JSON.stringify(target.slice(0, 80))}`);
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") throw new StrictError(`bad version ${JSON.stringify(version)}`);
  return { method, target, version };
}

/** Decodes a chunked body starting at `from`; undefined while incomplete. */
export function decodeChunked(data: Buffer, from: number): { body: Buffer; trailers: [string, string][]; end: number } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) {
      if (data.length - at > 4096) throw new StrictError("chunk-size line over 4 KiB");
      if (data.length > at && !/[0-9A-Fa-f]/.test(String.fromCharCode(data[at]))) throw new StrictError("chunk-size does not start with a hex digit");
      return undefined;
    }
    const line = data.subarray(at, lineEnd).toString("latin1");
    const match = CHUNK_LINE.exec(line);
    if (!match) throw new StrictError(`bad chunk-size line ${JSON.stringify(line.slice(0, 60))}`);
    const size = parseInt(match[1], 16);
    if (!Number.isSafeInteger(size) || size > 2 ** 40) throw new StrictError("chunk size out of range");
    at = lineEnd + 2;
    if (size === 0) {
      const trailerLines: string[] = [];
      for (;;) {
        const end = data.indexOf(CRLF, at);
        if (end < 0) return undefined;
        const text = data.subarray(at, end).toString("latin1");
        at = end + 2;
        if (text === "") break;
        if (text.includes("\r") || text.includes("\n")) throw new StrictError("bare CR or LF in a trailer");
        trailerLines.push(text);
      }
      return { body: Buffer.concat(parts), trailers: parseFields(trailerLines), end: at };
    }
    if (data.length < at + size + 2) return undefined;
    if (data[at + size] !== 13 || data[at + size + 1] !== 10) throw new StrictError("chunk data not followed by CRLF");
    parts.push(Buffer.from(data.subarray(at, at + size)));
    at += size + 2;
  }
}

function response(status: number, reason: string, body: string, fields: [string, string][] = []): Buffer {
  const head = [`HTTP/1.1 ${status} ${reason}`, "Content-Type: text/plain", `Content-Length: ${Buffer.byteLength(body)}`, ...fields.map(([n, v]) => `${n}: ${v}`)];
  return Buffer.from(`${head.join("\r\n")}\r\n\r\n${body}`, "latin1");
}

/** Starts a recording member on 127.0.0.1 (port 0 unless given). */
export async function startRecordingMember(options: { port?: number } = {}): Promise<RecordingMember> {
  const requests: RecordedRequest[] = [];
  const errors: MemberError[] = [];
  const connections: MemberConnection[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const state = { bytes: 0 };

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const conn: MemberConnection = { index: connections.length + 1, chunks: [], bytes: 0, requests: 0, closed: false, socket };
    connections.push(conn);
    let buffered: Buffer = Buffer.alloc(0);
    let stopped = false;
    let continued = false;
    socket.on("error", () => {});
    socket.on("close", () => (conn.closed = true));

    const write = (bytes: Buffer | string) => {
      if (!socket.destroyed && socket.writable) socket.write(bytes);
    };

    /** Answers one complete request per its script; false stops reading this connection. */
    const answer = (request: RecordedRequest): boolean => {
      const path = request.target.replace(/^[a-z]+:\/\/[^/]*/i, "").split("?")[0];
      const normal = `${request.method} ${request.target} conn=${conn.index}`;
      const closing = /\bclose\b/i.test(fieldValue(request.headers, "connection") ?? "") ||
        (request.version === "HTTP/1.0" && !/keep-alive/i.test(fieldValue(request.headers, "connection") ?? ""));
      const tag: [string, string] = ["X-Recording-Member", `conn=${conn.index}`];
      switch (path) {
        case "/d/late":
          write(response(200, "OK", normal, [tag]));
          later(300, () => write(response(200, "OK", `STRAY second response to /d/late conn=${conn.index}`, [tag])));
          return true;
        case "/d/close-no-answer-on-reuse":
          if (request.seq > 1) {
            socket.end();
            return false;
          }
          break;
        case "/d/cl-te":
          write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
          return true;
        case "/d/two-cl":
          write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!`);
          return true;
        case "/d/bad-status":
          write(`HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok`);
          return true;
        case "/d/huge-head": {
          const pad = "p".repeat(1000);
          const fields = Array.from({ length: 80 }, (_, i) => `X-Pad-${i}: ${pad}\r\n`).join("");
          write(`HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`);
          return true;
        }
        case "/d/short":
          write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789`);
          later(100, () => socket.end());
          return false;
        case "/d/chunk-semicolon":
          write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;\x01garbage;;=\r\nhello\r\n0\r\n\r\n`);
          return true;
        case "/d/chunk-bad-size":
          write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`);
          return true;
      }
      write(response(200, "OK", normal, closing ? [tag, ["Connection", "close"]] : [tag]));
      if (closing) {
        socket.end();
        return false;
      }
      return true;
    };

    socket.on("data", (chunk: Buffer) => {
      conn.chunks.push(chunk);
      conn.bytes += chunk.length;
      state.bytes += chunk.length;
      if (stopped) return;
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        let parsed: Parsed;
        try {
          parsed = parseRequest(buffered);
        } catch (error) {
          if (!(error instanceof StrictError)) throw error;
          errors.push({ conn: conn.index, message: error.message, near: buffered.subarray(0, 200).toString("latin1") });
          stopped = true;
          conn.partial = undefined;
          write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          socket.end();
          return;
        }
        if (parsed.kind === "incomplete") {
          conn.partial = parsed.partial;
          if (parsed.expectContinue && !continued) {
            continued = true;
            write("HTTP/1.1 100 Continue\r\n\r\n");
          }
          return;
        }
        conn.partial = undefined;
        continued = false;
        buffered = buffered.subarray(parsed.length);
        conn.requests++;
        const request: RecordedRequest = { ...parsed.request, conn: conn.index, seq: conn.requests, order: requests.length, at: performance.now() };
        requests.push(request);
        if (!answer(request)) {
          stopped = true;
          return;
        }
        if (buffered.length === 0) return;
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    errors,
    connections,
    get bytes() {
      return state.bytes;
    },
    raw: (index) => Buffer.concat(connections[index - 1]?.chunks ?? []),
    header: (request, name) => fieldValue(request.headers, name),
    mark: () => ({
      requests: requests.length,
      errors: errors.length,
      connections: connections.length,
      bytes: state.bytes,
      perConnection: connections.map((c) => c.bytes),
      at: performance.now(),
    }),
    since(mark) {
      const touched = connections.filter((c) => c.bytes > (mark.perConnection[c.index - 1] ?? 0));
      const rawByConnection = touched.map((c) => ({ conn: c.index, bytes: Buffer.concat(c.chunks).subarray(mark.perConnection[c.index - 1] ?? 0) }));
      return {
        requests: requests.slice(mark.requests),
        errors: errors.slice(mark.errors),
        newConnections: connections.slice(mark.connections),
        bytes: state.bytes - mark.bytes,
        raw: Buffer.concat(rawByConnection.map((c) => c.bytes)),
        rawByConnection,
        partials: touched.filter((c) => c.partial !== undefined).map((c) => ({ conn: c.index, ...c.partial! })),
      };
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const conn of connections) conn.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The client side: responses as a proxy sends them.

export interface WireResponse {
  status: number;
  /** The status line as received. */
  statusLine: string;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Ends with the connection (no framing) rather than by Content-Length or chunked framing. */
  closeDelimited: boolean;
}

/**
 * Parses every complete response in `data`, in order (interim 1xx responses included). With
 * `closed`, a final response without framing ends with the data. `bad` says why parsing stopped
 * early on bytes that are not a response; `rest` is what is left unparsed.
 */
export function parseResponses(data: Buffer, closed: boolean): { responses: WireResponse[]; rest: Buffer; bad?: string } {
  const responses: WireResponse[] = [];
  let at = 0;
  for (;;) {
    if (at >= data.length) return { responses, rest: Buffer.alloc(0) };
    const end = data.indexOf(HEAD_END, at);
    if (end < 0) {
      const prefix = data.subarray(at, at + 9).toString("latin1");
      if (!"HTTP/1.".startsWith(prefix.slice(0, 7))) return { responses, rest: data.subarray(at), bad: `not a response: ${JSON.stringify(prefix)}` };
      return { responses, rest: data.subarray(at) };
    }
    const lines = data.subarray(at, end).toString("latin1").split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]);
    if (!match) return { responses, rest: data.subarray(at), bad: `not a status line: ${JSON.stringify(lines[0].slice(0, 80))}` };
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const bodyStart = end + 4;
    const base = { status, statusLine: lines[0], headers };
    if ((status >= 100 && status < 200) || status === 204 || status === 304) {
      responses.push({ ...base, body: Buffer.alloc(0), closeDelimited: false });
      at = bodyStart;
      continue;
    }
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      let decoded;
      try {
        decoded = decodeChunked(data, bodyStart);
      } catch (error) {
        return { responses, rest: data.subarray(at), bad: `bad chunked body: ${(error as Error).message}` };
      }
      if (!decoded) return { responses, rest: data.subarray(at) };
      responses.push({ ...base, body: decoded.body, closeDelimited: false });
      at = decoded.end;
      continue;
    }
    if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      if (!Number.isSafeInteger(length)) return { responses, rest: data.subarray(at), bad: `bad content-length ${headers["content-length"]}` };
      if (data.length < bodyStart + length) return { responses, rest: data.subarray(at) };
      responses.push({ ...base, body: Buffer.from(data.subarray(bodyStart, bodyStart + length)), closeDelimited: false });
      at = bodyStart + length;
      continue;
    }
    if (!closed) return { responses, rest: data.subarray(at) };
    responses.push({ ...base, body: Buffer.from(data.subarray(bodyStart)), closeDelimited: true });
    return { responses, rest: Buffer.alloc(0) };
  }
}
