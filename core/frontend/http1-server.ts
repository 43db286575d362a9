/**
 * The socket-level HTTP/1.1 front end: one loop per client connection over the
 * {@link StreamConnection} port, handing each request to a handler as the compact
 * {@link ClientRequest} (fields parsed once, the body read piece by piece) and writing the
 * {@link Answer} it gets back straight to bytes. Parsing HTTP ourselves, rather than through
 * `Bun.serve` or `Deno.serve`, is what gives every connection head, idle and body timeouts, strict
 * framing, and pipelined requests answered in order; building no Request, Headers, Response or
 * web stream per request is what makes it fast.
 *
 * ```ts
 * import { Http1Server } from "./http1-server.ts";
 * import { textAnswer } from "../http/message.ts";
 * const server = new Http1Server({
 *   clock,
 *   handler: (request) => Promise.resolve(textAnswer(200, `hello ${request.target}`)),
 *   tls: false,
 *   timeouts: { request: 10_000, keepAlive: 60_000, body: 30_000 },
 *   limits: { headBytes: 16_384, fields: 100, targetBytes: 8_192 },
 *   maxConnections: 10_000,
 * });
 * listenConnections(options, (connection, remote) => server.accept(connection, remote));
 * ```
 *
 * What a member sees of odd targets: a target or host a URL parser would change goes through the
 * runtime's WHATWG URL parser (the same on Bun 1.4.5 and Deno 2.9.6), and routing and forwarding
 * both use its `pathname + search` and `host`; plain ones, nearly all, are taken as they are.
 * Dot segments are resolved (`/a/../admin` and `/%2e%2e/admin` become `/admin`), `\` counts as `/`
 * (`/a\..\admin` becomes `/admin`), `"<>` and backtick are percent-encoded, `%2f` stays encoded.
 * `{` `}` are encoded on both, `^` only on Bun; `|` on neither. The Host value goes through the
 * URL's host parser (lower-cased, `%41` decoded, `0x7f.1` read as 127.0.0.1); a host it rejects
 * (`999.1.1.1`, `a%2fb`, a bad `xn--` label) is a 400.
 *
 * @module
 */
import { type Answer, type BodyReader, ClientAbort, type ClientRequest, Fields } from "../http/message.ts";
import type { Handler } from "../http/web.ts";
import type { RefusedRequest } from "../log/access-record.ts";
import type { Clock, ConnInfo, RemoteAddress, StreamConnection } from "../ports.ts";
import { Deadline } from "../proxy/deadline.ts";
import { concatBytes, encodeChunk, findHeadEnd, LAST_CHUNK } from "../proxy/http1-parse.ts";
import { RequestBody } from "./request-body.ts";
import { ClientTimeout } from "../http/client-timeout.ts";
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

