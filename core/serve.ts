/**
 * `tandem serve`: listeners, the balancer, the admin plane, hot reload and graceful shutdown,
 * on any {@link Platform}.
 *
 * @module
 */
import { createAdminApp } from "./admin/app.ts";
import { createVerifier, type Verifier } from "./admin/auth.ts";
import { balancerReady, createAdminControl, poolCounters } from "./admin/control.ts";
import { dashboardHtml } from "./admin/dashboard.ts";
import type { ReloadResult } from "./admin/model.ts";
import { createBalancer } from "./balancer/balancer.ts";
import { createBalancerMetrics } from "./balancer/metrics.ts";
import { registerVrrpMetrics } from "./cluster/vrrp/metrics.ts";
import { createVrrpRole } from "./cluster/vrrp/role.ts";
import { registerReplicationMetrics } from "./cluster/replication/metrics.ts";
import { ReplicaStore } from "./cluster/replication/replica-store.ts";
import { createReplicationRole } from "./cluster/replication/role.ts";
import { splitAddress } from "./config/fields.ts";
import { asksForPortZero, formatProblem, parseConfig } from "./config/load.ts";
import type { Config, ListenerConfig } from "./config/schema.ts";
import { defaultListenerConfig, type FrontEndEvents, type Handler, type Http1Listener, type Listener, listenHttp1 } from "./frontend/http1-listener.ts";
import { Registry } from "./metrics/registry.ts";
import type { Platform } from "./platform.ts";
import { logEvent } from "./log.ts";
import type { ConnInfo } from "./ports.ts";
import { Http1Client } from "./proxy/http1-client.ts";
import { createWorkerSync, WORKER_CHANNEL } from "./worker-sync.ts";
import type { ListenerTls } from "./tls/certificate.ts";
import { type ConfigFiles, loadConfigFiles, resolvePath } from "./tls/files.ts";

/** A listener of the running process with the config entry it serves (replaced on reload). */
interface OpenListener {
  listener: Http1Listener;
  /** Of the bound listener: set once a newer one took over its port. */
  bound: BoundState;
  config: ListenerConfig;
  /** The Strict-Transport-Security value, precomputed. */
  hsts: string | undefined;
  /** The certificates the listener has now. */
  tls: ListenerTls | undefined;
}

interface BoundState {
  /** Answers say `Connection: close`, so keep-alive clients move to the new listener between requests. */
  draining: boolean;
}

/**
 * How long a listener replaced by one with new certificates keeps accepting beside it. Closing it
 * at once would also close its idle keep-alive connections, cutting the next request a busy client
 * is already sending; meanwhile every answer it gives closes its connection, so clients leave it
 * between requests and reconnect, mostly to the new listener.
 */
const TAKEOVER_MS = 500;

export interface ServeOptions {
  /** The file reloads re-read; without one (the demo) there is nothing to reload. */
  configPath?: string;
  /** Listeners to drain with the balancer's (the demo's backends). */
  extraListeners?: Listener[];
}

/**
 * Runs the balancer for `config` until SIGTERM/SIGINT, then drains and exits 0. SIGHUP (and, with
 * `watchConfig`, a change of the file) reloads: an invalid file is reported and changes nothing.
 */
