/**
 * The socket-level HTTP/1.1 front end: one loop per client connection over the
 * {@link StreamConnection} port, handing each request to a handler as a web `Request` and writing
 * the `Response` it gets back. Parsing HTTP ourselves, rather than through `Bun.serve` or
 * `Deno.serve`, is what gives every connection head, idle and body timeouts, strict framing, and
 * pipelined requests answered in order.
 *
 * ```ts
 * import { Http1Server } from "./http1-server.ts";
 * const server = new Http1Server({
 *   clock,
 *   handler: (request) => Promise.resolve(new Response(`hello ${new URL(request.url).pathname}`)),
 *   tls: false,
 *   timeouts: { request: 10_000, keepAlive: 60_000, body: 30_000 },
 *   limits: { headBytes: 16_384, fields: 100, targetBytes: 8_192 },
 *   maxConnections: 10_000,
 * });
 * listenConnections(options, (connection, remote) => server.accept(connection, remote));
 * ```
 *
 * What a member sees of odd targets: the Request's URL is parsed by the runtime (WHATWG URL, the
 * same on Bun 1.4.5 and Deno 2.9.6), and routing and forwarding both use its `pathname + search`.
 * Dot segments are resolved (`/a/../admin` and `/%2e%2e/admin` become `/admin`), `\` counts as `/`
 * (`/a\..\admin` becomes `/admin`), `"<>` and backtick are percent-encoded, `%2f` stays encoded.
 * `{` `}` are encoded on both, `^` only on Bun; `|` on neither. The Host value goes through the
 * URL's host parser (lower-cased, `%41` decoded, `0x7f.1` read as 127.0.0.1); a host it rejects
 * (`999.1.1.1`, `a%2fb`, a bad `xn--` label) is a 400.
 *
 * @module
 */
import type { Clock, ConnInfo, RemoteAddress, StreamConnection } from "../ports.ts";
import { Deadline } from "../proxy/deadline.ts";
import { concatBytes, encodeChunk, findHeadEnd, LAST_CHUNK } from "../proxy/http1-parse.ts";
import { RequestBody } from "./request-body.ts";
import {
  encodeResponseHead,
  parseRequestHead,
  reasonPhrase,
  RequestError,
  type RequestHead,
  type RequestLimits,
  type ResponseBodyFraming,
} from "./http1-request.ts";

export type TimeoutKind = "request" | "keepAlive" | "body";

/** Answers one request; undefined only after taking the connection over (`conn.takeOver`). */
export type Http1Handler = (request: Request, conn: ConnInfo) => Promise<Response | undefined>;

