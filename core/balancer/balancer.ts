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
import type { AccessLogConfig, Config, MemberConfig, PoolConfig } from "../config/schema.ts";
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
import { ClientTimeout } from "../http/client-timeout.ts";
import { applyForwarding, HeaderError, stripHopByHop } from "../proxy/headers.ts";
import type { StickyLookup } from "../sticky/mode.ts";
import { parseCookieHeader } from "../sticky/cookies.ts";
import type { AccessRecord, StickyDecision, Termination } from "../log/access-record.ts";
import { newTraceparent, traceIdOf } from "../http/trace-context.ts";
import { compileCidrs } from "../proxy/ip.ts";
import { Member, Pool } from "./pool.ts";
import type { BalancerMetrics } from "./metrics.ts";
import { createRouter, type Router } from "./router.ts";
import { compileTrafficRules, type RuleAnswer, RuleEffects, type TrafficRules } from "../rules/rules.ts";
import type { RuleRequest } from "../rules/matcher.ts";
import { createRateLimiters } from "../rules/rate-limit.ts";
import type { RateLimitSharing } from "../rules/rate-limit-sharing.ts";

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
  /** Where access records go when the config asks for them (`accessLog`); default the `log` sink. */
  accessLog?: (record: AccessRecord) => void;
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
  /** A pool's members from DNS (core/discovery), after its listed ones; read whenever pools are built. */
  discovered?: (pool: string) => readonly MemberConfig[];
  /** Names of a pool's members from DNS whose record is gone: they drain, their activation left as the operator set it. */
  dnsDraining?: (pool: string) => ReadonlySet<string>;
  /** Where rate limits keep their counts: one per process, kept across reloads, shared with the other workers and nodes; none = counts of this balancer's own. */
  rateLimitSharing?: RateLimitSharing;
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

