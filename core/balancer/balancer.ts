/**
 * The data plane: `handle(request, conn)` routes a client's request to a pool, applies
 * stickiness, picks and reserves a member, forwards with retries and redispatch, and returns the
 * member's answer with cookies and fields fixed up. It works on the compact message of
 * `core/http/message.ts`, which the socket front end builds straight from the wire; `fetch` is the
 * web front end over the same steps (edge workers). Runtimes hand in the clock, the upstream
 * client and the log sink, so the same code runs on Bun, Deno, an edge worker and in tests.
 *
 * The steps of one request, each a method below: route → forwarding fields (`#prepareFields`) →
 * read the session (`#readSession`) → choose a member (`#chooseMember`) → wait for its slot
 * (`pool.acquire`) → send (`#attempt`) → retry verdict (`#failed`, `retryOn`) → sticky write on
 * the answer (`#respond`) → access line and metrics (`_Exchange.finish`).
 *
 * @example
 * ```ts
 * const balancer = createBalancer(config, { clock, upstream: client.request.bind(client), log: console.log });
 * await listenHttp1(platform, "0.0.0.0", 8080, (request, conn) => balancer.handle(request, conn), { config: listener });
 * ```
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { ErrorPage } from "../config/files.ts";
import type { Clock, ConnInfo, LogSink, StreamConnection } from "../ports.ts";
import type { PassiveError } from "../health/schema.ts";
import type { HealthTransition } from "../health/member-health.ts";
import type { ProbeClient } from "../health/http-probe.ts";
import type { Origin, RequestTimeouts, UpgradeAnswer, UpstreamErrorKind, UpstreamRequest, UpstreamResponse } from "../proxy/http1-client.ts";
import { type Answer, type BodyReader, type ClientRequest, Fields, pathOf, textAnswer } from "../http/message.ts";
import { fromWebRequest, toWebResponse } from "../http/web.ts";
import { joinConnections } from "../proxy/relay.ts";
import { reasonPhrase } from "../frontend/http1-request.ts";
import { isIdempotent, UpstreamError } from "../proxy/http1-client.ts";
import { applyForwarding, HeaderError, stripHopByHop } from "../proxy/headers.ts";
import type { StickyLookup } from "../sticky/mode.ts";
import { parseCookieHeader } from "../sticky/cookies.ts";
import { Member, Pool } from "./pool.ts";
import type { BalancerMetrics } from "./metrics.ts";
import { createRouter, type Router } from "./router.ts";

/** Sends one request to one member; rejects with UpstreamError. */
export type Upstream = (origin: Origin, request: UpstreamRequest, timeouts: RequestTimeouts) => Promise<UpstreamResponse>;

/** Sends a protocol-switching request to one member on a connection of its own; rejects with UpstreamError. */
export type UpstreamUpgrade = (origin: Origin, request: UpstreamRequest, timeouts: RequestTimeouts) => Promise<UpgradeAnswer>;

export interface BalancerPorts {
  clock: Clock;
  upstream: Upstream;
  /** WebSocket: the handshake goes to a member on a connection of its own, joined byte for byte to the client's after the member's 101; none = upgrades are forwarded as plain requests. */
  upgrade?: UpstreamUpgrade;
  log: LogSink;
  /** The client active health checks use (its own pool: probes never ride on proxied connections); none = no active checks. */
  probeClient?: ProbeClient;
  /** Told of every member's health transition (worker 0 passes its checks' verdicts on to the other workers). */
  onHealth?: (pool: string, member: string, transition: HealthTransition) => void;
  /** No timers on this platform (edge): run due health checks when requests arrive. */
  lazyHealth?: boolean;
  metrics?: BalancerMetrics;
  /** The trusted CAs (PEM) for a pool's `https://` members when its `tls.ca` is set; read whenever pools are built. */
  caCerts?: (pool: string) => string[] | undefined;
  /** The operator's page for an answer tandem gives by itself (`errorPages`), if any. */
  errorPage?: (status: number) => ErrorPage | undefined;
}

