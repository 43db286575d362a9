/**
 * One listener's ACME certificate through its life: the stored one (or a self-signed placeholder
 * while there is none) served at once, ordered when missing, renewed ahead of its end, and tried
 * again after a failure with a doubling wait. Every new pair goes to `install`, which hands it to
 * the listener (core/frontend/listener-set.ts rotates it in without dropping connections).
 *
 * @module
 */
import type { Clock, LogSink } from "../ports.ts";
import { checkKeyPair } from "../tls/certificate.ts";
import type { ResolvedAcmeConfig } from "./domains.ts";
import type { CertificateRequest, ChallengeResponder, IssuedCertificate, RenewalWindow } from "./client.ts";
import { certificateId } from "./ari.ts";
import { covers, renewalTime, retryDelay } from "./renewal.ts";
import type { AcmeStorage, StoredCertificate } from "./storage.ts";

/** What this module needs of an ACME client (core/acme/client.ts's AcmeClient), opened on the stored account. */
export interface AcmeIssuer {
  readonly account: { url: string; keyPem: string };
  obtain(request: CertificateRequest, responder: ChallengeResponder): Promise<IssuedCertificate>;
  renewalInfo(certPem: string): Promise<RenewalWindow | null>;
}

export interface ManagedCertificateOptions {
  listener: string;
  config: ResolvedAcmeConfig;
  storage: AcmeStorage;
  clock: Clock;
  /** Draws for the renewal jitter. */
  random: () => number;
  log: LogSink;
  /** Opens the client on the CA, reusing `accountKeyPem` when given (a new account otherwise). */
  openIssuer(accountKeyPem: string | undefined): Promise<AcmeIssuer>;
  responder: ChallengeResponder;
  /** A self-signed certificate for `domains` (the placeholder) and a fresh key for it. */
  placeholder(domains: string[], now: number): Promise<{ certPem: string; keyPem: string }>;
  /** Called with every certificate to serve, the placeholder first when there is nothing stored. */
  install(pair: StoredCertificate): Promise<void>;
  /** In an HA pair: whether this node orders now (else it waits for the orderer's certificate), and where what it obtains goes. */
  cluster?: {
    /** Another worker of this process orders and keeps the files: this one only serves what it shares (adopt). */
    follower: boolean;
    ordering(): boolean;
    shareAccount(account: { url: string; keyPem: string }): void;
    shareCertificate(certPem: string, keyPem: string): void;
  };
}

export interface ManagedCertificateStatus {
  listener: string;
  domains: string[];
  directory: string;
  /**
   * "placeholder" until the CA's first certificate ("files" while the listener's own certificate
   * files serve instead), then "valid" (or "expired" if renewals kept failing).
   */
  state: "placeholder" | "files" | "valid" | "expired";
  notAfter?: number;
  /** When the next order (or ARI check) is due. */
  nextAttempt?: number;
  /** Failed attempts since the last success. */
  failures: number;
  lastError?: { at: number; code: string; message: string };
  orders: { ok: number; failed: number };
}

/** setTimeout holds at most 2^31-1 ms (24.8 days); a renewal 60 days out is reached in steps. */
const LONGEST_TIMER_MS = 6 * 60 * 60 * 1000;
const PLACEHOLDER_FILE = "(acme placeholder)";

export class ManagedCertificate {
  readonly #options: ManagedCertificateOptions;
  #issuer: AcmeIssuer | undefined;
  #current: StoredCertificate | undefined;
  #placeholder = true;
  #failures = 0;
  #lastError: ManagedCertificateStatus["lastError"];
  #nextAttempt: number | undefined;
  #cancelTimer: (() => void) | undefined;
  #stopped = false;
  #busy: Promise<void> | undefined;
  readonly #orders = { ok: 0, failed: 0 };

  constructor(options: ManagedCertificateOptions) {
    this.#options = options;
  }

