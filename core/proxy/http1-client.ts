/**
 * The proxy's HTTP/1.1 upstream client over the {@link Connect} port. Runtime `fetch` cannot serve
 * here: it rewrites headers and bodies, has no connect timeout, and hides whether a failed request
 * ever reached the backend, which decides whether retrying elsewhere is safe.
 *
 * ```ts
 * import { Http1Client } from "./http1-client.ts";
 * import { Fields } from "../http/message.ts";
 * const client = new Http1Client({ connect, clock });
 * const answer = await client.request(
 *   { hostname: "127.0.0.1", port: 8080 },
 *   { method: "GET", target: "/", fields: new Fields(["host", "app"]), body: null, framing: null },
 *   { connect: 1000, response: 30_000, idle: 30_000 },
 * );
 * console.log(answer.status);
 * ```
 *
 * @module
 */

import type { Answer, BodyReader, ClientSignal, Fields, RequestFraming } from "../http/message.ts";
import type { Clock, Connect, StreamConnection } from "../ports.ts";
import { Deadline } from "./deadline.ts";
import {
  type BodyFraming,
  chunkedFraming,
  closeFraming,
  concatBytes,
  encodeChunk,
  encodeRequestHead,
  findHeadEnd,
  LAST_CHUNK,
  lengthFraming,
  parseResponseHead,
  ProtocolError,
  type ResponseHead,
} from "./http1-parse.ts";

export const UPSTREAM_ERROR_KINDS = [
  "connect-failure",
  "connect-timeout",
  "response-timeout",
  "empty-response",
  "junk-response",
  "body-error",
  "aborted",
] as const;

export type UpstreamErrorKind = typeof UPSTREAM_ERROR_KINDS[number];

/** Every failure of {@link Http1Client.request} and of its response bodies. */
export class UpstreamError extends Error {
  readonly code = "UPSTREAM";
  /** How long opening the connection took, for a failure after a new one was open (the access log's Tc); 0 on a kept-alive one. */
  connectMs: number | undefined;
  constructor(
    /** What went wrong; connect-* kinds guarantee that nothing was sent. */
    readonly kind: UpstreamErrorKind,
    /** Whether the request may have reached the backend (retrying elsewhere is then unsafe). */
    readonly sent: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "UpstreamError";
  }
}

export interface Origin {
  hostname: string;
  port: number;
  tls?: { serverName: string; caCerts?: string[]; verify: boolean };
}

export interface UpstreamRequest {
  method: string;
  /** Origin-form, e.g. "/a/b?x=1". */
  target: string;
  /** Sent as given (including Host), except the framing fields, which `framing` decides. */
  fields: Fields;
  body: BodyReader | null;
  /** How `body` goes on the wire (null: no body; a length must be exactly the body's). */
  framing: RequestFraming;
  /** Aborting closes the connection; it is never reused. */
  signal?: ClientSignal;
  /**
   * Never send this on a pooled connection (HAProxy's `http-reuse safe` for the first request of
   * a client connection): a pooled connection may be closed by the member just as the request
   * goes out, or carry stray bytes, and only a fresh one rules both out.
   */
  freshConnection?: boolean;
}

/**
 * A member's answer: its fields belong to the receiver (it may change them), and a body that came
 * whole with the head (small responses) is handed over as bytes, not as a reader. `connectMs`:
 * how long opening a new connection took, absent when a kept-alive one carried the request.
 */
export type UpstreamResponse = Answer & { connectMs?: number };

/** A member's answer to a protocol switch: on 101, its connection and every byte it sent so far. */
export type UpgradeAnswer =
  | { status: 101; received: Uint8Array; connection: StreamConnection }
  | { status: number; received?: undefined; connection?: undefined };

export interface Http1ClientOptions {
  connect: Connect;
  clock: Clock;
  /** How long an idle keep-alive connection stays pooled (ms). */
  keepAliveTimeout?: number;
  maxIdlePerOrigin?: number;
}

/** Milliseconds; 0 or Infinity disables a timeout. `idle` is the longest pause inside a body. */
export interface RequestTimeouts {
  connect: number;
  response: number;
  idle: number;
}

const MAX_HEAD = 64 * 1024;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** RFC 9110 §9.2.2: a request with this method may be sent twice. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}
const EMPTY = new Uint8Array(0);
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TARGET = /^[!-~]+$/;
const _noop = () => {};

/** One HTTP/1.1 connection; `read` hands out the pending read started while it was pooled. */
class _Conn {
  /** The one timer of this connection: response, body idle and keep-alive take turns. */
  readonly deadline: Deadline;
  failure: UpstreamError | undefined;
  closed = false;
  idle = false;
  #pendingRead: Promise<Uint8Array | null> | undefined;

