/**
 * The listeners of the running process: opened, kept, re-spelled, given new certificates and
 * closed as configs come and go, each wrapped in its listener's own behaviour (redirect to
 * https, HSTS, `Connection: close` while draining), with their certificates' metrics.
 *
 * @module
 */
import { splitAddress } from "../config/fields.ts";
import type { ListenerConfig } from "../config/schema.ts";
import { logEvent } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Platform } from "../platform.ts";
import type { ListenerTls } from "../tls/certificate.ts";
import { type Answer, type ClientRequest, Fields, hostnameOf } from "../http/message.ts";
import type { Handler } from "../http/web.ts";
import { type FrontEndEvents, type Http1Listener, type Http1ListenOptions, listenHttp1 } from "./http1-listener.ts";
import { servesOnWeb } from "./protocols.ts";
import { listenWeb, type WebListener, type WebListenOptions } from "./web-listener.ts";

/**
 * How long a listener replaced by one with new certificates keeps accepting beside it. Closing it
 * at once would also close its idle keep-alive connections, cutting the next request a busy client
 * is already sending; meanwhile every answer it gives closes its connection, so clients leave it
 * between requests and reconnect, mostly to the new listener.
 */
const TAKEOVER_MS = 500;

/** A listener with the config entry it serves (replaced on reload). */
interface OpenListener {
  listener: Http1Listener | WebListener;
  /** Of the bound listener: set once a newer one took over its port. */
  bound: { draining: boolean };
  config: ListenerConfig;
  /** The Strict-Transport-Security value, precomputed. */
  hsts: string | undefined;
  /** The certificates the listener has now. */
  tls: ListenerTls | undefined;
}

type Pair = ListenerTls["certificates"][number];

const TIMEOUT_KINDS = ["request", "keepAlive", "body", "handshake"] as const satisfies readonly Parameters<FrontEndEvents["timeout"]>[0][];
/** Every status a listener refuses with before a member sees the request (http1-request.ts, http1-server.ts; a 408 is a timeout). */
const REFUSAL_CODES = [400, 414, 417, 431, 501, 503, 505];

export class ListenerSet {
  readonly #platform: Platform;
  readonly #handler: Handler;
  readonly #onBadRequest: Http1ListenOptions["onBadRequest"];
  /** The CA's http-01 requests, answered on plain listeners before anything else (core/acme/http01.ts). */
  readonly #acmeChallenge: ((request: ClientRequest) => Answer | undefined) | undefined;
  readonly #events: (listener: string) => NonNullable<WebListenOptions["events"]>;
  readonly #open = new Map<string, OpenListener>();
  /** Listeners replaced by new certificates, still finishing their connections. */
  readonly #retiring = new Set<Promise<void>>();

