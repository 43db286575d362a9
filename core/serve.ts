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
import { prepareReload } from "./config/reload.ts";
import type { Config } from "./config/schema.ts";
import { defaultListenerConfig, type Listener, listenHttp1 } from "./frontend/http1-listener.ts";
import { ListenerSet } from "./frontend/listener-set.ts";
import { Registry } from "./metrics/registry.ts";
import type { Platform } from "./platform.ts";
import { logEvent, processLog } from "./log.ts";
import type { ConnInfo } from "./ports.ts";
import { Http1Client } from "./proxy/http1-client.ts";
import { createWorkerSync, WORKER_CHANNEL } from "./worker-sync.ts";
import { type ConfigFiles, loadConfigFiles, resolvePath } from "./config/files.ts";

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
  const startedAt = platform.clock.now();
  const isLead = (platform.worker?.index ?? 0) === 0;
  const { worker } = platform;
  const log = processLog(platform);
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
  const handler = async (request: Request, conn: ConnInfo) => {
    try {
      return await balancer.fetch(request, conn);
    } catch (error) {
      // A bug must cost one request, never the process.
      logEvent(platform, "error", { message: String((error as Error)?.stack ?? error) });
      return new Response("500 internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
    }
  };
  const listeners = new ListenerSet(platform, handler, registry);

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
    const problems = await listeners.sync(balancer.config.listeners, files.listenerTls);
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
    const prepared = await prepareReload(platform, options.configPath);
    if (!prepared.ok) return _reloadFailed(platform, trigger, prepared.problems);
    const next = prepared.config;
    files = prepared.files;
    balancer.reload(next);
    store.attach();
    const problems = await listeners.sync(next.listeners, files.listenerTls);
    if (isLead) problems.push(...await vrrp.apply(next.vrrp));
    if (isLead) problems.push(...await replication.apply(next.cluster, files.clusterTls));
    watchFiles();
    if (problems.length > 0) return _reloadFailed(platform, trigger, problems);
    reloads++;
    const summary = summarize(next);
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
        listeners.shutdown(),
        ...(options.extraListeners ?? []).map((listener) => listener.shutdown()),
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
  const problems = await listeners.sync(config.listeners, files.listenerTls);
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
        events: listeners.events("admin"),
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

function _sameCa(a: ConfigFiles["backendCa"], b: ConfigFiles["backendCa"]): boolean {
  return a.size === b.size && [...a].every(([pool, pems]) => b.get(pool)?.join() === pems.join());
}

function _reloadFailed(platform: Platform, trigger: string, problems: string[]): ReloadResult {
  logEvent(platform, "reload-failed", { trigger, problems });
  return { ok: false, problems };
}

export function summarize(config: Config): string {
  const members = Object.values(config.pools).reduce((sum, pool) => sum + pool.members.length, 0);
  return `${config.listeners.length} listener(s), ${Object.keys(config.pools).length} pool(s), ${members} member(s), ${config.routes.length} route(s)`;
}