export async function serve(platform: Platform, config: Config, options: ServeOptions = {}): Promise<void> {
  const startedAt = Date.now();
  const isLead = (platform.worker?.index ?? 0) === 0;
  const { worker } = platform;
  // With workers, every access line says which one served it.
  const log = worker === undefined
    ? (record: Record<string, unknown>) => platform.stdout(JSON.stringify(record))
    : (record: Record<string, unknown>) => platform.stdout(JSON.stringify({ ...record, worker: worker.index }));
  // Admin settings are read once: the admin listener and its keys do not change on reload.
  const verify = config.admin ? await _verifier(platform, config, options.configPath) : undefined;
  const loaded = await loadConfigFiles(config, options.configPath, platform);
  if (!loaded.ok) {
    for (const problem of loaded.problems) platform.stderr(problem);
    return platform.exit(1);
  }
  let files = loaded.files;
  const client = new Http1Client({ connect: platform.connect, clock: platform.clock });
  const probeClient = new Http1Client({ connect: platform.connect, clock: platform.clock });
  const registry = new Registry();
  const metrics = createBalancerMetrics(registry, () => balancer.pools);
  const balancer = createBalancer(config, {
    clock: platform.clock,
    upstream: (origin, request, timeouts) => client.request(origin, request, timeouts),
    upgrade: (origin, request, timeouts) => client.upgrade(origin, request, timeouts),
    log,
    // With workers, worker 0 alone checks; the others follow its verdicts (worker-sync.ts).
    probeClient: isLead ? probeClient : undefined,
    onHealth: (pool, member, transition) => workerSync?.healthChanged(pool, member, transition.up, transition.reason),
    metrics,
    caCerts: (pool) => files.backendCa.get(pool),
  });
  // Learned sessions and admin changes, as replication and the other workers see them.
  const store = new ReplicaStore({ node: config.cluster?.node ?? "local", pools: () => balancer.pools, clock: platform.clock });
  store.attach();
  const workerSync = worker === undefined ? undefined : createWorkerSync({
    worker,
    clock: platform.clock,
    store,
    balancer,
    reload: (trigger) => void reload(trigger),
    channel: new BroadcastChannel(WORKER_CHANNEL),
    // Taken only when worker 0's admin plane asks: nothing is sent per request.
    stats: (want) => (want === "metrics" ? { metrics: registry.snapshot() } : { pools: poolCounters(balancer) }),
  });
  const listeners = new Map<string, OpenListener>();
  let admin: Listener | undefined;
  // The failover agent; only worker 0 speaks for the node (see workers.ts).
  const vrrp = createVrrpRole({
    clock: platform.clock,
    bindDatagram: platform.bindDatagram,
    runCommand: platform.runCommand,
    ready: () => balancerReady(balancer),
    log,
    env: (name) => platform.env(name),
  });
  registerVrrpMetrics(registry, vrrp.status);
  // Replication of sticky entries and admin changes; worker 0 holds it like the VRRP role.
  const replication = createReplicationRole({
    clock: platform.clock,
    connect: platform.connect,
    listenStream: platform.listenStream,
    log,
    env: (name) => platform.env(name),
    store,
  });
  registerReplicationMetrics(registry, replication.status);
  const clientTimeouts = registry.counter("tandem_client_timeouts_total", "Client connections closed by a listener timeout (request head, keep-alive idle, body).", ["listener", "kind"]);
  const refused = registry.counter("tandem_client_refused_total", "Requests and connections a listener refused before any member saw them, by status.", ["listener", "code"]);
  const frontEndEvents = (listener: string): FrontEndEvents => ({
    timeout: (kind) => clientTimeouts.inc([listener, kind]),
    refused: (status) => refused.inc([listener, String(status)]),
  });
  const handler = async (request: Request, conn: ConnInfo) => {
    try {
      return await balancer.fetch(request, conn);
    } catch (error) {
      // A bug must cost one request, never the process.
      logEvent(platform, "error", { message: String((error as Error)?.stack ?? error) });
      return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
    }
  };
  /** The listener's own behaviour around the balancer, read per request so reloads apply at once. */
  const listenerHandler = (open: OpenListener, bound: BoundState): Handler => (request, conn) => {
    const { redirectToHttps } = open.config;
    if (redirectToHttps !== undefined) return _redirectToHttps(request, redirectToHttps);
    if (open.hsts === undefined && !bound.draining) return handler(request, conn);
    return handler(request, conn).then((response) => {
      if (open.hsts !== undefined) response?.headers.set("strict-transport-security", open.hsts);
      if (bound.draining) response?.headers.set("connection", "close");
      return response;
    });
  };
  const bind = async (open: OpenListener, hostname: string, port: number, tls: ListenerTls | undefined) => {
    const bound = { draining: false };
    const listener = await listenHttp1(platform, hostname, port, listenerHandler(open, bound), {
      config: open.config,
      tls,
      reusePort: platform.worker !== undefined,
      events: frontEndEvents(open.config.address),
    });
    return { listener, bound };
  };
  /** Listeners replaced by new certificates, still finishing their connections. */
  const retiring = new Set<Promise<void>>();
  /** New certificates: a second listener on the same port takes over, the old one drains. */
  const rebind = async (open: OpenListener, tls: ListenerTls) => {
    const previous = { listener: open.listener, bound: open.bound };
    Object.assign(open, await bind(open, previous.listener.hostname, previous.listener.port, tls), { tls });
    previous.bound.draining = true;
    await new Promise<void>((resolve) => platform.clock.setTimer(resolve, TAKEOVER_MS));
    const retired: Promise<void> = previous.listener.shutdown().finally(() => retiring.delete(retired));
    retiring.add(retired);
  };
  /**
   * Opens listeners the config has and the process lacks, closes the others, and hands changed
   * certificates to the TLS listeners that stay. A listener already bound to the same host and
   * port is kept under its new spelling (":0" that became the port it got, "0.0.0.0:80" written
   * ":80"): rebinding would refuse connections in between.
   */
  const syncListeners = async (wanted: ListenerConfig[]): Promise<string[]> => {
    const problems: string[] = [];
    const byAddress = new Map(wanted.map((config) => [config.address, config]));
    for (const { address } of wanted) {
      if (listeners.has(address)) continue;
      const { hostname, port } = splitAddress(address);
      for (const [oldAddress, open] of listeners) {
        if (!byAddress.has(oldAddress) && open.listener.hostname === hostname && open.listener.port === port) {
          listeners.delete(oldAddress);
          listeners.set(address, open);
          break;
        }
      }
    }
    for (const [address, open] of listeners) {
      const config = byAddress.get(address);
      // A runtime cannot add or remove TLS on a bound socket: that listener is opened afresh.
      if (config !== undefined && (config.tls === undefined) === (open.tls === undefined)) continue;
      listeners.delete(address);
      void open.listener.shutdown();
      logEvent(platform, "listener-closed", { address });
    }
    for (const [index, config] of wanted.entries()) {
      const tls = files.listenerTls.get(config.address);
      const kept = listeners.get(config.address);
      if (kept) {
        kept.config = config;
        kept.listener.configure(config);
        kept.hsts = _hstsValue(config);
        if (tls === undefined || _sameTls(kept.tls, tls)) continue;
        try {
          await rebind(kept, tls);
          logEvent(platform, "tls-updated", { address: config.address, certificates: tls.certificates.map((pair) => pair.certFile) });
        } catch (error) {
          problems.push(`listeners[${index}].tls: cannot use the new certificates: ${(error as Error).message}`);
        }
        continue;
      }
      const { hostname, port } = splitAddress(config.address);
      const open = { config, hsts: _hstsValue(config), tls } as OpenListener;
      try {
        Object.assign(open, await bind(open, hostname, port, tls));
        listeners.set(config.address, open);
        logEvent(platform, "listening", { address: `${open.listener.hostname}:${open.listener.port}`, tls: tls !== undefined, runtime: platform.runtime });
      } catch (error) {
        problems.push(`listeners[${index}]: cannot listen on ${config.address}: ${(error as Error).message}`);
      }
    }
    warnInvalidCertificates();
    return problems;
  };
  /** Expired or not-yet-valid certificates still serve (as HAProxy does), loudly. */
  const warnInvalidCertificates = () => {
    const now = Date.now();
    for (const [address, open] of listeners) {
      for (const pair of open.tls?.certificates ?? []) {
        const reason = _validity(pair, now);
        if (reason === "valid") continue;
        logEvent(platform, "certificate-not-valid", {
          listener: address,
          file: pair.certFile,
          reason,
          notBefore: new Date(pair.leaf.notBefore).toISOString(),
          notAfter: new Date(pair.leaf.notAfter).toISOString(),
        });
      }
    }
  };
  const certificateSeries = (value: (pair: ListenerTls["certificates"][number]) => number) => () =>
    [...listeners].flatMap(([address, open]) =>
      (open.tls?.certificates ?? []).map((pair) => [[address, pair.certFile], value(pair)] as [string[], number])
    );
  registry.gaugeFn(
    "tandem_tls_certificate_not_after_timestamp_seconds",
    "End of validity of each listener certificate.",
    ["listener", "file"],
    certificateSeries((pair) => pair.leaf.notAfter / 1000),
  );
  registry.gaugeFn(
    "tandem_tls_certificate_valid",
    "1 while the certificate is within its validity period, else 0.",
    ["listener", "file"],
    certificateSeries((pair) => (_validity(pair, Date.now()) === "valid" ? 1 : 0)),
  );

  // Certificates and CA files are watched always: renewal tools replace them without telling anyone.
  let stopWatching: (() => void)[] = [];
  let cancelFilesReload: (() => void) | undefined;
  const watchFiles = () => {
    for (const stop of stopWatching) stop();
    stopWatching = files.paths.map((path) =>
      platform.watchFile(path, () => {
        cancelFilesReload?.();
        cancelFilesReload = platform.clock.setTimer(() => void reloadFiles("file change"), 200);
      })
    );
  };
  /** Re-reads the files of the config in force (a renewed certificate), leaving the config alone. */
  const reloadFiles = async (trigger: string) => {
    const result = await loadConfigFiles(balancer.config, options.configPath, platform);
    if (!result.ok) return logEvent(platform, "certificates-reload-failed", { trigger, problems: result.problems });
    const caChanged = !_sameCa(files.backendCa, result.files.backendCa);
    files = result.files;
    if (caChanged) balancer.reload(balancer.config);
    const problems = await syncListeners(balancer.config.listeners);
    if (problems.length > 0) return logEvent(platform, "certificates-reload-failed", { trigger, problems });
    logEvent(platform, "certificates-reloaded", { trigger, files: files.paths });
  };

  let reloads = 0;
  const reload = async (trigger: string): Promise<ReloadResult> => {
    const result = await _reload(trigger);
    metrics.reload(result.ok ? "ok" : "invalid");
    return result;
  };
  const _reload = async (trigger: string): Promise<ReloadResult> => {
    const path = options.configPath;
    if (path === undefined) return { ok: false, problems: ["no config file to reload (the embedded demo)"] };
    let text: string;
    try {
      text = await platform.readTextFile(path);
    } catch (error) {
      return _reloadFailed(platform, trigger, [`${path}: cannot read: ${(error as Error).message}`]);
    }
    const result = parseConfig(text);
    if (!result.ok) return _reloadFailed(platform, trigger, result.problems.map(formatProblem));
    // The file may leave `workers` out, and then a port-0 listener passes its check; the running workers still share every port.
    const portZero = worker !== undefined && worker.count > 1 ? result.config.listeners.findIndex(asksForPortZero) : -1;
    if (portZero !== -1) {
      return _reloadFailed(platform, trigger, [`listeners[${portZero}].address: a fixed port: ${worker!.count} workers are running and each would get a different one for port 0 (got "${result.config.listeners[portZero].address}")`]);
    }
    const loaded = await loadConfigFiles(result.config, path, platform);
    if (!loaded.ok) return _reloadFailed(platform, trigger, loaded.problems);
    files = loaded.files;
    balancer.reload(result.config);
    store.attach();
    const problems = await syncListeners(result.config.listeners);
    if (isLead) problems.push(...await vrrp.apply(result.config.vrrp));
    if (isLead) problems.push(...await replication.apply(result.config.cluster, files.clusterTls));
    watchFiles();
    if (problems.length > 0) return _reloadFailed(platform, trigger, problems);
    reloads++;
    const summary = summarize(result.config);
    logEvent(platform, "reloaded", { trigger, reloads, summary });
    return { ok: true, summary };
  };
  // Signals first: a SIGTERM right after the listening line must drain, not kill.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logEvent(platform, "shutdown-forced", { signal });
      platform.exit(1);
    }
    stopping = true;
    const { drainTimeout } = balancer.config;
    logEvent(platform, "shutdown", { signal, inFlight: balancer.inFlight, drainTimeout });
    let timedOut = false;
    for (const stop of stopWatching) stop();
    // Resign first: the backup takes the address after Skew_Time while this node drains.
    await vrrp.stop();
    await Promise.race([
      Promise.all([
        ...[...[...listeners.values()].map((open) => open.listener), ...(options.extraListeners ?? [])].map((listener) => listener.shutdown()),
        ...retiring,
      ]),
      new Promise<void>((resolve) => platform.clock.setTimer(() => {
        timedOut = true;
        resolve();
      }, drainTimeout)),
    ]);
    // After the drain: sessions learned by the last requests still reach the peers.
    replication.stop();
    workerSync?.close();
    balancer.close();
    void admin?.shutdown();
    client.close();
    probeClient.close();
    logEvent(platform, "stopped", { drained: !timedOut });
    platform.exit(0);
  };
  platform.onSignal("SIGTERM", () => void stop("SIGTERM"));
  platform.onSignal("SIGINT", () => void stop("SIGINT"));
  platform.onSignal("SIGHUP", () => void reload("SIGHUP"));
  if (config.watchConfig && options.configPath) {
    // Editors write a file in several steps; wait for the burst to settle before reading it.
    let cancel: (() => void) | undefined;
    platform.watchFile(options.configPath, () => {
      cancel?.();
      cancel = platform.clock.setTimer(() => void reload("file change"), 200);
    });
  }
  const problems = await syncListeners(config.listeners);
  watchFiles();
  if (isLead) problems.push(...await vrrp.apply(config.vrrp));
  if (isLead) problems.push(...await replication.apply(config.cluster, files.clusterTls));
  if (problems.length > 0) {
    for (const problem of problems) platform.stderr(problem);
    platform.exit(1);
  }
  // With workers, worker 0 alone answers the admin plane; its changes reach the others as records.
  if (config.admin && isLead) {
    const app = createAdminApp({
      control: createAdminControl({ balancer, registry, runtime: platform.runtime, startedAt, reloads: () => reloads,
        reload: async (trigger) => {
          const result = await reload(trigger);
          if (result.ok) workerSync?.reloaded(trigger);
          return result;
        },
        log,
        vrrp: vrrp.status,
        cluster: replication.status,
        memberChanged: (pool, member, change, actor) => store.adminChanged(pool, member, change, actor),
        workers: workerSync,
      }),
      verify,
      publicMetrics: config.admin.publicMetrics,
      dashboardHtml,
      log,
    });
    const { hostname, port } = splitAddress(config.admin.address);
    try {
      admin = await listenHttp1(platform, hostname, port, (request, conn) => app.fetch(request, { remoteAddress: conn.remoteAddress }), {
        config: defaultListenerConfig(config.admin.address),
        events: frontEndEvents("admin"),
      });
    } catch (error) {
      platform.stderr(`admin.address: cannot listen on ${config.admin.address}: ${(error as Error).message}`);
      platform.exit(1);
    }
    logEvent(platform, "admin-listening", { address: `${admin.hostname}:${admin.port}`, auth: verify !== undefined });
  }
}

