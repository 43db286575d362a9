/**
 * `tandem serve`: listeners, the balancer, the admin plane, hot reload and graceful shutdown,
 * on any {@link Platform}.
 *
 * @module
 */
import { createAdminApp } from "./admin/app.ts";
import { createVerifier, type Verifier } from "./admin/auth.ts";
import { balancerReady, createAdminControl, workerStats } from "./admin/control.ts";
import { dashboardHtml } from "./admin/dashboard.ts";
import type { ReloadResult } from "./admin/model.ts";
import { type Balancer, createBalancer } from "./balancer/balancer.ts";
import { type BalancerMetrics, createBalancerMetrics } from "./balancer/metrics.ts";
import { registerVrrpMetrics } from "./cluster/vrrp/metrics.ts";
import { createVrrpRole, type VrrpRole } from "./cluster/vrrp/role.ts";
import type { ReplicationSync } from "./cluster/vrrp/agent.ts";
import { registerReplicationMetrics } from "./cluster/replication/metrics.ts";
import { ReplicaStore } from "./cluster/replication/replica-store.ts";
import { createReplicationRole, type ReplicationRole } from "./cluster/replication/role.ts";
import { splitAddress } from "./config/fields.ts";
import { prepareReload } from "./config/reload.ts";
import type { Config } from "./config/schema.ts";
import { defaultListenerConfig, type Listener, listenHttp1 } from "./frontend/http1-listener.ts";
import { type Answer, type ClientRequest, textAnswer } from "./http/message.ts";
import { webHandler } from "./http/web.ts";
import { VERSION } from "./version.ts";
import { ListenerSet } from "./frontend/listener-set.ts";
import { registerProcessMetrics } from "./metrics/process-metrics.ts";
import { Registry } from "./metrics/registry.ts";
import { applyOverrides, decodeState, encodeState, runtimeOverrides } from "./balancer/runtime-state.ts";
import type { Platform } from "./platform.ts";
import { logEvent, processLog } from "./log.ts";
import { AccessLog } from "./log/access-log.ts";
import { refusedRecord } from "./log/access-record.ts";
import type { ConnInfo, LogSink } from "./ports.ts";
import { Http1Client } from "./proxy/http1-client.ts";
import { createWorkerSync, WORKER_CHANNEL, type WorkerSync } from "./worker-sync.ts";
import { RATE_LIMIT_CHANNEL, type RateCount, RateLimitSharing } from "./rules/rate-limit-sharing.ts";
import { rateLimitStatus, registerRateLimitMetrics } from "./rules/rate-limit-status.ts";
import { type ConfigFiles, loadConfigFiles, resolvePath } from "./config/files.ts";
import { Discovery } from "./discovery/discovery.ts";
import { dnsResolverFor } from "./discovery/dns-client.ts";
import { registerDiscoveryMetrics } from "./discovery/metrics.ts";
import { WaitingOverrides } from "./discovery/waiting-state.ts";
import { AcmeCertificates } from "./acme/acme-certificates.ts";
import { acmeReplication } from "./acme/cluster.ts";
import { registerAcmeMetrics } from "./acme/metrics.ts";

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
/** Run-time changes are written this long after the last of a burst. */
const STATE_SAVE_DELAY_MS = 200;

export async function serve(platform: Platform, config: Config, options: ServeOptions = {}): Promise<void> {
  // Admin settings are read once: the admin listener and its keys do not change on reload.
  const admin = await adminVerifier(platform, config, options.configPath);
  if ("problems" in admin) return startFailed(platform, admin.problems);
  const loaded = await loadConfigFiles(config, options.configPath, platform);
  if (!loaded.ok) return startFailed(platform, loaded.problems);
  await new _Process(platform, config, options, loaded.files).start(admin.verify);
}

/**
 * Start-up failed: every problem to stderr, one `fatal` line, exit 1. A worker leaves the `fatal`
 * line to the main thread, which stops the whole process (see workers.ts) and writes one for all.
 */
export function startFailed(platform: Platform, problems: string[]): never {
  for (const problem of problems) platform.stderr(problem);
  if (platform.worker === undefined) logEvent(platform, "fatal", { reason: problems.join("; ") });
  return platform.exit(1);
}