export interface Balancer {
  /** The config in force (the latest successful reload). */
  readonly config: Config;
  readonly pools: ReadonlyMap<string, Pool>;
  /**
   * Swaps in a new, already validated config atomically: requests in flight finish on the old
   * one; members with the same name and URL keep their state (counters, health, in-flight
   * count) and learn-mode pools keep their sticky entries.
   */
  reload(config: Config): void;
  /** Stops health checking (shutdown). */
  close(): void;
  /** Answers one client request; undefined only when it took the client connection over (WebSocket). */
  handle(request: ClientRequest, conn: ConnInfo): Promise<Answer | undefined>;
  /** The web front end: `handle` for a web Request (edge workers, tests). */
  fetch(request: Request, conn: ConnInfo): Promise<Response | undefined>;
  /** Requests still being answered (headers or body), for graceful shutdown. */
  readonly inFlight: number;
}

/** How the request's session was handled, for the access log. */
type StickyDecision = "none" | "new" | "hit" | "moved";

/** How an upstream failure counts for passive health (a broken response is a server error). */
const _OUTCOME_OF_ERROR: Record<Exclude<UpstreamErrorKind, "aborted">, PassiveError> = {
  "connect-failure": "connect",
  "connect-timeout": "timeout",
  "response-timeout": "timeout",
  "empty-response": "5xx",
  "junk-response": "5xx",
  "body-error": "5xx",
};

/**
 * Responses declaring at most this many bytes are read whole before the client gets them (as
 * HAProxy buffers them): one write to the client instead of a stream, the member's slot freed
 * sooner, and a member that fails inside such a body gets a clean 502 rather than a cut response.
 * The one write matters on Deno's TLS listener, which leaves Nagle on: a body written after its
 * head waits for the client's delayed ACK, 40 ms per request.
 */
const BUFFERED_BODY_LIMIT = 64 * 1024;

/** Everything derived from one config; replaced whole on reload. */
interface State {
  config: Config;
  pools: Map<string, Pool>;
  route: Router;
}

export function createBalancer(config: Config, ports: BalancerPorts): Balancer {
  return new _Balancer(config, ports);
}

/** Where a request's session sends it, read once before the attempts. */
interface _Session {
  lookup: StickyLookup;
  /** The session's member, when it names one of this pool. */
  stuck: Member | undefined;
  hashKey: string | undefined;
}

/**
 * One request on its way through the balancer: the pool it was routed to, the fields going to
 * the member (the request's own: the front end hands them over), its access record, and the
 * bookkeeping of its attempts.
 */
class _Exchange {
  readonly entry: AccessRecord;
  readonly started: number;
  /** Members that failed this request (or whose queue timed out): not tried again. */
  tried: ReadonlySet<Member> = NO_MEMBERS;
  lastError: UpstreamError | undefined;
  /** The member of the last attempt, where a retry without redispatch goes back to. */
  previous: Member | undefined;

  constructor(
    readonly ports: BalancerPorts,
    readonly config: Config,
    readonly pool: Pool,
    readonly request: ClientRequest,
    readonly conn: ConnInfo,
    readonly path: string,
    readonly release: () => void,
  ) {
    this.started = ports.clock.now();
    this.entry = {
      time: "",
      client: conn.remoteAddress,
      method: request.method,
      path,
      status: 0,
      pool: pool.name,
      member: null,
      sticky: "none",
      upstreamMs: null,
      totalMs: 0,
      bytesIn: request.framing !== null && request.framing > 0 ? request.framing : 0,
      bytesOut: 0,
      retries: 0,
      redispatched: false,
    };
  }

  get fields(): Fields {
    return this.request.fields;
  }

  /** Most requests never exclude anyone: the set is made for the first. */
  exclude(member: Member): void {
    if (this.tried === NO_MEMBERS) this.tried = new Set([member]);
    else (this.tried as Set<Member>).add(member);
  }

  /** The answer is settled: counts it, frees the in-flight slot and writes the access line. */
  readonly finish = (status: number): void => {
    const { entry, ports } = this;
    this.release();
    entry.status = status;
    entry.totalMs = _elapsed(ports.clock, this.started);
    ports.metrics?.request(this.pool.name, entry.member ?? "", status, entry.totalMs / 1000);
    if (this.config.accessLog) {
      // Formatted only when logged: toISOString per request shows in profiles.
      entry.time = new Date(this.started).toISOString();
      ports.log(entry);
    }
  };