/** Who ended a request that failed upstream, and in which phase (HAProxy's termination state). */
const _TERMINATION_OF_ERROR: Record<UpstreamErrorKind, Termination> = {
  "connect-failure": "SC",
  "connect-timeout": "sC",
  "response-timeout": "sH",
  "empty-response": "SH",
  "junk-response": "SH",
  "body-error": "SD",
  aborted: "CH",
};

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
  /** Clients whose own request id is kept (`accessLog.requestId.trustedClients`). */
  keepsRequestId: (address: string) => boolean;
  /** The listeners' and pools' traffic rules; undefined when the config has none. */
  rules: TrafficRules | undefined;
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
 * the member (the request's own: the front end hands them over), and the bookkeeping of its
 * attempts, from which the access record is made when the config asks for one.
 */
class _Exchange {
  readonly started: number;
  /** Members that failed this request (or whose queue timed out): not tried again. */
  tried: ReadonlySet<Member> = NO_MEMBERS;
  lastError: UpstreamError | undefined;
  /** The member of the last attempt, where a retry without redispatch goes back to. */
  previous: Member | undefined;
  sticky: StickyDecision = "none";
  /** Attempts after the first, and whether one went to another member. */
  retries = 0;
  redispatched = false;
  bytesOut = 0;
  termination: Termination = "--";
  /** Why tandem answered by itself, for the access line. */
  error: string | undefined;
  queueMs: number | null = null;
  connectMs: number | null = null;
  responseMs: number | null = null;
  memberQueuePosition = 0;
  poolQueuePosition = 0;
  requestId: string | null = null;
  traceId: string | null = null;
  /** What the traffic rules left for the answer; undefined without rules. */
  effects: RuleEffects | undefined;

  constructor(
    readonly ports: BalancerPorts,
    readonly config: Config,
    readonly pool: Pool,
    readonly request: ClientRequest,
    readonly conn: ConnInfo,
    readonly path: string,
    readonly release: () => void,
    readonly balancer: { readonly inFlight: number },
  ) {
    this.started = ports.clock.now();
  }

  get fields(): Fields {
    return this.request.fields;
  }

  /** Request body bytes: as counted when the front end counts them, else as declared. */
  get bytesIn(): number {
    const { body, framing } = this.request;
    return body?.bytesRead ?? (framing !== null && framing > 0 ? framing : 0);
  }

  /** Most requests never exclude anyone: the set is made for the first. */
  exclude(member: Member): void {
    if (this.tried === NO_MEMBERS) this.tried = new Set([member]);
    else (this.tried as Set<Member>).add(member);
  }

  /** The answer is settled: counts it, frees the in-flight slot and writes the access line. */
  readonly finish = (status: number): number => {
    const { ports } = this;
    const { accessLog } = this.config;
    // The line counts the request among those in flight, as HAProxy's does.
    const processInFlight = accessLog ? this.balancer.inFlight : 0;
    this.release();
    this.effects?.end();
    const elapsed = _elapsed(ports.clock, this.started);
    ports.metrics?.request(this.pool.name, this.previous?.name ?? "", status, elapsed / 1000);
    if (accessLog) (ports.accessLog ?? ports.log)(this.#record(status, elapsed, processInFlight));
    return elapsed;
  };

  /** The member answered and its body is sent (or given up): its slot is free, the answer counted. */
  answered(member: Member, status: number): void {
    this.pool.release(member);
    member.countResponse(status);
    member.bytesIn += this.bytesIn;
    member.bytesOut += this.bytesOut;
    if (this.sticky !== "none") member.sessions[this.sticky]++;
    member.latency.record(this.finish(status));
  }

  /** tandem answers by itself; `message` goes to the access line (and to the client for a 4xx). */
  fail(status: number, message: string, termination: Termination, extra?: string[]): Answer {
    return this.#answerLocally(_errorAnswer(status, message, extra, this.ports.errorPage?.(status)), message, termination);
  }

  /** A traffic rule ended the request: its own body, else tandem's page for the status. */
  answerByRule(rule: RuleAnswer): Answer {
    const { status, body, fields } = rule;
    const answer = body === undefined
      ? _errorAnswer(status, reasonPhrase(status), fields, this.ports.errorPage?.(status))
      : { status, fields: new Fields([...fields]), body: ENCODER.encode(body) };
    return this.#answerLocally(answer, rule.reason, rule.termination);
  }

  #answerLocally(answer: Answer, message: string, termination: Termination): Answer {
    const { status } = answer;
    this.error = message;
    this.termination = termination;
    // The bytes the client gets, as for a member's answer.
    this.bytesOut = (answer.body as Uint8Array).length;
    this.echoRequestId(answer.fields);
    this.effects?.applyToResponse(answer.fields);
    this.finish(status);
    return answer;
  }

  /** The client sees the id its request had at the member (HAProxy `unique-id-header` does not; nginx users add it). */
  echoRequestId(fields: Fields): void {
    const { accessLog } = this.config;
    if (this.requestId !== null && accessLog && accessLog.requestId) fields.set(accessLog.requestId.header, this.requestId);
  }

  /** Built only when the line is written: a request costs nothing more with the access log off. */
  #record(status: number, elapsed: number, processInFlight: number): AccessRecord {
    const { request, conn, pool, previous } = this;
    const received = conn.received ?? this.started;
    const requestMs = conn.received === undefined ? null : _round(this.started - conn.received);
    let poolInFlight = 0;
    for (const member of pool.members) poolInFlight += member.active;
    const tls = conn.tlsSession;
    return {
      time: new Date(received).toISOString(),
      client: conn.remoteAddress,
      clientPort: conn.remotePort ?? null,
      listener: conn.listener ?? null,
      tls: conn.tls,
      tlsVersion: tls?.version ?? null,
      sni: tls?.serverName ?? null,
      method: request.method,
      path: request.target,
      httpVersion: request.version ?? null,
      host: request.host,
      userAgent: request.fields.get("user-agent"),
      referer: request.fields.get("referer"),
      status,
      pool: pool.name,
      member: previous?.name ?? null,
      sticky: this.sticky,
      retries: this.retries,
      redispatched: this.redispatched,
      errorKind: this.lastError?.kind ?? null,
      error: this.error,
      termination: this.termination,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      requestMs,
      queueMs: this.queueMs === null ? null : _round(this.queueMs),
      connectMs: this.connectMs === null ? null : _round(this.connectMs),
      responseMs: this.responseMs === null ? null : _round(this.responseMs),
      totalMs: _round(elapsed + (requestMs ?? 0)),
      processInFlight,
      listenerConnections: conn.listenerConnections ?? null,
      poolInFlight,
      memberInFlight: previous?.active ?? 0,
      memberQueuePosition: this.memberQueuePosition,
      poolQueuePosition: this.poolQueuePosition,
      requestId: this.requestId,
      traceId: this.traceId,
    };
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
      new Pool(name, _withDiscovered(pool, ports.discovered?.(name)), { clock: ports.clock, previous: previous?.pools.get(name), probeClient: ports.probeClient, onHealth, caCerts: ports.caCerts?.(name), dnsDraining: ports.dnsDraining?.(name) }),
    ]));
    for (const [name, pool] of previous?.pools ?? []) pool.stopHealth(pools.get(name));
    if (!ports.lazyHealth) for (const pool of pools.values()) pool.startHealth();
    ports.metrics?.declare(pools);
    const requestId = config.accessLog && config.accessLog.requestId;
    const rateLimiters = createRateLimiters(config.rateLimits, { clock: ports.clock, share: ports.rateLimitSharing });
    return {
      config,
      pools,
      route: createRouter(config),
      keepsRequestId: compileCidrs(requestId ? requestId.trustedClients : []),
      rules: compileTrafficRules(config, { clock: ports.clock, rateLimiters }),
    };
  }

  async #handle(request: ClientRequest, conn: ConnInfo, release: () => void): Promise<Answer | undefined> {
    // One state for the whole request, even if a reload swaps it meanwhile.
    const state = this.#state;
    const { config, pools, route, rules } = state;
    const path = pathOf(request.target);
    const routed = route(request.host, path);
    let effects: RuleEffects | undefined;
    let ruleAnswer: RuleAnswer | undefined;
    if (rules !== undefined) {
      effects = new RuleEffects();
      const applying = _applyRules(rules, { request, path, conn, clientAddress: rules.clientAddress(conn, request.fields) }, effects, routed);
      ruleAnswer = applying instanceof Promise ? await applying : applying;
    }
    const pool = pools.get(effects?.route ?? routed)!;
    if (this.#ports.lazyHealth) for (const check of pool.probeDue()) conn.waitUntil?.(check);
    const ex = new _Exchange(this.#ports, config, pool, request, conn, path, release, this);
    ex.effects = effects;
    if (ruleAnswer !== undefined) return ex.answerByRule(ruleAnswer);
    const takeOver = this.#ports.upgrade !== undefined ? conn.takeOver : undefined;
    const webSocket = takeOver !== undefined && request.webSocket;
    const refusal = this.#prepareFields(ex, webSocket);
    if (refusal) return refusal;
    if (config.accessLog) _identify(ex, config.accessLog, state.keepsRequestId);
    // Sticky modes and the queue answer at once unless they must wait: no await (a microtask
    // turn each) for an answer that is already there.
    const reading = this.#readSession(ex);
    const session = reading instanceof Promise ? await reading : reading;
    const { retries } = pool.config;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const member = this.#chooseMember(ex, session, attempt);
      if (member === undefined) break;
      if (!(member instanceof Member)) return member;
      ex.queueMs ??= 0;
      const ahead = pool.queueLength;
      const forMember = ex.sticky === "hit";
      const acquiring = pool.acquire(member, !forMember, request.signal);
      const granted = acquiring instanceof Promise ? await this.#queued(ex, acquiring, ahead, forMember) : acquiring;
      if (!granted) {
        ex.termination = request.signal.aborted ? "CQ" : "sQ";
        if (member !== session.stuck) return ex.fail(503, "no free connection slot within the queue timeout", ex.termination, RETRY_AFTER);
        // The session's member stayed at maxconn past the queue timeout: treat it as unusable.
        ex.exclude(member);
        attempt--;
        continue;
      }
      const outcome = webSocket ? await this.#joinWebSocket(ex, granted, takeOver!) : await this.#attempt(ex, granted, session, attempt);
      if (outcome === "stop") break;
      if (outcome !== "next") return outcome;
    }
    const { lastError } = ex;
    if (!lastError) return ex.fail(503, `no usable member in pool ${pool.name}`, ex.termination === "--" ? "SC" : ex.termination, RETRY_AFTER);
    const timeout = lastError.kind === "response-timeout";
    return ex.fail(timeout ? 504 : 502, `upstream ${lastError.kind}: ${lastError.message}`, _TERMINATION_OF_ERROR[lastError.kind]);
  }

  /** A request waiting for a slot: where it joined the queue and how long it waited, for the access line. */
  async #queued(ex: _Exchange, acquiring: Promise<Member | undefined>, ahead: number, forMember: boolean): Promise<Member | undefined> {
    const clock = this.#ports.clock;
    const joined = clock.now();
    if (forMember) ex.memberQueuePosition = ahead;
    else ex.poolQueuePosition = ahead;
    const granted = await acquiring;
    ex.queueMs! += clock.now() - joined;
    return granted;
  }

  /** Hop-by-hop fields out, forwarding fields in; a Connection header abusing the proxy is refused. */
  #prepareFields(ex: _Exchange, webSocket: boolean): Answer | undefined {
    const { fields, pool, conn } = ex;
    try {
      stripHopByHop(fields, { request: true, keepUpgrade: webSocket });
    } catch (error) {
      if (error instanceof HeaderError) return ex.fail(400, error.message, "PR");
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
    const { pool, tried } = ex;
    if (attempt > 0 && !pool.config.redispatch) return ex.previous;
    if (stuck && !tried.has(stuck) && pool.takesSticky(stuck)) {
      ex.sticky = "hit";
      return stuck;
    }
    if (stuck) {
      if (pool.config.sticky.force) return ex.fail(503, `session's member ${stuck.name} is unavailable (sticky force)`, "SC", RETRY_AFTER);
      ex.sticky = "moved";
      return pool.selectFailover(stuck, tried, hashKey);
    }
    if (pool.sticky) ex.sticky = "new";
    return pool.selectNew(tried, hashKey);
  }

  /** Sends the request to `member` (its slot already taken) and decides what its answer means. */
  async #attempt(ex: _Exchange, member: Member, session: _Session, attempt: number): Promise<_Outcome> {
    const { pool, request, fields, conn } = ex;
    const clock = this.#ports.clock;
    const before = ex.previous;
    if (before !== undefined) {
      ex.retries++;
      before.retries++;
      if (before !== member) {
        ex.redispatched = true;
        before.redispatches++;
      }
    }
    ex.previous = member;
    ex.connectMs = ex.responseMs = null;
    member.requests++;
    const upstreamStarted = clock.now();
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
      // The clock is read here anyway: the response head's time costs nothing more.
      const connectMs = response.connectMs ?? 0;
      ex.connectMs = connectMs;
      ex.responseMs = clock.now() - upstreamStarted - connectMs;
      if (_isReader(response.body) && Number(response.fields.get("content-length") ?? Infinity) <= BUFFERED_BODY_LIMIT) {
        response.body = await _readWhole(response.body);
      }
    } catch (error) {
      pool.release(member);
      if (!(error instanceof UpstreamError)) throw error;
      // Sent but no head came: the connection's time was not taken above (a new one's, else a kept-alive one's 0).
      if (error.sent && ex.responseMs === null) ex.connectMs = error.connectMs ?? 0;
      return this.#failed(ex, member, error);
    }
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
    if (error.cause instanceof ClientTimeout) return ex.fail(408, error.cause.message, "cD");
    if (error.kind === "aborted") return ex.fail(499, "client closed the request", error.sent ? "CH" : "CC");
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
    const { pool, fields, request } = ex;
    pool.release(member);
    ex.previous = member;
    member.requests++;
    fields.set("host", pool.config.forwarding.preserveHost ? request.host : member.url.host);
    const handshake = { method: "GET", target: request.target, fields, body: null, framing: null, signal: request.signal };
    let answer: UpgradeAnswer;
    try {
      answer = await this.#ports.upgrade!(member.origin, handshake, pool.config.timeouts);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      ex.lastError = error;
      const status = error.kind === "aborted" ? 499 : error.kind === "response-timeout" ? 504 : 502;
      return ex.fail(status, `WebSocket to ${member.name}: ${error.kind}: ${error.message}`, _TERMINATION_OF_ERROR[error.kind]);
    }
    if (answer.connection === undefined) return ex.fail(502, `WebSocket to ${member.name}: the member answered ${answer.status}, not 101`, "SH");
    const client: { connection: StreamConnection; buffered: Uint8Array } = takeOver();
    ex.finish(101);
    void joinConnections(client.connection, answer.connection, answer.received, client.buffered);
    return undefined;
  }
}