  constructor(readonly key: string, readonly stream: StreamConnection, clock: Clock) {
    this.deadline = new Deadline(clock);
  }

  read(): Promise<Uint8Array | null> {
    const pending = this.#pendingRead;
    if (pending === undefined) return this.stream.read();
    this.#pendingRead = undefined;
    return pending;
  }

  /** Undefined when the socket took every byte at once, else settles when it has; rejects when the connection is gone. */
  write(data: Uint8Array): Promise<void> | undefined {
    try {
      return this.stream.write(data);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A pooled connection must not send anything: any read result means it is gone or broken. */
  watchWhileIdle(onSettled: () => void): void {
    const pending = this.stream.read();
    this.#pendingRead = pending;
    pending.then(onSettled, onSettled);
  }

  fail(error: UpstreamError): void {
    this.failure ??= error;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deadline.dispose();
    this.stream.close();
  }
}

/** What `request` prepares once for the attempt on a pooled connection and its retry. */
interface _Call {
  head: Uint8Array;
  isHead: boolean;
  /** A request that went out on a pooled connection which then closed unanswered may be sent again on a fresh one. */
  replayable: boolean;
  body: BodyReader | null;
  /** Declared request body length; -1 sends the body chunked. */
  length: number;
  signal: ClientSignal | undefined;
  timeouts: RequestTimeouts;
}

/** State of one request on one connection. */
class _Exchange {
  sent = false;
  received = false;
  bodyTouched = false;
  uploadDone = false;
  reusable = false;
  finished = false;
  awaitingHead = true;
  body: BodyReader | undefined;
  detach: () => void = _noop;
  constructor(readonly conn: _Conn, readonly responseTimeout: number) {}

  /** The response timeout runs while the backend owes us the head, not while the client is slow. */
  waitForBackend(waiting: boolean): void {
    if (!this.awaitingHead) return;
    if (waiting) this.conn.deadline.set(this.responseTimeout, this.#onResponseTimeout);
    else this.conn.deadline.clear();
  }

  readonly #onResponseTimeout = () => {
    const message = `no response head within ${this.responseTimeout} ms`;
    this.conn.fail(new UpstreamError("response-timeout", true, message));
  };
}

/** Reads the next chunk; null at end of stream. A recorded failure (timeout, abort) wins. */
async function _read(
  conn: _Conn,
  onError: (cause: unknown) => UpstreamError,
): Promise<Uint8Array | null> {
  let chunk: Uint8Array | null;
  try {
    chunk = await conn.read();
  } catch (error) {
    throw conn.failure ?? onError(error);
  }
  if (conn.failure) throw conn.failure;
  return chunk;
}

function _junk(message: string, cause?: unknown): UpstreamError {
  return new UpstreamError("junk-response", true, message, { cause });
}

function _empty(sent: boolean, message: string, cause?: unknown): UpstreamError {
  return new UpstreamError("empty-response", sent, message, { cause });
}

function _bodyError(message: string, cause?: unknown): UpstreamError {
  return new UpstreamError("body-error", true, message, { cause });
}

/** Trust lists told apart by identity: configs hand the same array to every request. */
const _caListIds = new WeakMap<string[], number>();
let _caListCount = 0;

function _originKey({ hostname, port, tls }: Origin): string {
  if (!tls) return `tcp:${hostname}:${port}`;
  let ca = tls.caCerts ? _caListIds.get(tls.caCerts) : 0;
  if (ca === undefined) _caListIds.set(tls.caCerts!, ca = ++_caListCount);
  return `tls:${tls.serverName}:${tls.verify}:${ca}:${hostname}:${port}`;
}

export class Http1Client {
  readonly #connect: Connect;
  readonly #clock: Clock;
  readonly #keepAliveTimeout: number;
  readonly #maxIdlePerOrigin: number;
  readonly #idle = new Map<string, _Conn[]>();
  #idleCount = 0;

  constructor(options: Http1ClientOptions) {
    this.#connect = options.connect;
    this.#clock = options.clock;
    this.#keepAliveTimeout = options.keepAliveTimeout ?? 30_000;
    this.#maxIdlePerOrigin = options.maxIdlePerOrigin ?? 64;
  }

  get idleConnections(): number {
    return this.#idleCount;
  }

  close(): void {
    for (const list of this.#idle.values()) {
      for (const conn of list) this.#closeIdle(conn);
    }
    this.#idle.clear();
    this.#idleCount = 0;
  }

  /**
   * Resolves once the response head has arrived; the body streams with backpressure. Rejects with
   * {@link UpstreamError} only (a TypeError for a method or target that would corrupt the head).
   */
  async request(
    origin: Origin,
    request: UpstreamRequest,
    timeouts: RequestTimeouts,
  ): Promise<UpstreamResponse> {
    const { method, target, fields, body, framing, signal, freshConnection } = request;
    if (!METHOD.test(method) || !TARGET.test(target)) {
      throw new TypeError(`invalid request line: ${JSON.stringify(`${method} ${target}`)}`);
    }
    if (body === null ? framing !== null && framing !== 0 : framing === null) throw new TypeError("the framing does not describe the body");
    if (signal?.aborted) throw new UpstreamError("aborted", false, "aborted before connecting");
    const head = encodeRequestHead(method, target, fields, framing);
    const call: _Call = { head, isHead: method === "HEAD", replayable: isIdempotent(method), body, length: framing ?? 0, signal, timeouts };
    const key = _originKey(origin);
    const pooled = freshConnection ? undefined : this.#takeIdle(key);
    if (pooled) {
      const response = await this.#exchange(pooled, true, call);
      if (response) return response;
    }
    const connecting = this.#clock.now();
    const conn = await this.#open(origin, key, signal, timeouts.connect);
    const connectMs = this.#clock.now() - connecting;
    let response: UpstreamResponse;
    try {
      response = (await this.#exchange(conn, false, call))!;
    } catch (error) {
      if (error instanceof UpstreamError) error.connectMs = connectMs;
      throw error;
    }
    response.connectMs = connectMs;
    return response;
  }

  /**
   * Sends a protocol-switching request (a WebSocket handshake) on a connection of its own and
   * reads the member's answer head. On 101 the connection is handed over with the head as
   * received (and whatever followed it), to be joined to the client's byte for byte; on any other
   * status it is closed. Rejects with {@link UpstreamError}.
   */
  async upgrade(origin: Origin, request: UpstreamRequest, timeouts: RequestTimeouts): Promise<UpgradeAnswer> {
    const conn = await this.#open(origin, _originKey(origin), request.signal, timeouts.connect);
    const failed = (cause: unknown) => conn.failure ?? _empty(true, "connection failed before the upgrade answer", cause);
    try {
      const writing = conn.write(encodeRequestHead(request.method, request.target, request.fields, null));
      if (writing) await writing;
      conn.deadline.set(timeouts.response, () => conn.fail(new UpstreamError("response-timeout", true, `no upgrade answer within ${timeouts.response} ms`)));
      let received: Uint8Array = EMPTY;
      let end = -1;
      while (end < 0) {
        if (received.length > MAX_HEAD) throw _junk("upgrade answer head larger than 64 KiB");
        const chunk = await _read(conn, failed);
        if (chunk === null) throw received.length > 0 ? _junk("connection closed inside the upgrade answer") : _empty(true, "connection closed before the upgrade answer");
        const scanFrom = Math.max(0, received.length - 3);
        received = concatBytes(received, chunk);
        end = findHeadEnd(received, scanFrom);
      }
      let status: number;
      try {
        status = parseResponseHead(received.subarray(0, end)).status;
      } catch (error) {
        throw _junk(`invalid upgrade answer: ${(error as Error).message}`, error);
      }
      conn.deadline.dispose();
      if (status !== 101) {
        conn.close();
        return { status };
      }
      return { status, received, connection: conn.stream };
    } catch (error) {
      conn.close();
      throw error instanceof UpstreamError ? error : failed(error);
    }
  }

  #open(origin: Origin, key: string, signal: ClientSignal | undefined, ms: number): Promise<_Conn> {
    const { hostname, port, tls } = origin;
    return new Promise((resolve, reject) => {
      const attempt = new AbortController();
      let settled = false;
      let cancelTimer = _noop;
      const settle = (kind?: UpstreamErrorKind, message = "", cause?: unknown): boolean => {
        if (settled) return false;
        settled = true;
        cancelTimer();
        signal?.removeEventListener("abort", onAbort);
        if (kind) {
          const where = `connect to ${hostname}:${port}`;
          const error = new UpstreamError(kind, false, `${where} ${message}`, { cause });
          attempt.abort(error);
          reject(error);
        }
        return true;
      };
      const onAbort = () => settle("aborted", "aborted by the client");
      if (ms > 0 && ms < Infinity) {
        const timeout = () => settle("connect-timeout", `timed out after ${ms} ms`);
        cancelTimer = this.#clock.setTimer(timeout, Math.min(ms, 2 ** 31 - 1));
      }
      signal?.addEventListener("abort", onAbort);
      if (signal?.aborted) onAbort();
      const options = { hostname, port, tls, signal: attempt.signal };
      // Through a promise so that an adapter throwing synchronously still ends as connect-failure.
      new Promise<StreamConnection>((opened) => opened(this.#connect(options)))
        .then(
          (stream) => settle() ? resolve(new _Conn(key, stream, this.#clock)) : stream.close(),
          (error) => settle("connect-failure", `failed: ${error?.message ?? error}`, error),
        );
    });
  }

  /** Undefined means a pooled connection turned out stale before anything was lost: retry fresh. */
  async #exchange(conn: _Conn, reused: boolean, call: _Call): Promise<UpstreamResponse | undefined> {
    const { body, signal, timeouts } = call;
    const ex = new _Exchange(conn, timeouts.response);
    const onAbort = () => conn.fail(new UpstreamError("aborted", ex.sent, "request aborted"));
    signal?.addEventListener("abort", onAbort);
    ex.detach = () => signal?.removeEventListener("abort", onAbort);
    if (signal?.aborted) onAbort();
    let response: ResponseHead;
    let rest: Uint8Array;
    try {
      try {
        const writing = conn.write(call.head);
        if (writing) await writing;
      } catch (cause) {
        throw conn.failure ?? _empty(false, "connection closed before the request was sent", cause);
      }
      ex.sent = true;
      ex.waitForBackend(true);
      if (body) this.#upload(ex, body, call.length);
      else ex.uploadDone = true;
      [response, rest] = await this.#readHead(ex);
    } catch (error) {
      this.#finish(ex, false);
      // The member may have closed the pooled connection just before our request reached it, or
      // after running it: only a request that may run twice gets another try.
      const stale = reused && (error as UpstreamError).kind === "empty-response";
      if (stale && call.replayable && !ex.received && !ex.bodyTouched) return undefined;
      throw error;
    }
    ex.waitForBackend(false);
    ex.awaitingHead = false;
    return this.#respond(ex, response, rest, call.isHead, timeouts.idle);
  }

  async #readHead(ex: _Exchange): Promise<[ResponseHead, Uint8Array]> {
    let buf: Uint8Array = EMPTY;
    let scanFrom = 0;
    let interimBytes = 0;
    for (;;) {
      const end = findHeadEnd(buf, scanFrom);
      if (interimBytes + (end < 0 ? buf.length : end + 4) > MAX_HEAD) {
        throw _junk("response head larger than 64 KiB");
      }
      if (end < 0) {
        scanFrom = Math.max(0, buf.length - 3);
        const chunk = await _read(ex.conn, (cause) =>
          ex.received
            ? _junk("connection failed inside the response head", cause)
            : _empty(true, "connection failed before any response byte", cause));
        if (chunk === null) {
          throw ex.received
            ? _junk("connection closed inside the response head")
            : _empty(true, "connection closed before any response byte");
        }
        ex.received ||= chunk.length > 0;
        buf = concatBytes(buf, chunk);
        continue;
      }
      let head: ResponseHead;
      try {
        head = parseResponseHead(buf.subarray(0, end));
      } catch (error) {
        throw _junk(`invalid response head: ${(error as Error).message}`, error);
      }
      buf = buf.subarray(end + 4);
      if (head.status >= 200 && head.status <= 599) return [head, buf];
      // 1xx are interim (100 Continue, 103 Early Hints), but 101 would switch protocols.
      if (head.status < 100 || head.status === 101 || head.status > 599) {
        throw _junk(`unsupported response status ${head.status}`);
      }
      interimBytes += end + 4;
      scanFrom = 0;
    }
  }

  #respond(
    ex: _Exchange,
    head: ResponseHead,
    rest: Uint8Array,
    isHead: boolean,
    idle: number,
  ): UpstreamResponse {
    const { status, fields, contentLength, keepAlive } = head;
    const bodyless = isHead || status === 204 || status === 304;
    // 205 may not carry content in a Response; any framed body on it spoils the connection.
    if (bodyless || status === 205 || contentLength === 0) {
      ex.reusable = keepAlive && rest.length === 0 && (bodyless || contentLength === 0);
      this.#finish(ex, true);
      return { status, fields, body: null };
    }
    // The whole body came with the head (small responses): hand it over as bytes, no reader built.
    if (!head.chunked && contentLength > 0 && rest.length === contentLength) {
      ex.reusable = keepAlive;
      this.#finish(ex, true);
      return { status, fields, body: rest };
    }
    const conn = ex.conn;
    const onIdle = () => conn.fail(_bodyError(`no response body bytes for ${idle} ms`));
    let pending: Uint8Array | null = rest.length > 0 ? rest : null;
    const read = async () => {
      if (pending) {
        const chunk = pending;
        pending = null;
        return chunk;
      }
      conn.deadline.set(idle, onIdle);
      const chunk = await _read(conn, (cause) => _bodyError("body read failed", cause));
      // Between reads the consumer is the slow side, not the backend.
      conn.deadline.clear();
      return chunk;
    };
    let framing: BodyFraming;
    if (head.chunked) framing = chunkedFraming(read);
    else if (contentLength > 0) framing = lengthFraming(contentLength, read);
    else framing = closeFraming(read);
    ex.reusable = keepAlive && (head.chunked || contentLength > 0);
    return { status, fields, body: new _ResponseBody(framing, (complete) => this.#finish(ex, complete)) };
  }

  /** Streams the request body; the response timeout pauses while the client is the slow side. */
  async #upload(ex: _Exchange, body: BodyReader, length: number) {
    const conn = ex.conn;
    const fail = (message: string, cause?: unknown) =>
      conn.fail(new UpstreamError("aborted", true, message, { cause }));
    ex.body = body;
    let written = 0;
    for (;;) {
      ex.waitForBackend(false);
      ex.bodyTouched = true;
      let piece: Uint8Array | null;
      try {
        piece = await body.read();
      } catch (error) {
        return fail("request body failed", error);
      }
      if (conn.closed) return;
      ex.waitForBackend(true);
      if (piece === null) break;
      written += piece.length;
      if (length >= 0 && written > length) return fail("request body exceeds its content-length");
      try {
        const writing = conn.write(length >= 0 ? piece : encodeChunk(piece));
        if (writing) await writing;
      } catch {
        // The backend may have answered early (413) and closed; the head reader reports the rest.
        body.cancel();
        return;
      }
    }
    if (length >= 0 && written < length) return fail("request body ended before its length");
    try {
      if (length < 0) await conn.write(LAST_CHUNK);
      ex.uploadDone = true;
    } catch {
      // As above: the connection is unusable now and the response decides the outcome.
    }
  }

  /** Pools the connection only when the exchange ended cleanly in both directions. */
  #finish(ex: _Exchange, complete: boolean): void {
    if (ex.finished) return;
    ex.finished = true;
    ex.detach();
    const conn = ex.conn;
    if (complete && ex.reusable && ex.uploadDone && !conn.closed) {
      this.#release(conn);
      return;
    }
    conn.close();
    if (!ex.uploadDone) ex.body?.cancel();
  }

  #takeIdle(key: string): _Conn | undefined {
    const conn = this.#idle.get(key)?.pop();
    if (!conn) return undefined;
    this.#idleCount--;
    conn.idle = false;
    conn.deadline.clear();
    return conn;
  }

  #release(conn: _Conn): void {
    let list = this.#idle.get(conn.key);
    if (!list) this.#idle.set(conn.key, list = []);
    if (list.length >= this.#maxIdlePerOrigin) {
      conn.close();
      return;
    }
    list.push(conn);
    this.#idleCount++;
    conn.idle = true;
    const evict = () => this.#evict(conn);
    conn.deadline.set(this.#keepAliveTimeout, evict);
    conn.watchWhileIdle(evict);
  }

  #evict(conn: _Conn): void {
    if (!conn.idle) return;
    const list = this.#idle.get(conn.key)!;
    list.splice(list.indexOf(conn), 1);
    if (list.length === 0) this.#idle.delete(conn.key);
    this.#idleCount--;
    this.#closeIdle(conn);
  }

  #closeIdle(conn: _Conn): void {
    conn.idle = false;
    conn.close();
  }
}

/**
 * A member's response body, decoded from its framing. The connection is pooled (or closed) as
 * soon as the framing is complete, before the reader sees the end.
 */
class _ResponseBody implements BodyReader {
  #ended = false;

  constructor(readonly framing: BodyFraming, readonly end: (complete: boolean) => void) {}

  async read(): Promise<Uint8Array | null> {
    const framing = this.framing;
    while (!this.#ended) {
      let piece: Uint8Array | null;
      try {
        piece = await framing.next();
      } catch (error) {
        this.#finish(false);
        throw error instanceof ProtocolError ? _bodyError(error.message, error) : error;
      }
      if (piece === null || framing.complete()) this.#finish(framing.complete());
      if (piece !== null && piece.length > 0) return piece;
    }
    return null;
  }

  cancel(): void {
    this.#finish(false);
  }

  #finish(complete: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.end(complete);
  }
}