  /** The member answered and its body is sent (or given up): its slot is free, the answer counted. */
  answered(member: Member, status: number): void {
    const { entry } = this;
    this.pool.release(member);
    member.countResponse(status);
    member.bytesIn += entry.bytesIn;
    member.bytesOut += entry.bytesOut;
    if (entry.sticky !== "none") member.sessions[entry.sticky]++;
    this.finish(status);
    member.latency.record(entry.totalMs);
  }

  /** tandem answers by itself; `message` goes to the access line (and to the client for a 4xx). */
  fail(status: number, message: string, extra?: string[]): Answer {
    const answer = _errorAnswer(status, message, extra, this.ports.errorPage?.(status));
    this.entry.error = message;
    // The bytes the client gets, as for a member's answer.
    this.entry.bytesOut = (answer.body as Uint8Array).length;
    this.finish(status);
    return answer;
  }
}

/** What an attempt on one member came to: the answer, or go on with the next attempt, or stop trying. */
type _Outcome = Answer | undefined | "next" | "stop";

class _Balancer implements Balancer {
  readonly #ports: BalancerPorts;
  #state: State;
  #inFlight = 0;

  constructor(config: Config, ports: BalancerPorts) {
    this.#ports = ports;
    this.#state = this.#buildState(config);
  }

  get config(): Config {
    return this.#state.config;
  }

  get pools(): ReadonlyMap<string, Pool> {
    return this.#state.pools;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  reload(config: Config): void {
    this.#state = this.#buildState(config, this.#state);
  }