function _withDiscovered(pool: PoolConfig, discovered: readonly MemberConfig[] | undefined): PoolConfig {
  return discovered === undefined || discovered.length === 0 ? pool : { ...pool, members: [...pool.members, ...discovered] };
}

/** The listener's rules, then (unless they ended the request) those of the pool it goes to: a listener rule's `route`, else `routed`. */
function _applyRules(rules: TrafficRules, view: RuleRequest, effects: RuleEffects, routed: string): RuleAnswer | undefined | Promise<RuleAnswer | undefined> {
  const forListener = rules.listener(view.conn.listener)?.apply(view, effects);
  if (forListener instanceof Promise) return forListener.then((answer) => answer ?? _applyPoolRules(rules, view, effects, routed));
  return forListener ?? _applyPoolRules(rules, view, effects, routed);
}

function _applyPoolRules(rules: TrafficRules, view: RuleRequest, effects: RuleEffects, routed: string): RuleAnswer | undefined | Promise<RuleAnswer | undefined> {
  return rules.pool(effects.route ?? routed)?.apply(view, effects);
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
  // An earlier attempt's queue timeout or failure is not how this request ended.
  ex.termination = "--";
  ex.echoRequestId(upstream.fields);
  ex.effects?.applyToResponse(upstream.fields);
  if (!_isReader(body)) {
    ex.bytesOut = body?.length ?? 0;
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
      // The member failed or went silent inside its body: the client's answer is cut short.
      if (error instanceof UpstreamError) {
        this.ex.lastError = error;
        this.ex.termination = error.kind === "response-timeout" ? "sD" : "SD";
      }
      this.#end();
      throw error;
    }
    if (piece === null) this.#end();
    else this.ex.bytesOut += piece.length;
    return piece;
  }

  /** The front end stops reading: the client left (or stopped taking, past its body timeout) before the body's end. */
  cancel(reason?: unknown): void {
    if (!this.#ended) this.ex.termination = reason instanceof ClientTimeout ? "cD" : "CD";
    this.#end();
    this.body.cancel();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.ex.answered(this.member, this.status);
  }
}

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
  return _round(clock.now() - start);
}