export interface Http1ServerOptions {
  clock: Clock;
  /** Answers each request; undefined only after taking the connection over (`conn.takeOver`). */
  handler: Handler;
  /** The listener terminated TLS (default ports are https's). */
  tls: boolean;
  /** The listener's address as configured, which the access log names. */
  listener?: string;
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
  /** A request refused before the handler saw it (malformed, too large, its head late), with what the access log needs. */
  onBadRequest?: (refusal: RefusedRequest) => void;
}

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const OVERLOADED = encoder.encode("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
const ERROR_FIELDS = new Fields(["content-type", "text/plain; charset=utf-8", "cache-control", "no-store"]);
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
 * TRACE and TRACK echo the request, cookies and credentials included, back to whoever sent it
 * (cross-site tracing); the fetch standard forbids them, so the admin plane could not take them
 * either. CONNECT never gets this far (the codec refuses it).
 */
const FORBIDDEN_METHODS = new Set(["TRACE", "TRACK"]);
/**
 * Characters in a target that a URL parser changes: dot segments (also `%2e`), `\`, the ones it
 * percent-encodes, and an empty query. A target without any is what the parser would give back.
 */
const URL_WOULD_CHANGE = /\/\.|%2e|[\\"<>`{}^']|\?$/i;
/** A host that is already what a URL parser gives back: lower-case name labels (the last one not numeric, not punycode) and no port. */
const PLAIN_HOST = /^(?:(?!xn--)[a-z0-9-]+\.)*(?!xn--)[a-z][a-z0-9-]*$/;
/** Hosts told apart per listener: few in practice, bounded against a client sending many. */
const HOST_CACHE_SIZE = 1024;
const _noop = () => {};

/** Accepts client connections and serves HTTP/1.1 on each until it ends. */
export class Http1Server {
  readonly #options: Http1ServerOptions;
  readonly #open = new Set<_Connection>();
  /** Host field → the URL parser's host, or null when it refuses it. */
  readonly #hosts = new Map<string, string | null>();
  #draining = false;
  #whenEmpty: (() => void)[] = [];

  constructor(options: Http1ServerOptions) {
    this.#options = options;
  }

  /** The authority as a URL parser gives it (lower case, default port dropped, `0x7f.1` read as 127.0.0.1). */
  normalHost(host: string): string {
    if (PLAIN_HOST.test(host)) return host;
    let normal = this.#hosts.get(host);
    if (normal === undefined) {
      normal = URL.parse(`${this.#options.tls ? "https" : "http"}://${host}/`)?.host ?? null;
      if (this.#hosts.size >= HOST_CACHE_SIZE) this.#hosts.clear();
      this.#hosts.set(host, normal);
    }
    if (normal === null) throw new RequestError(400, "invalid host");
    return normal;
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
  /** When the current request's first byte came (the connection's start for the first one). */
  #requestStarted = 0;
  /** Aborts the request in flight when the client leaves before its answer is written. */
  #abort: ClientAbort | undefined;
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
    if (this.#expired === "body") throw this.#bodyTimeout();
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
        // The request timeout was set at the request's first byte: its start time is the request's.
        this.#requestStarted = this.#deadline.setAt;
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
    const abort = new ClientAbort();
    const body = head.framing.type === "none" ? undefined : new RequestBody(this, head);
    const request = this.#request(head, abort, body);
    const remote = this.#remote;
    const info: ConnInfo = {
      remoteAddress: remote.address,
      tls: this.#options.tls,
      firstRequest: first,
      remotePort: remote.port,
      listener: this.#options.listener,
      listenerConnections: this.#server.connections,
      tlsSession: remote.tls,
      received: this.#requestStarted,
    };
    if (head.upgrade) info.takeOver = () => this.#takeOver();
    this.#abort = abort;
    this.#body = body;
    this.#responding = false;
    let answer: Answer | undefined;
    try {
      answer = await this.#options.handler(request, info);
    } catch {
      answer = undefined;
    }
    try {
      if (this.#takenOver || abort.aborted || this.#closed) {
        _cancel(answer);
        return false;
      }
      if (body?.malformed) {
        _cancel(answer);
        throw body.malformed;
      }
      if (!answer) {
        await this.#sendError(500, "internal error");
        return false;
      }
      return await this.#respond(head, answer);
    } finally {
      this.#abort = undefined;
      this.#body = undefined;
    }
  }

  /**
   * The request as the handler takes it. Fields go on as the client sent them, except Expect:
   * 100-continue (answered here), a Host that an absolute-form target overrides (RFC 9112 §3.2.2:
   * a proxy replaces it) or the URL parser normalises, Transfer-Encoding (the body goes on
   * decoded) and a repeated Content-Length (one is enough).
   */
  #request(head: RequestHead, signal: ClientAbort, body: RequestBody | undefined): ClientRequest {
    const { method, fields, framing } = head;
    if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new RequestError(501, "method not supported");
    const host = this.#server.normalHost(head.host);
    const target = URL_WOULD_CHANGE.test(head.path) ? _normalPath(head.path) : head.path;
    if (head.expectContinue) fields.delete("expect");
    if (head.target.charCodeAt(0) !== 47 || host !== head.host) fields.set("host", host);
    // The framing fields say what the body is, once: the member gets it decoded or re-framed.
    if (framing.type === "chunked") fields.delete("transfer-encoding");
    else if (framing.type === "length" && fields.get("content-length") !== `${framing.length}`) fields.set("content-length", `${framing.length}`);
    return {
      method,
      target,
      host,
      fields,
      body: body ?? null,
      // A client's own `content-length: 0` goes on: servers that insist on a length for POST expect it.
      framing: framing.type === "length" ? framing.length : framing.type === "chunked" ? -1 : fields.has("content-length") ? 0 : null,
      webSocket: head.upgrade,
      signal,
      version: head.version,
    };
  }

  /** Writes the handler's answer; true when the connection may carry another request. */
  async #respond(head: RequestHead, answer: Answer): Promise<boolean> {
    if (this.#continuing) await this.#continuing.catch(_noop);
    const framing = _responseFraming(head, answer);
    // A 1xx as the final answer (a 101 without taking the connection over) leaves the client
    // expecting something other than HTTP next: nothing more goes on this connection.
    const keepAlive = head.keepAlive && framing !== UNTIL_CLOSE && !this.#server.draining && answer.status >= 200 &&
      !_saysClose(answer.fields.get("connection")) && (this.#body?.done ?? true) && !this.#closed;
    const connection = !keepAlive ? "close" : head.version === "HTTP/1.0" ? "keep-alive" : undefined;
    this.#responding = true;
    const bytes = encodeResponseHead(answer.status, answer.fields, framing, connection);
    const { body } = answer;
    if (framing === NO_BODY || body === null) {
      _cancel(answer);
      await this.#write(bytes);
      return keepAlive && (framing.type !== "length" || framing.length === 0);
    }
    if (body instanceof Uint8Array) {
      // Whole bytes come with their own length: head and body in one write when small.
      if (bytes.length + body.length <= COALESCE_BYTES) await this.#write(concatBytes(bytes, body));
      else {
        await this.#write(bytes);
        await this.#write(body);
      }
      return keepAlive;
    }
    try {
      return await this.#copyBody(body, bytes, framing) && keepAlive;
    } catch {
      // The client left, stopped taking bytes, or the handler's body failed: either way the answer ends with the connection.
      body.cancel(this.#expired === "body" ? this.#bodyTimeout() : undefined);
      return false;
    }
  }

  /** Writes head and body; true when the body matched its framing. */
  async #copyBody(body: BodyReader, head: Uint8Array, framing: ResponseBodyFraming): Promise<boolean> {
    let pending: Uint8Array | undefined = head;
    let remaining = framing.type === "length" ? framing.length : Infinity;
    for (let piece = await body.read(); piece !== null; piece = await body.read()) {
      let chunk = piece;
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
        body.cancel();
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
    if (!(error instanceof RequestError)) {
      await this.#sendError(500, "internal error").catch(_noop);
      return;
    }
    if (error.status !== 408) this.#options.onRefused?.(error.status, error.reason);
    // The request timeout was set at the request's first byte (the connection's start for the first).
    const received = this.#deadline.setAt;
    const bytesOut = await this.#sendError(error.status, error.reason).catch(() => 0);
    const { onBadRequest, clock, listener } = this.#options;
    if (onBadRequest === undefined) return;
    const remote = this.#remote;
    onBadRequest({
      status: error.status,
      reason: error.reason,
      client: remote.address,
      clientPort: remote.port,
      listener,
      tls: this.#options.tls,
      tlsVersion: remote.tls?.version,
      sni: remote.tls?.serverName,
      received,
      refused: clock.now(),
      bytesOut,
      listenerConnections: this.#server.connections,
    });
  }

  /** A short plain-text answer that closes the connection; the reason is ours, never the client's bytes. Resolves with the body's length. */
  async #sendError(status: number, reason: string): Promise<number> {
    const text = encoder.encode(`${status} ${reasonPhrase(status)}: ${reason}\n`);
    const head = encodeResponseHead(status, ERROR_FIELDS, { type: "length", length: text.length }, "close");
    this.#responding = true;
    await this.#write(concatBytes(head, text));
    return text.length;
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
    this.#expired = "body";
    this.#close();
    this.#options.onTimeout?.("body");
  };

  #bodyTimeout(): ClientTimeout {
    return new ClientTimeout(`client silent for ${this.#options.timeouts.body} ms`);
  }

  #expire(kind: TimeoutKind): void {
    this.#expired = kind;
    this.#notify();
    this.#options.onTimeout?.(kind);
  }
}

/**
 * The body's length decides for bytes; a reader's answer keeps a plain Content-Length of its own,
 * else goes chunked (HTTP/1.0 has no chunked coding: its body runs until the connection closes).
 */
function _responseFraming(head: RequestHead, { status, fields, body }: Answer): ResponseBodyFraming {
  if (head.method === "HEAD" || status < 200 || status === 204 || status === 304) return NO_BODY;
  if (body === null) return EMPTY_BODY;
  if (body instanceof Uint8Array) return { type: "length", length: body.length };
  const length = fields.get("content-length");
  if (length !== null && LENGTH.test(length)) return { type: "length", length: Number(length) };
  return head.version === "HTTP/1.0" ? UNTIL_CLOSE : CHUNKED;
}

/** A body the answer will not be sent with is let go of. */
function _cancel(answer: Answer | undefined): void {
  const body = answer?.body;
  if (body && !(body instanceof Uint8Array)) body.cancel();
}

/** A target with dot segments or characters a URL parser encodes, as the parser gives it back. */
function _normalPath(path: string): string {
  const url = URL.parse(`http://host${path}`);
  if (!url) throw new RequestError(400, "malformed request target");
  return url.pathname + url.search;
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