  close(): void {
    for (const pool of this.#state.pools.values()) pool.stopHealth();
  }

  async fetch(request: Request, conn: ConnInfo): Promise<Response | undefined> {
    const taken = fromWebRequest(request);
    if (!("fields" in taken)) return toWebResponse(_errorAnswer(taken.status, taken.message, undefined, this.#ports.errorPage?.(taken.status)));
    const answer = await this.handle(taken, conn);
    return answer && toWebResponse(answer);
  }

  async handle(request: ClientRequest, conn: ConnInfo): Promise<Answer | undefined> {
    this.#inFlight++;
    let counted = true;
    const release = () => {
      if (counted) {
        counted = false;
        this.#inFlight--;
      }
    };
    try {
      return await this.#handle(request, conn, release);
    } catch (error) {
      release();
      throw error;
    }
  }

  #buildState(config: Config, previous?: State): State {
    const ports = this.#ports;
    const onHealth = (pool: string, member: Member, transition: HealthTransition) => {
      // Worker 0 logged a verdict the others follow: one line per transition in the process.
      if (!transition.followed) ports.log({ event: "health", pool, member: member.name, up: transition.up, reason: transition.line });
      ports.onHealth?.(pool, member.name, transition);
    };
    const pools = new Map(Object.entries(config.pools).map(([name, pool]) => [
      name,
      new Pool(name, pool, { clock: ports.clock, previous: previous?.pools.get(name), probeClient: ports.probeClient, onHealth, caCerts: ports.caCerts?.(name) }),
    ]));
    for (const [name, pool] of previous?.pools ?? []) pool.stopHealth(pools.get(name));
    if (!ports.lazyHealth) for (const pool of pools.values()) pool.startHealth();
    return { config, pools, route: createRouter(config) };
  }

  async #handle(request: ClientRequest, conn: ConnInfo, release: () => void): Promise<Answer | undefined> {
    // One state for the whole request, even if a reload swaps it meanwhile.
    const { config, pools, route } = this.#state;
    const path = pathOf(request.target);
    const pool = pools.get(route(request.host, path))!;
    if (this.#ports.lazyHealth) for (const check of pool.probeDue()) conn.waitUntil?.(check);
    const ex = new _Exchange(this.#ports, config, pool, request, conn, path, release);
    const takeOver = this.#ports.upgrade !== undefined ? conn.takeOver : undefined;
    const webSocket = takeOver !== undefined && request.webSocket;
    const refusal = this.#prepareFields(ex, webSocket);
    if (refusal) return refusal;
    // Sticky modes and the queue answer at once unless they must wait: no await (a microtask
    // turn each) for an answer that is already there.
    const reading = this.#readSession(ex);
    const session = reading instanceof Promise ? await reading : reading;
    const { retries } = pool.config;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const member = this.#chooseMember(ex, session, attempt);
      if (member === undefined) break;
      if (!(member instanceof Member)) return member;
      const acquiring = pool.acquire(member, ex.entry.sticky !== "hit", request.signal);
      const granted = acquiring instanceof Promise ? await acquiring : acquiring;
      if (!granted) {
        if (member !== session.stuck) return ex.fail(503, "no free connection slot within the queue timeout", RETRY_AFTER);
        // The session's member stayed at maxconn past the queue timeout: treat it as unusable.
        ex.exclude(member);
        attempt--;
        continue;
      }
      const outcome = webSocket ? await this.#joinWebSocket(ex, granted, takeOver!) : await this.#attempt(ex, granted, session, attempt);
      if (outcome === "stop") break;
      if (outcome !== "next") return outcome;
    }
    if (!ex.lastError) return ex.fail(503, `no usable member in pool ${pool.name}`, RETRY_AFTER);
    const timeout = ex.lastError.kind === "response-timeout";
    return ex.fail(timeout ? 504 : 502, `upstream ${ex.lastError.kind}: ${ex.lastError.message}`);
  }

  /** Hop-by-hop fields out, forwarding fields in; a Connection header abusing the proxy is refused. */
  #prepareFields(ex: _Exchange, webSocket: boolean): Answer | undefined {
    const { fields, pool, conn } = ex;
    try {
      stripHopByHop(fields, { request: true, keepUpgrade: webSocket });
    } catch (error) {
      if (error instanceof HeaderError) return ex.fail(400, error.message);
      throw error;
    }
    applyForwarding(fields, pool.config.forwarding, {
      clientAddress: conn.remoteAddress,
      trusted: pool.isTrustedProxy(conn.remoteAddress),
      proto: conn.tls ? "https" : "http",
      host: ex.request.host,
    });
  }

  #readSession(ex: _Exchange): _Session | Promise<_Session> {
    const { pool, path, fields } = ex;
    const lookup = pool.sticky ? pool.sticky.read(path, fields) : NO_SESSION;
    return lookup instanceof Promise ? lookup.then((found) => _session(ex, found)) : _session(ex, lookup);
  }