/**
 * The admin API's token check from the config (or TANDEM_ADMIN_SECRET). Without any key the API
 * is open, which is only allowed on loopback: anything else exits with the reason.
 */
async function _verifier(platform: Platform, config: Config, configPath: string | undefined): Promise<Verifier | undefined> {
  const { address, auth } = config.admin!;
  const secret = platform.env("TANDEM_ADMIN_SECRET") ?? auth.secret;
  let jwks: { keys: Record<string, unknown>[] } | undefined;
  if (auth.jwksFile !== undefined) {
    try {
      jwks = JSON.parse(await platform.readTextFile(resolvePath(configPath, auth.jwksFile)));
    } catch (error) {
      platform.stderr(`admin.auth.jwksFile: cannot read ${auth.jwksFile}: ${(error as Error).message}`);
      return platform.exit(1);
    }
  }
  if (secret === undefined && jwks === undefined) {
    const { hostname } = splitAddress(address);
    if (!["127.0.0.1", "::1", "localhost"].includes(hostname)) {
      platform.stderr(`admin.address: ${address} is not loopback and no auth is configured (admin.auth.secret, admin.auth.jwksFile or TANDEM_ADMIN_SECRET)`);
      return platform.exit(1);
    }
    return undefined;
  }
  try {
    return createVerifier({ secret, jwks: jwks as never, audience: auth.audience, maxLifetime: auth.maxTokenLifetime });
  } catch (error) {
    platform.stderr(`admin.auth: ${(error as Error).message}`);
    return platform.exit(1);
  }
}