  /** Serves the stored certificate, or the placeholder and orders at once. Resolves once one is installed. */
  async start(): Promise<void> {
    const { storage, config, clock } = this.#options;
    const now = clock.now();
    const stored = await storage.loadCertificate(config.domains).catch((error) => {
      this.#event("acme-storage-unreadable", { message: _message(error) });
      return undefined;
    });
    if (stored && covers(stored.leaf, config.domains, now)) {
      await this.#serveRenewed(stored, "acme-certificate-loaded");
      return;
    }
    const placeholder = await this.#options.placeholder(config.domains, now);
    const checked = await checkKeyPair(placeholder.certPem, placeholder.keyPem, { cert: PLACEHOLDER_FILE, key: PLACEHOLDER_FILE });
    if (!checked.ok) throw new Error(`acme placeholder: ${checked.problems.join("; ")}`);
    await this.#serve({ ...checked.pair, certFile: PLACEHOLDER_FILE, keyFile: PLACEHOLDER_FILE }, true);
    this.#scheduleAt(now);
  }

  /** The CA's certificate serves (not the placeholder). */
  get ready(): boolean {
    return !this.#placeholder;
  }

  get current(): StoredCertificate | undefined {
    return this.#current;
  }

  status(): ManagedCertificateStatus {
    const { listener, config, clock } = this.#options;
    const notAfter = this.#placeholder ? undefined : this.#current?.leaf.notAfter;
    return {
      listener,
      domains: config.domains,
      directory: config.directory,
      state: this.#placeholder ? "placeholder" : notAfter !== undefined && clock.now() > notAfter ? "expired" : "valid",
      notAfter,
      nextAttempt: this.#nextAttempt,
      failures: this.#failures,
      lastError: this.#lastError,
      orders: { ...this.#orders },
    };
  }

  /** Stops the schedule; an order under way finishes but installs nothing. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#nextAttempt = undefined;
  }

  /** The due attempt, one at a time. */
  #run(): Promise<void> {
    this.#cancelTimer?.();
    return this.#busy ??= this.#attempt().finally(() => (this.#busy = undefined));
  }