  /**
   * Which member: without redispatch a retry stays where it failed; otherwise the session's own
   * member while it can serve, else its failover; new sessions go to the strategy. An Answer is
   * `sticky.force` refusing to move a session.
   */
  #chooseMember(ex: _Exchange, { stuck, hashKey }: _Session, attempt: number): Member | Answer | undefined {
    const { pool, entry, tried } = ex;
    if (attempt > 0 && !pool.config.redispatch) return ex.previous;
    if (stuck && !tried.has(stuck) && pool.takesSticky(stuck)) {
      entry.sticky = "hit";
      return stuck;
    }
    if (stuck) {
      if (pool.config.sticky.force) return ex.fail(503, `session's member ${stuck.name} is unavailable (sticky force)`, RETRY_AFTER);
      entry.sticky = "moved";
      return pool.selectFailover(stuck, tried, hashKey);
    }
    if (pool.sticky) entry.sticky = "new";
    return pool.selectNew(tried, hashKey);
  }

  /** Sends the request to `member` (its slot already taken) and decides what its answer means. */
  async #attempt(ex: _Exchange, member: Member, session: _Session, attempt: number): Promise<_Outcome> {
    const { pool, request, fields, entry, conn } = ex;
    const before = ex.previous;
    if (before !== undefined) {
      entry.retries++;
      before.retries++;
      if (before !== member) {
        entry.redispatched = true;
        before.redispatches++;
      }
    }
    ex.previous = member;
    entry.member = member.name;
    member.requests++;
    const upstreamStarted = this.#ports.clock.now();
    let response: UpstreamResponse;
    try {
      fields.set("host", pool.config.forwarding.preserveHost ? request.host : member.url.host);
      response = await this.#ports.upstream(member.origin, {
        method: request.method,
        target: request.target,
        fields,
        body: request.body,
        framing: request.framing,
        signal: request.signal,
        freshConnection: conn.firstRequest,
      }, pool.config.timeouts);
      if (_isReader(response.body) && Number(response.fields.get("content-length") ?? Infinity) <= BUFFERED_BODY_LIMIT) {
        response.body = await _readWhole(response.body);
      }
    } catch (error) {
      pool.release(member);
      if (!(error instanceof UpstreamError)) throw error;
      entry.upstreamMs = _elapsed(this.#ports.clock, upstreamStarted);
      return this.#failed(ex, member, error);
    }
    entry.upstreamMs = _elapsed(this.#ports.clock, upstreamStarted);
    member.health.observe(response.status >= 500 ? "5xx" : "success");
    const { retries, retryOn } = pool.config;
    if (attempt < retries && _replayable(request) && retryOn.includes(String(response.status) as never)) {
      pool.release(member);
      ex.exclude(member);
      if (_isReader(response.body)) response.body.cancel();
      return "next";
    }
    return await this.#respond(ex, member, response, session.lookup);
  }

  /** An attempt that failed: a refused connect moves on, a failure after sending only when the request may be replayed. */
  #failed(ex: _Exchange, member: Member, error: UpstreamError): _Outcome {
    const { pool } = ex;
    ex.lastError = error;
    this.#ports.metrics?.upstreamError(pool.name, member.name, error.kind);
    if (error.kind === "aborted") return ex.fail(499, "client closed the request");
    ex.exclude(member);
    member.health.observe(_OUTCOME_OF_ERROR[error.kind]);
    if (error.kind === "connect-failure" || error.kind === "connect-timeout") {
      pool.markConnectFailure(member);
      return "next";
    }
    member.failures++;
    return _replayable(ex.request) && pool.config.retryOn.includes(error.kind as never) ? "next" : "stop";
  }

  /** The member's answer to the client: hop-by-hop out, the sticky cookie in, the slot held until the body is sent. */
  #respond(ex: _Exchange, member: Member, upstream: UpstreamResponse, lookup: StickyLookup): Answer | Promise<Answer> {
    // The member's fields are ours to change: no copy.
    stripHopByHop(upstream.fields);
    const writing = ex.pool.sticky?.write(upstream.fields, lookup, member.name, ex.conn.tls);
    return writing instanceof Promise ? writing.then(() => _answer(ex, member, upstream)) : _answer(ex, member, upstream);
  }

  /**
   * The client's handshake goes to the member as it came (key, version, subprotocols, extensions),
   * so the member's own 101 (with its Sec-WebSocket-Accept and chosen subprotocol) reaches the
   * client unchanged; then the two connections are joined. A member that does not switch gets 502.
   */
  async #joinWebSocket(ex: _Exchange, member: Member, takeOver: NonNullable<ConnInfo["takeOver"]>): Promise<Answer | undefined> {
    const { pool, fields, request, entry } = ex;
    pool.release(member);
    entry.member = member.name;
    member.requests++;
    fields.set("host", pool.config.forwarding.preserveHost ? request.host : member.url.host);
    const handshake = { method: "GET", target: request.target, fields, body: null, framing: null, signal: request.signal };
    let answer: UpgradeAnswer;
    try {
      answer = await this.#ports.upgrade!(member.origin, handshake, pool.config.timeouts);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      const status = error.kind === "aborted" ? 499 : error.kind === "response-timeout" ? 504 : 502;
      return ex.fail(status, `WebSocket to ${member.name}: ${error.kind}: ${error.message}`);
    }
    if (answer.connection === undefined) return ex.fail(502, `WebSocket to ${member.name}: the member answered ${answer.status}, not 101`);
    const client: { connection: StreamConnection; buffered: Uint8Array } = takeOver();
    ex.finish(101);
    void joinConnections(client.connection, answer.connection, answer.received, client.buffered);
    return undefined;
  }
}