export interface Http1ServerOptions {
  clock: Clock;
  handler: Http1Handler;
  /** The listener terminated TLS: request URLs say https. */
  tls: boolean;
  /**
   * Milliseconds (0: none). `request`: from the connection's start, or from the first byte of a
   * later request, until its head is complete (else 408). `keepAlive`: between requests, until
   * the next one's first byte (else a silent close). `body`: the longest silence while reading
   * the request body or while the client does not take its answer (else the connection closes).
   */
  timeouts: { request: number; keepAlive: number; body: number };
  limits: RequestLimits;
  /** Connections beyond this are refused at once with a 503; 0 for no limit. */
  maxConnections: number;
  onTimeout?: (kind: TimeoutKind) => void;
  /** Every request or connection refused with an error answer (a 408 counts as a timeout instead). */
  onRefused?: (status: number, reason: string) => void;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const OVERLOADED = encoder.encode("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
const ERROR_HEADERS = new Headers({ "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
const NO_BODY: ResponseBodyFraming = { type: "none" };
const EMPTY_BODY: ResponseBodyFraming = { type: "length", length: 0 };
const CHUNKED: ResponseBodyFraming = { type: "chunked" };
const UNTIL_CLOSE: ResponseBodyFraming = { type: "close" };
const LENGTH = /^[0-9]{1,15}$/;
/**
 * A head and a first body chunk up to this size go out in one write: one syscall, and no wait on
 * Deno's TLS connections, which leave Nagle on. It covers the bodies of up to 64 KiB that the
 * balancer reads whole.
 */
const COALESCE_BYTES = 72 * 1024;
/**
 * Methods the fetch standard forbids in a Request: Deno throws, Bun passes them. Refused on both
 * so the runtimes agree; CONNECT never gets this far (the codec refuses it).
 */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const _noop = () => {};

/** Accepts client connections and serves HTTP/1.1 on each until it ends. */
export class Http1Server {
  readonly #options: Http1ServerOptions;
  readonly #open = new Set<_Connection>();
  #draining = false;
  #whenEmpty: (() => void)[] = [];

  constructor(options: Http1ServerOptions) {
    this.#options = options;
  }

  /**
   * Serves `connection` (refused with a 503 over `maxConnections`). One that comes after
   * `shutdown` was accepted by the runtime before its listener closed: it is served like the
   * others while draining, one request and then closed, as a client that got in deserves.
   */
  accept(connection: StreamConnection, remote: RemoteAddress): void {
    const { maxConnections } = this.#options;
    if (maxConnections > 0 && this.#open.size >= maxConnections) return this.#refuse(connection, "too many connections");
    const served = new _Connection(this.#options, this, connection, remote);
    this.#open.add(served);
    const ended = () => this.#ended(served);
    served.run().then(ended, ended);
  }

  /** Client connections being served (taken-over ones no longer count). */
  get connections(): number {
    return this.#open.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** While true, every answer closes its connection, and idle keep-alive connections close now. */
  set draining(value: boolean) {
    this.#draining = value;
    if (value) for (const served of this.#open) served.drain();
  }

  /** Drains; resolves once requests in flight are answered and every connection ended (the listener stops accepting). */
  shutdown(): Promise<void> {
    this.draining = true;
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  #refuse(connection: StreamConnection, reason: string): void {
    try {
      void connection.write(OVERLOADED)?.catch(_noop);
    } catch {
      // Already gone: closing is all there is left to do.
    }
    connection.close();
    this.#options.onRefused?.(503, reason);
  }

  #ended(served: _Connection): void {
    this.#open.delete(served);
    if (this.#open.size > 0) return;
    for (const resolve of this.#whenEmpty.splice(0)) resolve();
  }
}

/**
 * A connection handed over by `takeOver` while the loop's read was still outstanding: that read's
 * bytes belong to the new owner, so its first read returns them.
 */
class _HandedOver implements StreamConnection {
  readonly #inner: StreamConnection;
  #pending: Promise<Uint8Array | null> | undefined;

  constructor(inner: StreamConnection, pending: Promise<Uint8Array | null>) {
    this.#inner = inner;
    this.#pending = pending;
  }

  read(): Promise<Uint8Array | null> {
    const pending = this.#pending;
    this.#pending = undefined;
    return pending ?? this.#inner.read();
  }

  write(data: Uint8Array): Promise<void> | undefined {
    return this.#inner.write(data);
  }

  close(): void {
    this.#inner.close();
  }
}

/**
 * One client connection. A single read is kept outstanding for the connection's whole life, also
 * while a request is being handled: that is how a client that leaves is noticed (its request is
 * aborted), and how pipelined requests are buffered, up to `headBytes` before reading pauses.
 */
class _Connection {
  readonly #options: Http1ServerOptions;
  readonly #server: Http1Server;
  readonly #conn: StreamConnection;
  readonly #remote: RemoteAddress;
  /** The one timer of the connection: request, keep-alive and body timeouts take turns. */
  readonly #deadline: Deadline;
  /** Received bytes not consumed yet: a head in progress, body bytes, pipelined requests. */
  #buffer: Uint8Array = EMPTY;
  /** How much of #buffer has been searched for the end of the head. */
  #scanned = 0;
  #reading: Promise<Uint8Array | null> | undefined;
  /** The client ended its side (or the read failed). */
  #ended = false;
  #closed = false;
  #takenOver = false;
  #wake: (() => void) | undefined;
  #whenClosed: Promise<void> | undefined;
  #resolveClosed: () => void = _noop;
  #expired: TimeoutKind | undefined;
  /** Waiting for the next request with nothing of it received. */
  #idle = false;
  /** Aborts the request in flight when the client leaves before its answer is written. */
  #abort: AbortController | undefined;
  #body: RequestBody | undefined;
  /** The answer's head has gone out (or started to): no error answer can follow. */
  #responding = false;
  #continuing: Promise<void> | undefined;
  /** Waits (body reads, writes) under the body timeout. */
  #stalls = 0;

  constructor(options: Http1ServerOptions, server: Http1Server, conn: StreamConnection, remote: RemoteAddress) {
    this.#options = options;
    this.#server = server;
    this.#conn = conn;
    this.#remote = remote;
    this.#deadline = new Deadline(options.clock);
  }

  async run(): Promise<void> {
    this.#deadline.set(this.#options.timeouts.request, this.#headExpired);
    try {
      for (let first = true;; first = false) {
        const head = await this.#nextHead(first);
        if (!head || !(await this.#exchange(head, first))) break;
      }
    } catch (error) {
      await this.#fail(error);
    } finally {
      this.#deadline.dispose();
      if (!this.#takenOver) this.#close();
    }
  }

  /** Wakes the loop if it waits for a next request, which then finds the server draining. */
  drain(): void {
    if (this.#idle) this.#notify();
  }

  /** Body bytes the request body may take: all of the buffer (it gives back what is not its own). */
  takeBuffered(): Uint8Array {
    const bytes = this.#buffer;
    this.#buffer = EMPTY;
    return bytes;
  }

  /** Body bytes up to `max`. */
  take(max: number): Uint8Array {
    const bytes = this.#buffer;
    if (bytes.length <= max) return this.takeBuffered();
    this.#buffer = bytes.subarray(max);
    return bytes.subarray(0, max);
  }

  /** Bytes after the end of a chunked body: the next request. */
  unread(bytes: Uint8Array): void {
    this.#buffer = concatBytes(bytes, this.#buffer);
  }

  /** Waits for more body bytes, the body timeout being the longest silence allowed. */
  async awaitBody(): Promise<void> {
    if (this.#ended || this.#closed) throw new Error("client closed the connection during the request body");
    this.#stall(1);
    try {
      await this.#more();
    } finally {
      this.#stall(-1);
    }
  }

  /** The first pull of a body the client waits to send: tell it to go ahead (once). */
  async sendContinue(): Promise<void> {
    if (this.#responding || this.#closed) return;
    this.#continuing = this.#write(CONTINUE);
    await this.#continuing;
  }

  /** The next request head; undefined when the connection should end without an answer. */
  async #nextHead(first: boolean): Promise<RequestHead | undefined> {
    const { limits, timeouts } = this.#options;
    let started = first;
    if (!first) this.#deadline.set(timeouts.keepAlive, this.#idleExpired);
    for (;;) {
      this.#skipEmptyLines();
      const end = findHeadEnd(this.#buffer, Math.max(0, this.#scanned - 3));
      if (end >= 0) {
        this.#deadline.clear();
        const head = parseRequestHead(this.#buffer.subarray(0, end), limits);
        this.#buffer = this.#buffer.subarray(end + 4);
        this.#scanned = 0;
        return head;
      }
      this.#scanned = this.#buffer.length;
      if (this.#buffer.length > limits.headBytes) throw _tooLarge(this.#buffer);
      if (this.#ended || this.#closed || this.#expired === "keepAlive") return undefined;
      if (this.#expired === "request") throw new RequestError(408, "request timeout");
      this.#idle = this.#buffer.length === 0 && !started;
      if (this.#idle && this.#server.draining) return undefined;
      if (!started && this.#buffer.length > 0) {
        // From the first byte on, the head has the request timeout, however it trickles in.
        started = true;
        this.#deadline.set(timeouts.request, this.#headExpired);
      }
      await this.#more();
      this.#idle = false;
    }
  }

  /** RFC 9112 §2.2: empty lines before a request line are ignored (some clients end a body with one). */
  #skipEmptyLines(): void {
    let start = 0;
    while (this.#buffer[start] === 13 && this.#buffer[start + 1] === 10) start += 2;
    if (start === 0) return;
    this.#buffer = this.#buffer.subarray(start);
    this.#scanned = 0;
  }

  /** Serves one request; true when the connection may carry another. */
  async #exchange(head: RequestHead, first: boolean): Promise<boolean> {
    const abort = new AbortController();
    const body = head.framing.type === "none" ? undefined : new RequestBody(this, head);
    const request = this.#request(head, abort.signal, body);
    const info: ConnInfo = { remoteAddress: this.#remote.address, tls: this.#options.tls, firstRequest: first };
    if (head.upgrade) info.takeOver = () => this.#takeOver();
    this.#abort = abort;
    this.#body = body;
    this.#responding = false;
    let response: Response | undefined;
    try {
      response = await this.#options.handler(request, info);
    } catch {
      response = undefined;
    }
    try {
      if (this.#takenOver || abort.signal.aborted || this.#closed) {
        void response?.body?.cancel().catch(_noop);
        return false;
      }
      if (body?.malformed) {
        void response?.body?.cancel().catch(_noop);
        throw body.malformed;
      }
      if (!response) {
        await this.#sendError(500, "internal error");
        return false;
      }
      return await this.#respond(head, request.method, response);
    } finally {
      this.#abort = undefined;
      this.#body = undefined;
    }
  }

  #request(head: RequestHead, signal: AbortSignal, body: RequestBody | undefined): Request {
    const method = head.method;
    if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new RequestError(501, "method not supported");
    const headers = _forwardedHeaders(head);
    let request: Request;
    try {
      request = new Request(`${this.#options.tls ? "https" : "http"}://${head.host}${head.path}`, {
        method,
        headers,
        body: body ? body.stream() : null,
        signal,
        duplex: "half",
      } as RequestInit);
    } catch {
      // The target is plain visible ASCII starting with "/", so only the host can fail the URL.
      throw new RequestError(400, "invalid host");
    }
    // Bun turns a method it does not know into GET; forwarding that would run another request.
    if (request.method !== method && request.method !== method.toUpperCase()) {
      throw new RequestError(501, "method not supported");
    }
    return request;
  }

  /** Writes the handler's answer; true when the connection may carry another request. */
  async #respond(head: RequestHead, method: string, response: Response): Promise<boolean> {
    if (this.#continuing) await this.#continuing.catch(_noop);
    const framing = _responseFraming(method, response, head.version === "HTTP/1.0");
    // A 1xx as the final answer (a 101 without taking the connection over) leaves the client
    // expecting something other than HTTP next: nothing more goes on this connection.
    const keepAlive = head.keepAlive && framing !== UNTIL_CLOSE && !this.#server.draining && response.status >= 200 &&
      !_saysClose(response.headers.get("connection")) && (this.#body?.done ?? true) && !this.#closed;
    const connection = !keepAlive ? "close" : head.version === "HTTP/1.0" ? "keep-alive" : undefined;
    this.#responding = true;
    const bytes = encodeResponseHead(response.status, response.headers, framing, connection);
    const complete = framing.type === "length" && framing.length > 0 && framing.length <= COALESCE_BYTES
      ? await this.#sendWhole(bytes, framing.length, response)
      : await this.#sendBody(bytes, framing, response.body);
    return keepAlive && complete;
  }

  /**
   * A small body with a known length is taken whole (no reader, no read per chunk: the balancer
   * has it in one piece already) and goes out with the head in one write.
   */
  async #sendWhole(head: Uint8Array, length: number, response: Response): Promise<boolean> {
    let body: Uint8Array;
    try {
      body = new Uint8Array(await response.arrayBuffer());
    } catch {
      return false;
    }
    // A body longer than announced: what was announced goes out, the rest would be a next answer.
    await this.#write(concatBytes(head, body.length > length ? body.subarray(0, length) : body));
    return body.length === length;
  }

  /** Writes head and body; true when the body matched its framing. */
  async #sendBody(head: Uint8Array, framing: ResponseBodyFraming, body: ReadableStream<Uint8Array> | null): Promise<boolean> {
    if (framing === NO_BODY || body === null) {
      void body?.cancel().catch(_noop);
      await this.#write(head);
      return framing.type !== "length" || framing.length === 0;
    }
    const reader = body.getReader();
    try {
      return await this.#copyBody(reader, head, framing);
    } catch {
      // The client left or the handler's body failed: either way the answer ends with the connection.
      void reader.cancel().catch(_noop);
      return false;
    }
  }

  async #copyBody(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    head: Uint8Array,
    framing: ResponseBodyFraming,
  ): Promise<boolean> {
    let pending: Uint8Array | undefined = head;
    let remaining = framing.type === "length" ? framing.length : Infinity;
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      let chunk = read.value;
      if (chunk.length === 0) continue;
      const excess = chunk.length > remaining;
      if (excess) chunk = chunk.subarray(0, remaining);
      remaining -= chunk.length;
      if (framing === CHUNKED) chunk = encodeChunk(chunk);
      if (pending && pending.length + chunk.length <= COALESCE_BYTES) chunk = concatBytes(pending, chunk);
      else if (pending) await this.#write(pending);
      pending = undefined;
      await this.#write(chunk);
      // A longer body than announced: what was announced went out; the rest would be a next answer.
      if (excess) {
        void reader.cancel().catch(_noop);
        return false;
      }
    }
    const tail = framing === CHUNKED ? LAST_CHUNK : EMPTY;
    if (pending || tail.length > 0) await this.#write(pending ? concatBytes(pending, tail) : tail);
    return framing === CHUNKED || (framing.type === "length" && remaining === 0);
  }

  #takeOver(): { connection: StreamConnection; buffered: Uint8Array } {
    if (this.#takenOver || this.#closed || this.#responding) throw new Error("the connection is no longer available");
    this.#takenOver = true;
    this.#deadline.dispose();
    const pending = this.#reading;
    this.#reading = undefined;
    const buffered = this.takeBuffered();
    return { connection: pending ? new _HandedOver(this.#conn, pending) : this.#conn, buffered };
  }

  /** The loop ended on an error: answer it if nothing was answered yet. */
  async #fail(error: unknown): Promise<void> {
    if (this.#closed || this.#takenOver || this.#responding) return;
    if (!(error instanceof RequestError)) return await this.#sendError(500, "internal error").catch(_noop);
    if (error.status !== 408) this.#options.onRefused?.(error.status, error.reason);
    await this.#sendError(error.status, error.reason).catch(_noop);
  }

  /** A short plain-text answer that closes the connection; the reason is ours, never the client's bytes. */
  async #sendError(status: number, reason: string): Promise<void> {
    const text = encoder.encode(`${status} ${reasonPhrase(status)}: ${reason}\n`);
    const head = encodeResponseHead(status, ERROR_HEADERS, { type: "length", length: text.length }, "close");
    this.#responding = true;
    await this.#write(concatBytes(head, text));
  }

  /** Writes under write backpressure, the body timeout bounding a client that takes nothing. */
  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error("connection closed");
    const pending = this.#conn.write(bytes);
    if (!pending) return;
    this.#stall(1);
    try {
      await Promise.race([pending, this.#closing()]);
    } finally {
      this.#stall(-1);
    }
    if (this.#closed) throw new Error("connection closed");
  }

  #closing(): Promise<void> {
    return this.#whenClosed ??= new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Keeps the body timeout armed while anything waits on the client, and only then. */
  #stall(change: 1 | -1): void {
    this.#stalls += change;
    if (this.#stalls > 0) this.#deadline.set(this.#options.timeouts.body, this.#bodyExpired);
    else this.#deadline.clear();
  }

  /** Resolves at the next received chunk, end of input, timeout or drain. */
  #more(): Promise<void> {
    this.#read();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #read(): void {
    if (this.#reading || this.#ended || this.#closed || this.#takenOver) return;
    const reading = this.#conn.read();
    this.#reading = reading;
    reading.then((chunk) => this.#received(reading, chunk), () => this.#received(reading, null));
  }

  #received(reading: Promise<Uint8Array | null>, chunk: Uint8Array | null): void {
    // A read handed over with the connection: its bytes are the new owner's.
    if (this.#reading !== reading) return;
    this.#reading = undefined;
    if (chunk === null) {
      this.#ended = true;
      // With pipelined requests still buffered the client only half-closed: they get answers.
      if (this.#abort && (this.#buffer.length === 0 || this.#body?.done === false)) this.#abort.abort();
    } else {
      this.#buffer = concatBytes(this.#buffer, chunk);
      if (this.#buffer.length <= this.#options.limits.headBytes) this.#read();
    }
    this.#notify();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
    this.#resolveClosed();
    this.#notify();
  }

  readonly #headExpired = (): void => this.#expire("request");
  readonly #idleExpired = (): void => this.#expire("keepAlive");
  readonly #bodyExpired = (): void => {
    this.#close();
    this.#options.onTimeout?.("body");
  };

  #expire(kind: TimeoutKind): void {
    this.#expired = kind;
    this.#notify();
    this.#options.onTimeout?.(kind);
  }
}

/**
 * The member's fields as the client sent them, except: Transfer-Encoding (the body goes on
 * decoded), a repeated Content-Length (one is enough), Expect: 100-continue (answered here), and
 * a Host that an absolute-form target overrides (RFC 9112 §3.2.2: a proxy replaces it).
 */
function _forwardedHeaders(head: RequestHead): Headers {
  const headers = new Headers();
  const absolute = head.target.charCodeAt(0) !== 47;
  let hasLength = false;
  for (const [name, value] of head.fields) {
    const size = name.length;
    const lower = size === 4 || size === 6 || size === 14 || size === 17 ? name.toLowerCase() : "";
    if (lower === "content-length") {
      hasLength = true;
      continue;
    }
    const dropped = lower === "transfer-encoding" || (lower === "expect" && head.expectContinue) ||
      (lower === "host" && absolute);
    if (!dropped) headers.append(name, value);
  }
  if (hasLength) headers.set("content-length", head.framing.type === "length" ? `${head.framing.length}` : "0");
  if (absolute) headers.set("host", head.host);
  return headers;
}

function _responseFraming(method: string, response: Response, http10: boolean): ResponseBodyFraming {
  const status = response.status;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) return NO_BODY;
  const length = response.headers.get("content-length");
  if (length !== null && LENGTH.test(length)) return { type: "length", length: Number(length) };
  if (response.body === null) return EMPTY_BODY;
  // HTTP/1.0 has no chunked coding: the body runs until the connection closes.
  return http10 ? UNTIL_CLOSE : CHUNKED;
}

function _saysClose(connection: string | null): boolean {
  return connection !== null && connection.toLowerCase().split(",").some((token) => token.trim() === "close");
}

/** Over the head limit: still on the request line means the target is what is too long. */
function _tooLarge(buffer: Uint8Array): RequestError {
  return buffer.indexOf(10) < 0
    ? new RequestError(414, "request target too long")
    : new RequestError(431, "request head too large");
}