  /**
   * `handler` answers every request the listeners take; their certificates' gauges go into
   * `registry`; `onBadRequest` hears of the requests they refuse before the handler (access log).
   */
  constructor(
    platform: Platform,
    handler: Handler,
    registry: Registry,
    onBadRequest?: Http1ListenOptions["onBadRequest"],
    acmeChallenge?: (request: ClientRequest) => Answer | undefined,
  ) {
    this.#platform = platform;
    this.#handler = handler;
    this.#acmeChallenge = acmeChallenge;
    this.#onBadRequest = onBadRequest;
    const accepted = registry.counter("tandem_client_connections_total", "Client connections a listener accepted (HAProxy cum_conn).", ["listener"]);
    registry.gaugeFn("tandem_client_connections", "Client connections open now (HAProxy scur).", ["listener"], () =>
      [...this.#open].flatMap(([address, { listener }]) => (listener.connections === undefined ? [] : [[[address], listener.connections]])), { merge: "sum" });
    const timeouts = registry.counter("tandem_client_timeouts_total", "Client connections closed by a listener timeout (request head, keep-alive idle, body, TLS handshake).", ["listener", "kind"]);
    const requests = registry.counter("tandem_client_requests_total", "Requests an h2/h3 listener took, by the HTTP version they came over (unknown where the runtime does not say).", ["listener", "protocol"]);
    const refused = registry.counter("tandem_client_refused_total", "Requests and connections a listener refused before any member saw them, by status.", ["listener", "code"]);
    this.#events = (listener) => {
      // Present at 0 from the listener's start: a rate over a series that appears at its first
      // increment misses that increment.
      accepted.inc([listener], 0);
      for (const kind of TIMEOUT_KINDS) timeouts.inc([listener, kind], 0);
      for (const code of REFUSAL_CODES) refused.inc([listener, String(code)], 0);
      return {
        accepted: () => accepted.inc([listener]),
        timeout: (kind) => timeouts.inc([listener, kind]),
        refused: (status) => refused.inc([listener, String(status)]),
        request: (protocol) => requests.inc([listener, protocol]),
      };
    };
    registry.gaugeFn("tandem_tls_certificate_not_after_timestamp_seconds", "End of validity of each listener certificate.", ["listener", "file"], this.#certificateSeries((pair) => pair.leaf.notAfter / 1000));
    registry.gaugeFn(
      "tandem_tls_certificate_valid",
      "1 while the certificate is within its validity period, else 0.",
      ["listener", "file"],
      this.#certificateSeries((pair) => (_validity(pair, this.#platform.clock.now()) === "valid" ? 1 : 0)),
    );
  }

  /** What a listener outside the set (the admin one) reports under `name`. */
  events(name: string): FrontEndEvents {
    return this.#events(name);
  }

  /**
   * Opens listeners the config has and the process lacks, closes the others, and hands changed
   * certificates to the TLS listeners that stay. A listener already bound to the same host and
   * port is kept under its new spelling (":0" that became the port it got, "0.0.0.0:80" written
   * ":80"): rebinding would refuse connections in between. Returns what could not be done.
   */
  async sync(wanted: readonly ListenerConfig[], certificates: ReadonlyMap<string, ListenerTls>): Promise<string[]> {
    this.#keepRespelled(wanted);
    // A listener opened afresh on the same port binds once the old socket is free.
    await this.#closeUnwanted(wanted);
    const problems: string[] = [];
    for (const [index, config] of wanted.entries()) {
      const tls = certificates.get(config.address);
      const kept = this.#open.get(config.address);
      const problem = kept ? await this.#update(kept, config, tls) : await this.#openNew(config, tls);
      if (problem) problems.push(`listeners[${index}]${problem}`);
    }
    this.#warnInvalidCertificates();
    return problems;
  }

  /** Stops every listener; resolves when their requests in flight (and retiring listeners') are done. */
  shutdown(): Promise<void> {
    return Promise.all([...[...this.#open.values()].map((open) => open.listener.shutdown()), ...this.#retiring]).then(() => {});
  }

  #keepRespelled(wanted: readonly ListenerConfig[]): void {
    const addresses = new Set(wanted.map((config) => config.address));
    for (const { address } of wanted) {
      if (this.#open.has(address)) continue;
      const { hostname, port } = splitAddress(address);
      for (const [oldAddress, open] of this.#open) {
        if (!addresses.has(oldAddress) && open.listener.hostname === hostname && open.listener.port === port) {
          this.#open.delete(oldAddress);
          this.#open.set(address, open);
          break;
        }
      }
    }
  }

  #closeUnwanted(wanted: readonly ListenerConfig[]): Promise<void[]> {
    const byAddress = new Map(wanted.map((config) => [config.address, config]));
    const closing: Promise<void>[] = [];
    for (const [address, open] of this.#open) {
      const config = byAddress.get(address);
      // A runtime cannot add or remove TLS or protocols on a bound socket: that listener is opened afresh.
      if (config !== undefined && (config.tls === undefined) === (open.tls === undefined) && _sameProtocols(config, open.config)) continue;
      this.#open.delete(address);
      void open.listener.shutdown();
      closing.push(open.listener.stopAccepting());
      logEvent(this.#platform, "listener-closed", { address });
    }
    return Promise.all(closing);
  }

  /** A kept listener takes the new config; new certificates come on a listener bound beside it. */
  async #update(open: OpenListener, config: ListenerConfig, tls: ListenerTls | undefined): Promise<string | undefined> {
    open.config = config;
    open.listener.configure(config);
    open.hsts = _hstsValue(config);
    if (tls === undefined || _sameTls(open.tls, tls)) return undefined;
    try {
      await this.#rebind(open, tls);
    } catch (error) {
      return `.tls: cannot use the new certificates: ${(error as Error).message}`;
    }
    logEvent(this.#platform, "tls-updated", { address: config.address, certificates: tls.certificates.map((pair) => pair.certFile) });
  }

  async #openNew(config: ListenerConfig, tls: ListenerTls | undefined): Promise<string | undefined> {
    const { hostname, port } = splitAddress(config.address);
    const open = { config, hsts: _hstsValue(config), tls } as OpenListener;
    try {
      Object.assign(open, await this.#bind(open, hostname, port, tls));
    } catch (error) {
      return `: cannot listen on ${config.address}: ${(error as Error).message}`;
    }
    this.#open.set(config.address, open);
    const { listener } = open;
    logEvent(this.#platform, "listening", { address: `${listener.hostname}:${listener.port}`, tls: tls !== undefined, runtime: this.#platform.runtime });
  }

  async #bind(open: OpenListener, hostname: string, port: number, tls: ListenerTls | undefined) {
    const bound = { draining: false };
    const listen = servesOnWeb(open.config) ? listenWeb : listenHttp1;
    const listener = await listen(this.#platform, hostname, port, this.#listenerHandler(open, bound), {
      config: open.config,
      tls,
      reusePort: this.#platform.worker !== undefined,
      events: this.#events(open.config.address),
      onBadRequest: this.#onBadRequest,
    });
    return { listener, bound };
  }

  /** New certificates: a second listener on the same port takes over, the old one drains. */
  async #rebind(open: OpenListener, tls: ListenerTls): Promise<void> {
    const previous = { listener: open.listener, bound: open.bound };
    Object.assign(open, await this.#bind(open, previous.listener.hostname, previous.listener.port, tls), { tls });
    previous.bound.draining = true;
    await new Promise<void>((resolve) => this.#platform.clock.setTimer(resolve, TAKEOVER_MS));
    const retired: Promise<void> = previous.listener.shutdown().finally(() => this.#retiring.delete(retired));
    this.#retiring.add(retired);
    // Done once the old socket takes no more connections (Deno frees it only after its pending
    // accept ended): a client that reached it after the reload was reported would be closed unseen.
    await previous.listener.stopAccepting();
  }

  /** The listener's own behaviour around the balancer, read per request so reloads apply at once. */
  #listenerHandler(open: OpenListener, bound: { draining: boolean }): Handler {
    const handler = this.#handler;
    return async (request, conn) => {
      const challenge = open.config.tls === undefined ? this.#acmeChallenge?.(request) : undefined;
      if (challenge) return challenge;
      const { redirectToHttps } = open.config;
      if (redirectToHttps !== undefined) return _redirectToHttps(request.host, request.target, redirectToHttps);
      const answer = await handler(request, conn);
      if (open.hsts !== undefined) answer?.fields.set("strict-transport-security", open.hsts);
      if (bound.draining) answer?.fields.set("connection", "close");
      return answer;
    };
  }

  /** Expired or not-yet-valid certificates still serve (as HAProxy does), loudly. */
  #warnInvalidCertificates(): void {
    const now = this.#platform.clock.now();
    for (const [address, open] of this.#open) {
      for (const pair of open.tls?.certificates ?? []) {
        const reason = _validity(pair, now);
        if (reason === "valid") continue;
        logEvent(this.#platform, "certificate-not-valid", {
          listener: address,
          file: pair.certFile,
          reason,
          notBefore: new Date(pair.leaf.notBefore).toISOString(),
          notAfter: new Date(pair.leaf.notAfter).toISOString(),
        });
      }
    }
  }

  #certificateSeries(value: (pair: Pair) => number): () => [string[], number][] {
    return () =>
      [...this.#open].flatMap(([address, open]) => (open.tls?.certificates ?? []).map((pair) => [[address, pair.certFile], value(pair)] as [string[], number]));
  }
}

/** 308 keeps the method and body (a POST stays a POST), unlike 301/302. */
function _redirectToHttps(host: string, target: string, port: number): Answer {
  const location = `https://${hostnameOf(host)}${port === 443 ? "" : `:${port}`}${target}`;
  return { status: 308, fields: new Fields(["location", location]), body: null };
}

function _hstsValue(config: ListenerConfig): string | undefined {
  const { hsts } = config;
  if (!hsts) return undefined;
  return `max-age=${Math.floor(hsts.maxAge / 1000)}${hsts.includeSubDomains ? "; includeSubDomains" : ""}${hsts.preload ? "; preload" : ""}`;
}

function _sameProtocols(a: ListenerConfig, b: ListenerConfig): boolean {
  return a.protocols.length === b.protocols.length && a.protocols.every((protocol) => b.protocols.includes(protocol));
}

function _sameTls(a: ListenerTls | undefined, b: ListenerTls): boolean {
  return a !== undefined && a.minVersion === b.minVersion && a.certificates.length === b.certificates.length &&
    a.certificates.every((pair, i) => pair.cert === b.certificates[i].cert && pair.key === b.certificates[i].key);
}

function _validity(pair: Pair, now: number): "valid" | "expired" | "not yet valid" {
  return now > pair.leaf.notAfter ? "expired" : now < pair.leaf.notBefore ? "not yet valid" : "valid";
}