/** One serving process (or worker): the balancer and everything around it, wired once. */
class _Process {
  readonly #platform: Platform;
  readonly #options: ServeOptions;
  readonly #startedAt: number;
  /** Worker 0, or the only one: it alone runs the admin plane, active checks and the cluster roles. */
  readonly #isLead: boolean;
  readonly #log: LogSink;
  readonly #accessLog: AccessLog;
  #files: ConfigFiles;
  readonly #client: Http1Client;
  readonly #probeClient: Http1Client;
  readonly #registry = new Registry();
  readonly #metrics: BalancerMetrics;
  readonly #balancer: Balancer;
  /** Members from DNS; every worker looks up on its own and gets the same names. */
  readonly #discovery: Discovery;
  /** State file entries of members from DNS that the first answers have not brought yet. */
  readonly #waitingState = new WaitingOverrides();
  /** Learned sessions and admin changes, as replication and the other workers see them. */
  readonly #store: ReplicaStore;
  /** Rate limit counts: worker 0's are the process's, the others lease from it; replicated to the peers. */
  readonly #rateLimits: RateLimitSharing;
  readonly #workerSync: WorkerSync | undefined;
  /** The failover agent; only worker 0 speaks for the node (see workers.ts). */
  readonly #vrrp: VrrpRole;
  /** Replication of sticky entries and admin changes; worker 0 holds it like the VRRP role. */
  readonly #replication: ReplicationRole;
  readonly #listeners: ListenerSet;
  /** Certificates of listeners with `tls.acme`, and the http-01 answers of the plain ones. */
  readonly #acme: AcmeCertificates;
  #lastSync: Promise<unknown> = Promise.resolve();
  #admin: Listener | undefined;
  #reloads = 0;
  #stopping = false;
  #stopWatching: (() => void)[] = [];
  #cancelFilesReload: (() => void) | undefined;
  #cancelStateSave: (() => void) | undefined;