  /**
   * A certificate another node of the pair obtained: stored and served when it lasts longer than
   * the one served (or replaces the placeholder), and the renewal planned from it.
   */
  async adopt(certPem: string, keyPem: string): Promise<void> {
    const { storage, config, clock } = this.#options;
    const current = this.#placeholder ? undefined : this.#current;
    const files = storage.certificateFiles(config.domains);
    const checked = await checkKeyPair(certPem, keyPem, { cert: files.certFile, key: files.keyFile });
    if (!checked.ok || !covers(checked.pair.leaf, config.domains, clock.now())) return;
    if (current && checked.pair.leaf.notAfter <= current.leaf.notAfter) return;
    // A follower's worker 0 writes the same files: two threads renaming over one file would race.
    const saved = this.#options.cluster?.follower ? { ...checked.pair, ...files } : await storage.saveCertificate(config.domains, certPem, keyPem);
    this.#failures = 0;
    this.#lastError = undefined;
    if (this.#stopped) return;
    await this.#serveRenewed(saved, "acme-certificate-replicated");
  }

  /** The account another node of the pair uses: stored, and used from the next attempt on. */
  async adoptAccount(account: { url: string; keyPem: string }): Promise<void> {
    const stored = await this.#options.storage.loadAccount().catch(() => undefined);
    if (stored?.url === account.url && stored.keyPem === account.keyPem) return;
    await this.#options.storage.saveAccount(account);
    this.#issuer = undefined;
  }

  #scheduleAt(at: number): void {
    // A follower never orders: what it serves comes from worker 0 (adopt).
    if (this.#stopped || this.#options.cluster?.follower) return;
    this.#cancelTimer?.();
    this.#nextAttempt = at;
    const { clock } = this.#options;
    const wait = Math.min(Math.max(at - clock.now(), 0), LONGEST_TIMER_MS);
    this.#cancelTimer = clock.setTimer(() => {
      if (clock.now() < at) return this.#scheduleAt(at);
      void this.#run();
    }, wait);
  }

  async #attempt(): Promise<void> {
    const { config, clock, storage, cluster } = this.#options;
    // Another node orders: its certificate comes by replication (adopt); asked again later, in case this node takes over.
    if (cluster && !cluster.ordering()) return this.#scheduleAt(clock.now() + config.retryMin);
    try {
      const issuer = await this.#openIssuer();
      const current = this.#placeholder ? undefined : this.#current;
      let replaces: string | undefined;
      if (current) {
        // The CA's renewal window (RFC 9773) may say "not yet", or "now" for a revoked certificate.
        const window = await issuer.renewalInfo(current.cert).catch(() => null);
        if (window && window.start > clock.now()) {
          this.#event("acme-renewal-window", { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() });
          return this.#scheduleAt(this.#renewalTime(current, window));
        }
        // Only a CA with ARI knows `replaces`; it then exempts the renewal from some rate limits.
        if (window) replaces = certificateId(current.cert);
      }
      this.#event("acme-order", { domains: config.domains, renewal: current !== undefined });
      const request: CertificateRequest = { domains: [...config.domains], challenge: config.challenge, keyType: config.keyType, replaces };
      const issued = await issuer.obtain(request, this.#options.responder);
      const saved = await storage.saveCertificate(config.domains, issued.certPem, issued.keyPem);
      cluster?.shareCertificate(issued.certPem, issued.keyPem);
      this.#orders.ok++;
      this.#failures = 0;
      this.#lastError = undefined;
      if (this.#stopped) return;
      await this.#serveRenewed(saved, "acme-certificate-obtained");
    } catch (error) {
      this.#orders.failed++;
      this.#failures++;
      const code = (error as { code?: unknown }).code;
      this.#lastError = { at: clock.now(), code: typeof code === "string" ? code : "error", message: _message(error) };
      const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
      const delay = retryDelay(this.#failures, { min: config.retryMin, max: config.retryMax }, typeof retryAfterMs === "number" ? retryAfterMs : 0);
      this.#event("acme-failed", { code: this.#lastError.code, message: this.#lastError.message, failures: this.#failures, retryInMs: delay });
      this.#scheduleAt(clock.now() + delay);
    }
  }

  /** The client on the stored account; a new account is stored before it is used for anything else. */
  async #openIssuer(): Promise<AcmeIssuer> {
    if (this.#issuer) return this.#issuer;
    const { storage } = this.#options;
    const stored = await storage.loadAccount();
    const issuer = await this.#options.openIssuer(stored?.keyPem);
    if (stored?.url !== issuer.account.url || stored.keyPem !== issuer.account.keyPem) {
      await storage.saveAccount(issuer.account);
      this.#options.cluster?.shareAccount(issuer.account);
      this.#event("acme-account", { url: issuer.account.url, created: stored === undefined });
    }
    return this.#issuer = issuer;
  }

  #renewalTime(certificate: StoredCertificate, window?: RenewalWindow): number {
    return renewalTime(certificate.leaf, { renewBefore: this.#options.config.renewBefore, random: this.#options.random }, window);
  }

  async #serve(pair: StoredCertificate, placeholder: boolean): Promise<void> {
    this.#current = pair;
    this.#placeholder = placeholder;
    await this.#options.install(pair);
  }

  /** A certificate from the CA (stored, ordered or replicated): served, logged with `event`, and renewed in time. */
  async #serveRenewed(certificate: StoredCertificate, event: string): Promise<void> {
    await this.#serve(certificate, false);
    this.#event(event, { file: certificate.certFile, notAfter: new Date(certificate.leaf.notAfter).toISOString() });
    this.#scheduleAt(this.#renewalTime(certificate));
  }

  #event(event: string, fields: Record<string, unknown>): void {
    this.#options.log({ event, listener: this.#options.listener, ...fields });
  }
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