/** 308 keeps the method and body (a POST stays a POST), unlike 301/302. */
function _redirectToHttps(request: Request, port: number): Response {
  const url = new URL(request.url);
  const location = `https://${url.hostname}${port === 443 ? "" : `:${port}`}${url.pathname}${url.search}`;
  return new Response(null, { status: 308, headers: { location } });
}

function _hstsValue(config: ListenerConfig): string | undefined {
  const { hsts } = config;
  if (!hsts) return undefined;
  return `max-age=${Math.floor(hsts.maxAge / 1000)}${hsts.includeSubDomains ? "; includeSubDomains" : ""}${hsts.preload ? "; preload" : ""}`;
}

function _sameTls(a: ListenerTls | undefined, b: ListenerTls): boolean {
  return a !== undefined && a.minVersion === b.minVersion && a.certificates.length === b.certificates.length &&
    a.certificates.every((pair, i) => pair.cert === b.certificates[i].cert && pair.key === b.certificates[i].key);
}

function _sameCa(a: ConfigFiles["backendCa"], b: ConfigFiles["backendCa"]): boolean {
  return a.size === b.size && [...a].every(([pool, pems]) => b.get(pool)?.join() === pems.join());
}

function _validity(pair: ListenerTls["certificates"][number], now: number): "valid" | "expired" | "not yet valid" {
  return now > pair.leaf.notAfter ? "expired" : now < pair.leaf.notBefore ? "not yet valid" : "valid";
}

function _reloadFailed(platform: Platform, trigger: string, problems: string[]): ReloadResult {
  logEvent(platform, "reload-failed", { trigger, problems });
  return { ok: false, problems };
}

export function summarize(config: Config): string {
  const members = Object.values(config.pools).reduce((sum, pool) => sum + pool.members.length, 0);
  return `${config.listeners.length} listener(s), ${Object.keys(config.pools).length} pool(s), ${members} member(s), ${config.routes.length} route(s)`;
}