function _round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Longest request id a trusted client may hand in; a longer one is replaced. */
const MAX_REQUEST_ID = 200;

/**
 * The request's id (a trusted client's own, else a new one) and trace id (a new trace when the
 * request has no valid one and the config starts them), both on the fields to the member.
 */
function _identify(ex: _Exchange, { requestId, tracing }: AccessLogConfig, keepsRequestId: (address: string) => boolean): void {
  const { fields } = ex;
  if (requestId) {
    const own = fields.get(requestId.header);
    const kept = own !== null && own.length > 0 && own.length <= MAX_REQUEST_ID && keepsRequestId(ex.conn.remoteAddress);
    ex.requestId = kept ? own : crypto.randomUUID();
    if (!kept) fields.set(requestId.header, ex.requestId);
  }
  const traceparent = fields.get("traceparent");
  let traceId = traceIdOf(traceparent);
  if (traceId === undefined && tracing.start) {
    const started = newTraceparent();
    fields.set("traceparent", started);
    // A tracestate belongs to the trace it came with, which this request no longer is part of.
    if (traceparent !== null) fields.delete("tracestate");
    traceId = traceIdOf(started);
  }
  ex.traceId = traceId ?? null;
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
const ENCODER = new TextEncoder();

/**
 * A refusal names what was wrong with the client's own request (4xx); a failure of the farm (5xx)
 * says only its status, since addresses, member names and errors are for the access log alone.
 * The operator's own page, when there is one for the status, replaces the text.
 */
function _errorAnswer(status: number, message: string, extra: string[] = [], page?: ErrorPage): Answer {
  if (page === undefined) return textAnswer(status, `${status} ${status >= 500 ? reasonPhrase(status) : message}\n`, extra);
  return { status, fields: new Fields(["content-type", page.contentType, "cache-control", "no-store", ...extra]), body: page.body };
}