/** After bytes went out, only an idempotent request without a body may be sent again. */
function _replayable(request: ClientRequest): boolean {
  return isIdempotent(request.method) && request.body === null;
}

function _isReader(body: Uint8Array | BodyReader | null): body is BodyReader {
  return body !== null && !(body instanceof Uint8Array);
}

const NO_MEMBERS: ReadonlySet<Member> = new Set();
const NO_SESSION: StickyLookup = Object.freeze({});

function _session(ex: _Exchange, lookup: StickyLookup): _Session {
  const { pool, request, conn } = ex;
  const stuck = lookup.member === undefined ? undefined : pool.member(lookup.member);
  const hashKey = pool.config.strategy === "hash" ? _hashKey(pool, request, conn) : undefined;
  return { lookup, stuck, hashKey };
}

/** The member's answer as it goes to the client. */
function _answer(ex: _Exchange, member: Member, upstream: UpstreamResponse): Answer {
  const body = upstream.body;
  if (!_isReader(body)) {
    ex.entry.bytesOut = body?.length ?? 0;
    ex.answered(member, upstream.status);
    return upstream;
  }
  return { status: upstream.status, fields: upstream.fields, body: new _CountedBody(body, ex, member, upstream.status) };
}

/**
 * Pull-through wrapper: holds the member's slot until the body is fully sent (leastconn and
 * maxconn count real work) and counts bytes for the access log.
 */
class _CountedBody implements BodyReader {
  #ended = false;

  constructor(readonly body: BodyReader, readonly ex: _Exchange, readonly member: Member, readonly status: number) {}

  async read(): Promise<Uint8Array | null> {
    let piece: Uint8Array | null;
    try {
      piece = await this.body.read();
    } catch (error) {
      this.#end();
      throw error;
    }
    if (piece === null) this.#end();
    else this.ex.entry.bytesOut += piece.length;
    return piece;
  }

  cancel(): void {
    this.#end();
    this.body.cancel();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.ex.answered(this.member, this.status);
  }
}

type AccessRecord = {
  time: string;
  client: string;
  method: string;
  path: string;
  status: number;
  pool: string;
  member: string | null;
  sticky: StickyDecision;
  upstreamMs: number | null;
  totalMs: number;
  bytesIn: number;
  bytesOut: number;
  /** Attempts after the first, and whether one went to another member. */
  retries: number;
  redispatched: boolean;
  /** Why tandem answered by itself (refusal or upstream failure), for the operator. */
  error?: string;
};

/** A body declared small enough to buffer, read to its end (a failure inside it throws here, before any byte is sent). */
async function _readWhole(body: BodyReader): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (let piece = await body.read(); piece !== null; piece = await body.read()) {
    chunks.push(piece);
    length += piece.length;
  }
  if (chunks.length === 1) return chunks[0];
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.length;
  }
  return whole;
}

/** Milliseconds since `start`, to 0.1 ms: finer digits are noise in a log line. */
function _elapsed(clock: Clock, start: number): number {
  return Math.round((clock.now() - start) * 10) / 10;
}


function _hashKey(pool: Pool, request: ClientRequest, conn: ConnInfo): string | undefined {
  const { key, name } = pool.config.hash;
  switch (key) {
    case "source":
      return conn.remoteAddress;
    case "uri":
      return request.target;
    case "header":
      return request.fields.get(name!) ?? undefined;
    case "cookie":
      return parseCookieHeader(request.fields.get("cookie")).find(([cookie]) => cookie === name)?.[1];
  }
}

const RETRY_AFTER = ["retry-after", "1"];

/**
 * A refusal names what was wrong with the client's own request (4xx); a failure of the farm (5xx)
 * says only its status, since addresses, member names and errors are for the access log alone.
 * The operator's own page, when there is one for the status, replaces the text.
 */
function _errorAnswer(status: number, message: string, extra: string[] = [], page?: ErrorPage): Answer {
  if (page === undefined) return textAnswer(status, `${status} ${status >= 500 ? reasonPhrase(status) : message}\n`, extra);
  return { status, fields: new Fields(["content-type", page.contentType, "cache-control", "no-store", ...extra]), body: page.body };
}