  constructor(platform: Platform, config: Config, options: ServeOptions, files: ConfigFiles) {
    const { clock, worker } = platform;
    this.#platform = platform;
    this.#options = options;
    this.#startedAt = clock.now();
    this.#isLead = (worker?.index ?? 0) === 0;
    this.#log = processLog(platform);
    this.#accessLog = new AccessLog(platform, options.configPath);
    this.#files = files;
    this.#client = new Http1Client({ connect: platform.connect, clock });
    this.#probeClient = new Http1Client({ connect: platform.connect, clock });
    this.#metrics = createBalancerMetrics(this.#registry, () => this.#balancer.pools, clock);
    this.#discovery = new Discovery({ clock, log: this.#log, resolverFor: dnsResolverFor(platform), onChange: () => this.#membersDiscovered() });
    registerDiscoveryMetrics(this.#registry, this.#discovery);
    const publishRate = (count: RateCount) => this.#store.rateCounted(count);
    this.#rateLimits = new RateLimitSharing({
      clock,
      worker,
      channel: (worker?.count ?? 1) > 1 ? new BroadcastChannel(RATE_LIMIT_CHANNEL) : undefined,
      publisher: () => (this.#balancer.config.cluster ? publishRate : undefined),
    });
    registerRateLimitMetrics(this.#registry, this.#rateLimits);
    this.#balancer = createBalancer(config, {
      clock,
      upstream: (origin, request, timeouts) => this.#client.request(origin, request, timeouts),
      upgrade: (origin, request, timeouts) => this.#client.upgrade(origin, request, timeouts),
      log: this.#log,
      accessLog: this.#accessLog.write,
      // With workers, worker 0 alone checks; the others follow its verdicts (worker-sync.ts).
      probeClient: this.#isLead ? this.#probeClient : undefined,
      onHealth: (pool, member, transition) => this.#workerSync?.healthChanged(pool, member, transition.up, transition.reason),
      metrics: this.#metrics,
      caCerts: (pool) => this.#files.backendCa.get(pool),
      errorPage: (status) => this.#files.errorPages.get(status),
      discovered: (pool) => this.#discovery.members(pool),
      dnsDraining: (pool) => this.#discovery.draining(pool),
      rateLimitSharing: this.#rateLimits,
    });
    this.#store = new ReplicaStore({
      node: config.cluster?.node ?? "local",
      pools: () => this.#balancer.pools,
      clock,
      rateCount: (record) => this.#rateLimits.peerCount(record.origin, record),
    });
    this.#store.attach();
    this.#workerSync = worker === undefined ? undefined : createWorkerSync({
      worker,
      clock,
      store: this.#store,
      balancer: this.#balancer,
      reload: (trigger) => void this.#reload(trigger),
      channel: new BroadcastChannel(WORKER_CHANNEL),
      // Taken only when worker 0's admin plane asks: nothing is sent per request.
      stats: (want) => workerStats(want, { registry: this.#registry, balancer: this.#balancer, history: this.#metrics.history }),
    });
    const env = (name: string) => platform.env(name);
    this.#vrrp = createVrrpRole({
      clock,
      bindDatagram: platform.bindDatagram,
      runCommand: platform.runCommand,
      ready: () => balancerReady(this.#balancer),
      replication: () => this.#replicationSync(),
      log: this.#log,
      env,
    });
    registerVrrpMetrics(this.#registry, this.#vrrp.status);
    this.#replication = createReplicationRole({ clock, connect: platform.connect, listenStream: platform.listenStream, log: this.#log, env, store: this.#store });
    registerReplicationMetrics(this.#registry, this.#replication.status);
    registerProcessMetrics(this.#registry, () => platform.processStats(), platform.startTime);
    this.#registry.gaugeFn("tandem_build_info", "1, labelled with tandem's version and the runtime it runs on.", ["version", "runtime"], () => [[[VERSION, platform.runtime], 1]]);
    this.#acme = new AcmeCertificates({
      platform,
      log: this.#log,
      changed: () => this.#acmeCertificateChanged(),
      replication: acmeReplication({
        store: this.#store,
        cluster: () => this.#replication.status(),
        vrrp: () => this.#vrrp.status(),
        clock,
        workers: this.#workerSync && { lead: this.#isLead, flushed: this.#workerSync.flushed },
      }),
    });
    // Worker 0 orders: its certificates' state is the process's.
    if (this.#isLead) registerAcmeMetrics(this.#registry, () => this.#acme.status());
    this.#listeners = new ListenerSet(platform, (request, conn) => this.#answer(request, conn), this.#registry, (refusal) => {
      if (this.#balancer.config.accessLog) this.#accessLog.write(refusedRecord(refusal, this.#balancer.inFlight));
    }, (request) => this.#acme.answerChallenge(request));
  }

  /** Signals first: a SIGTERM right after the listening line must drain, not kill. */
  async start(verify: Verifier | undefined): Promise<void> {
    const platform = this.#platform;
    const config = this.#balancer.config;
    platform.onSignal("SIGTERM", () => void this.#stop("SIGTERM"));
    platform.onSignal("SIGINT", () => void this.#stop("SIGINT"));
    platform.onSignal("SIGHUP", () => void this.#reload("SIGHUP"));
    // logrotate moved the access log file away: write to a new one under its name.
    platform.onSignal("SIGUSR1", () => void this.#accessLog.reopen());
    if (config.watchConfig && this.#options.configPath) {
      // Editors write a file in several steps; wait for the burst to settle before reading it.
      let cancel: (() => void) | undefined;
      platform.watchFile(this.#options.configPath, () => {
        cancel?.();
        cancel = platform.clock.setTimer(() => void this.#reload("file change"), 200);
      });
    }
    await this.#restoreState();
    this.#discovery.apply(config);
    this.#store.subscribe((record) => {
      if (record.kind === "admin") this.#saveStateSoon();
    });
    const problems = await this.#accessLog.configure(config.accessLog);
    problems.push(...await this.#acme.apply(config.listeners, this.#options.configPath, this.#files));
    problems.push(...await this.#syncListeners(config.listeners));
    this.#watchFiles();
    problems.push(...await this.#applyRoles(config));
    if (problems.length > 0) startFailed(platform, problems);
    // With workers, worker 0 alone answers the admin plane; its changes reach the others as records.
    if (config.admin && this.#isLead) await this.#openAdmin(config.admin, verify);
  }

  /** The state file of the config in force, undefined when run-time changes are not kept. */
  #statePath(): string | undefined {
    const { stateFile } = this.#balancer.config;
    const configPath = this.#options.configPath;
    if (stateFile === false || configPath === undefined) return undefined;
    const name = configPath.slice(configPath.lastIndexOf("/") + 1).replace(/\.(ya?ml|json)$/i, "");
    return resolvePath(configPath, stateFile ?? `${name}.state.json`);
  }

  /** At start: the activation and weight changes saved by the last run go back on their members. */
  async #restoreState(): Promise<void> {
    const path = this.#statePath();
    if (path === undefined || !(await this.#platform.exists(path))) return;
    const saved = decodeState(await this.#platform.readTextFile(path));
    if ("problem" in saved) return logEvent(this.#platform, "state-file-ignored", { file: path, problem: saved.problem });
    const outcome = applyOverrides(this.#balancer.pools, this.#waitingState.hold(this.#balancer.pools, saved));
    logEvent(this.#platform, "state-restored", { file: path, ...outcome, waiting: this.#waitingState.names() });
  }

  /**
   * Saves the run-time changes (worker 0 alone: the others hold the same state), a moment after
   * the last of a burst (a resync from a peer brings many at once).
   */
  #saveStateSoon(): void {
    if (!this.#isLead || this.#statePath() === undefined) return;
    this.#cancelStateSave?.();
    this.#cancelStateSave = this.#platform.clock.setTimer(() => void this.#saveState(), STATE_SAVE_DELAY_MS);
  }

  async #saveState(): Promise<void> {
    this.#cancelStateSave = undefined;
    const path = this.#statePath();
    if (path === undefined) return;
    try {
      await this.#platform.writeTextFileAtomic(path, encodeState([...runtimeOverrides(this.#balancer.pools), ...this.#waitingState.entries()], this.#platform.clock.now()));
    } catch (error) {
      logEvent(this.#platform, "state-file-not-saved", { file: path, message: (error as Error).message });
    }
  }

  /** Whether a peer's full resync has been applied since this process started (what VRRP waits for). */
  #replicationSync(): ReplicationSync {
    if (!this.#balancer.config.cluster) return "off";
    const peers = this.#replication.status()?.peers ?? [];
    return peers.some((peer) => peer.resyncsReceived > 0) ? "synced" : "waiting";
  }

  /** A bug must cost one request, never the process. */
  async #answer(request: ClientRequest, conn: ConnInfo): Promise<Answer | undefined> {
    try {
      return await this.#balancer.handle(request, conn);
    } catch (error) {
      logEvent(this.#platform, "error", { message: String((error as Error)?.stack ?? error) });
      return textAnswer(500, "500 internal error\n");
    }
  }

  async #applyRoles(config: Config): Promise<string[]> {
    if (!this.#isLead) return [];
    return [...await this.#vrrp.apply(config.vrrp), ...await this.#replication.apply(config.cluster, this.#files.clusterTls)];
  }

  /** Certificates and CA files are watched always: renewal tools replace them without telling anyone. */
  #watchFiles(): void {
    for (const stop of this.#stopWatching) stop();
    this.#stopWatching = this.#files.paths.map((path) =>
      this.#platform.watchFile(path, () => {
        this.#cancelFilesReload?.();
        this.#cancelFilesReload = this.#platform.clock.setTimer(() => void this.#reloadFiles("file change"), 200);
      })
    );
  }

  /** Re-reads the files of the config in force (a renewed certificate), leaving the config alone. */
  async #reloadFiles(trigger: string): Promise<void> {
    const platform = this.#platform;
    const balancer = this.#balancer;
    const result = await loadConfigFiles(balancer.config, this.#options.configPath, platform);
    if (!result.ok) return logEvent(platform, "certificates-reload-failed", { trigger, problems: result.problems });
    const caChanged = !_sameCa(this.#files.backendCa, result.files.backendCa);
    this.#files = result.files;
    if (caChanged) balancer.reload(balancer.config);
    const problems = await this.#syncListeners(balancer.config.listeners);
    if (problems.length > 0) return logEvent(platform, "certificates-reload-failed", { trigger, problems });
    logEvent(platform, "certificates-reloaded", { trigger, files: this.#files.paths });
  }

  /** DNS brought or took members: the pools are rebuilt as by a reload, run-time changes kept. */
  #membersDiscovered(): void {
    const overrides = runtimeOverrides(this.#balancer.pools);
    this.#balancer.reload(this.#balancer.config);
    applyOverrides(this.#balancer.pools, overrides);
    this.#settleWaitingState();
    this.#store.attach();
  }

  /** Saved entries of members from DNS whose member came, or whose pool answered without it. */
  #settleWaitingState(): void {
    const outcome = this.#waitingState.settle(this.#balancer.pools, (pool) => this.#discovery.status(pool)?.lastGoodAt !== undefined);
    if (outcome === undefined) return;
    logEvent(this.#platform, "state-restored-late", { ...outcome, waiting: this.#waitingState.names() });
    this.#saveStateSoon();
  }

  /**
   * The listeners with their certificates from files, an ACME listener's own first. One sync at a
   * time: a certificate obtained during a reload must not open a listener twice.
   */
  #syncListeners(listeners: Config["listeners"]): Promise<string[]> {
    const synced = this.#lastSync.then(async () => {
      const problems = await this.#listeners.sync(listeners, this.#acme.withCertificates(this.#files.listenerTls));
      this.#workerSync?.certificatesServed(this.#acme.ready());
      return problems;
    });
    this.#lastSync = synced.catch(() => {});
    return synced;
  }

  /** A certificate was obtained or renewed: it goes in through the same rotation as a renewed file. */
  async #acmeCertificateChanged(): Promise<void> {
    const problems = await this.#syncListeners(this.#balancer.config.listeners);
    if (problems.length > 0) logEvent(this.#platform, "certificates-reload-failed", { trigger: "acme", problems });
  }

  async #reload(trigger: string): Promise<ReloadResult> {
    const result = await this.#swap(trigger);
    this.#metrics.reload(result.ok ? "ok" : "invalid");
    return result;
  }

  /** Reads and checks the file (config/reload.ts), then swaps it in everywhere. */
  async #swap(trigger: string): Promise<ReloadResult> {
    const platform = this.#platform;
    const prepared = await prepareReload(platform, this.#options.configPath);
    if (!prepared.ok) return _reloadFailed(platform, trigger, prepared.problems);
    const next = prepared.config;
    this.#files = prepared.files;
    // Run-time changes outlive the reload, unless the file changed the same setting.
    const overrides = runtimeOverrides(this.#balancer.pools);
    this.#discovery.apply(next);
    this.#balancer.reload(next);
    const kept = applyOverrides(this.#balancer.pools, overrides);
    if (overrides.length > 0) logEvent(platform, "state-kept", { trigger, ...kept });
    this.#settleWaitingState();
    this.#saveStateSoon();
    this.#store.attach();
    const problems = await this.#accessLog.configure(next.accessLog);
    problems.push(...await this.#acme.apply(next.listeners, this.#options.configPath, this.#files));
    problems.push(...await this.#syncListeners(next.listeners));
    problems.push(...await this.#applyRoles(next));
    this.#watchFiles();
    if (problems.length > 0) return _reloadFailed(platform, trigger, problems);
    this.#reloads++;
    const summary = summarize(next);
    logEvent(platform, "reloaded", { trigger, reloads: this.#reloads, summary });
    return { ok: true, summary };
  }

  async #stop(signal: string): Promise<void> {
    const platform = this.#platform;
    if (this.#stopping) {
      logEvent(platform, "shutdown-forced", { signal });
      platform.exit(1);
    }
    this.#stopping = true;
    const { drainTimeout } = this.#balancer.config;
    const drainDeadline = platform.clock.now() + drainTimeout;
    logEvent(platform, "shutdown", { signal, inFlight: this.#balancer.inFlight, drainTimeout });
    for (const stop of this.#stopWatching) stop();
    this.#acme.stop();
    // Resign first: the backup takes the address after Skew_Time while this node drains.
    await this.#vrrp.stop();
    let timedOut = false;
    await Promise.race([
      Promise.all([this.#listeners.shutdown(), ...(this.#options.extraListeners ?? []).map((listener) => listener.shutdown())]),
      new Promise<void>((resolve) => platform.clock.setTimer(() => {
        timedOut = true;
        resolve();
      }, drainTimeout)),
    ]);
    // After the drain, every worker's: sessions learned by the last requests still reach the peers
    // (the other workers' come to worker 0, which alone replicates, as records).
    await this.#workerSync?.drained(drainDeadline);
    await this.#replication.stop();
    this.#discovery.stop();
    this.#workerSync?.close();
    this.#rateLimits.close();
    this.#balancer.close();
    void this.#admin?.shutdown();
    this.#client.close();
    this.#probeClient.close();
    this.#accessLog.close();
    logEvent(platform, "stopped", { drained: !timedOut });
    platform.exit(0);
  }

  async #openAdmin(admin: NonNullable<Config["admin"]>, verify: Verifier | undefined): Promise<void> {
    const platform = this.#platform;
    const app = createAdminApp({
      control: createAdminControl({
        balancer: this.#balancer,
        registry: this.#registry,
        runtime: platform.runtime,
        startedAt: this.#startedAt,
        history: this.#metrics.history,
        clock: platform.clock,
        reloads: () => this.#reloads,
        reload: async (trigger) => {
          const result = await this.#reload(trigger);
          if (result.ok) this.#workerSync?.reloaded(trigger);
          return result;
        },
        log: this.#log,
        vrrp: this.#vrrp.status,
        cluster: this.#replication.status,
        rateLimits: (top) => rateLimitStatus(this.#rateLimits, this.#balancer.config.rateLimits, platform.clock.now(), top),
        memberChanged: (pool, member, change, actor) => this.#store.adminChanged(pool, member, change, actor),
        workers: this.#workerSync,
        discovery: (pool) => this.#discovery.status(pool),
        certificatesReady: () => this.#acme.ready() && (this.#workerSync?.othersServeCertificates() ?? true),
        acme: () => this.#acme.status(),
      }),
      verify,
      publicMetrics: admin.publicMetrics,
      dashboardHtml,
      log: this.#log,
    });
    const { hostname, port } = splitAddress(admin.address);
    try {
      this.#admin = await listenHttp1(platform, hostname, port, webHandler((request, conn) => app.fetch(request, { remoteAddress: conn.remoteAddress })), {
        config: defaultListenerConfig(admin.address),
        events: this.#listeners.events("admin"),
      });
    } catch (error) {
      return startFailed(platform, [`admin.address: cannot listen on ${admin.address}: ${(error as Error).message}`]);
    }
    logEvent(platform, "admin-listening", { address: `${this.#admin.hostname}:${this.#admin.port}`, auth: verify !== undefined });
  }
}

/**
 * The admin API's token check from the config (or TANDEM_ADMIN_SECRET), or why there can be none.
 * Without any key the API is open, which is only allowed on loopback. `tandem check` asks the
 * same, so a config it passes never fails here.
 */
export async function adminVerifier(
  platform: Platform,
  config: Config,
  configPath: string | undefined,
): Promise<{ verify: Verifier | undefined } | { problems: string[] }> {
  if (!config.admin) return { verify: undefined };
  const { address, auth } = config.admin;
  const secret = platform.env("TANDEM_ADMIN_SECRET") ?? auth.secret;
  let jwks: { keys: Record<string, unknown>[] } | undefined;
  if (auth.jwksFile !== undefined) {
    try {
      jwks = JSON.parse(await platform.readTextFile(resolvePath(configPath, auth.jwksFile)));
    } catch (error) {
      return { problems: [`admin.auth.jwksFile: cannot read ${auth.jwksFile}: ${(error as Error).message}`] };
    }
  }
  if (secret === undefined && jwks === undefined) {
    const { hostname } = splitAddress(address);
    if (!["127.0.0.1", "::1", "localhost"].includes(hostname)) {
      return { problems: [`admin.address: ${address} is not loopback and no auth is configured (admin.auth.secret, admin.auth.jwksFile or TANDEM_ADMIN_SECRET)`] };
    }
    return { verify: undefined };
  }
  try {
    return { verify: createVerifier({ secret, jwks: jwks as never, audience: auth.audience, maxLifetime: auth.maxTokenLifetime, maxReadLifetime: auth.maxReadTokenLifetime }) };
  } catch (error) {
    return { problems: [`admin.auth: ${(error as Error).message}`] };
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
