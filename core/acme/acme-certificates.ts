/**
 * The ACME certificates of a serving process: one {@link ManagedCertificate} per listener with
 * `tls.acme`, kept across reloads while its settings stay the same, the http-01 answers they
 * publish, and the pairs to put first on their listeners.
 *
 * @module
 */
import type { ListenerConfig } from "../config/schema.ts";
import { type ConfigFiles, resolvePath } from "../config/files.ts";
import type { Answer } from "../http/message.ts";
import type { Platform } from "../platform.ts";
import type { LogSink } from "../ports.ts";
import type { ListenerTls } from "../tls/certificate.ts";
import { type AccountOptions, AcmeClient, type AcmePorts, type ChallengeResponder, generateKeyPem, selfSignedPem } from "./client.ts";
import { acmeHmacKey } from "./checks.ts";
import { accountKey, type AcmeReplication, certificateKey, http01Key } from "./cluster.ts";
import { Http01Tokens } from "./http01.ts";
import { type AcmeIssuer, ManagedCertificate, type ManagedCertificateStatus } from "./managed-certificate.ts";
import { acmeDomains, type ResolvedAcmeConfig } from "./domains.ts";
import { AcmeStorage } from "./storage.ts";

export type AcmePlatform = Pick<Platform, "clock" | "env" | "fetch" | "fetchTrusting" | "readTextFile" | "writeTextFileAtomic" | "makeDirectory" | "exists">;

export interface AcmeCertificatesOptions {
  platform: AcmePlatform;
  log: LogSink;
  /** Called after a listener's certificate changed outside a reload (obtained, renewed). */
  changed(): Promise<void>;
  random?: () => number;
  /** The ordering node (and worker) and the accounts, certificates and http-01 answers shared with the others. */
  replication?: AcmeReplication;
  /** The CA's client; AcmeClient.open unless a test hands in another. */
  openClient?: (ports: AcmePorts, options: AccountOptions) => Promise<AcmeIssuer>;
}

/** How long an http-01 answer may take to reach the peers before the CA is told to look (it may ask either node). */
const TOKEN_DELIVERY_MS = 5000;

/** Long enough to never lapse before the first order succeeds or an operator looks; browsers refuse it anyway. */
const PLACEHOLDER_LIFETIME_MS = 90 * 24 * 60 * 60 * 1000;

interface Managed {
  /** The settings it was made for: another value makes another certificate. */
  settings: string;
  config: ResolvedAcmeConfig;
  /** The listener has certificate files too: they serve instead of the placeholder, and it is ready with them. */
  hasFiles: boolean;
  certificate: ManagedCertificate;
}

export class AcmeCertificates {
  /** What the plain listeners answer to the CA's http-01 requests. */
  readonly tokens = new Http01Tokens();
  readonly #options: AcmeCertificatesOptions;
  readonly #managed = new Map<string, Managed>();
  readonly #responder: ChallengeResponder;
  #applying = false;

  constructor(options: AcmeCertificatesOptions) {
    this.#options = options;
    const { replication } = options;
    this.#responder = {
      publishHttp01: async (token, keyAuthorization) => {
        this.tokens.publish(token, keyAuthorization);
        replication?.publish(http01Key(token), keyAuthorization);
        await replication?.delivered(TOKEN_DELIVERY_MS);
      },
      withdraw: async (_domain, token) => {
        this.tokens.withdraw(token);
        replication?.publish(http01Key(token), "");
      },
    };
    replication?.subscribe((key, value) => void this.#shared(key, value));
  }

  /** A listener added by a reload takes what the peers shared before it existed. */
  async #catchUp(config: ResolvedAcmeConfig): Promise<void> {
    const replication = this.#options.replication;
    for (const key of [accountKey(config.directory), certificateKey(config.directory, config.domains)]) {
      const value = replication?.current(key);
      if (value !== undefined) await this.#shared(key, value);
    }
  }

  /** A value a peer shared: an http-01 answer is published at once, accounts and certificates go to the listeners that use them. */
  async #shared(key: string, value: string): Promise<void> {
    try {
      if (key.startsWith(http01Key(""))) {
        const token = key.slice(http01Key("").length);
        return value === "" ? this.tokens.withdraw(token) : this.tokens.publish(token, value);
      }
      for (const { config, certificate } of this.#managed.values()) {
        // A follower never orders: the account is worker 0's to keep.
        if (key === accountKey(config.directory) && !this.#options.replication?.follower) await certificate.adoptAccount(JSON.parse(value));
        if (key === certificateKey(config.directory, config.domains)) {
          const { certPem, keyPem } = JSON.parse(value);
          await certificate.adopt(certPem, keyPem);
        }
      }
    } catch (error) {
      this.#options.log({ event: "acme-replicated-value-refused", key, message: (error as Error).message });
    }
  }

  /**
   * Starts the certificates of listeners new to `listeners` (each serving its stored certificate or
   * the placeholder when this resolves), stops those of listeners gone. `files` as
   * config/files.ts read them: the trusted CAs and the listeners' own certificates.
   */
  async apply(listeners: readonly ListenerConfig[], configPath: string | undefined, files: Pick<ConfigFiles, "acmeCa" | "listenerTls">): Promise<string[]> {
    const trustedCa = files.acmeCa;
    const wanted = new Map<string, { config: ResolvedAcmeConfig; settings: string; hasFiles: boolean }>();
    for (const listener of listeners) {
      const acme = listener.tls?.acme;
      if (!acme) continue;
      const fileCertificates = files.listenerTls.get(listener.address)?.certificates ?? [];
      const config = { ...acme, domains: acmeDomains(acme, fileCertificates) };
      wanted.set(listener.address, { config, settings: JSON.stringify([config, trustedCa.get(listener.address), configPath]), hasFiles: fileCertificates.length > 0 });
    }
    for (const [address, managed] of this.#managed) {
      if (wanted.get(address)?.settings === managed.settings) continue;
      managed.certificate.stop();
      this.#managed.delete(address);
    }
    const problems: string[] = [];
    this.#applying = true;
    try {
      for (const [address, { config, settings, hasFiles }] of wanted) {
        if (this.#managed.has(address)) continue;
        const certificate = this.#create(address, config, configPath, trustedCa.get(address));
        try {
          await certificate.start();
          this.#managed.set(address, { settings, config, hasFiles, certificate });
          await this.#catchUp(config);
        } catch (error) {
          problems.push(`listener ${address}: tls.acme: ${(error as Error).message}`);
        }
      }
    } finally {
      this.#applying = false;
    }
    return problems;
  }

  /**
   * `files` with each ACME listener's certificate first (its default, for clients without SNI); the
   * placeholder only on a listener without certificate files of its own.
   */
  withCertificates(files: ReadonlyMap<string, ListenerTls>): Map<string, ListenerTls> {
    const merged = new Map(files);
    for (const [address, { certificate }] of this.#managed) {
      const pair = certificate.current;
      const tls = files.get(address);
      if (!pair || !tls || (!certificate.ready && tls.certificates.length > 0)) continue;
      merged.set(address, { ...tls, certificates: [pair, ...tls.certificates] });
    }
    return merged;
  }

  /** Every ACME listener serves its CA's certificate or its own files (what /readyz waits for). */
  ready(): boolean {
    return [...this.#managed.values()].every(({ certificate, hasFiles }) => certificate.ready || hasFiles);
  }

  status(): ManagedCertificateStatus[] {
    return [...this.#managed.values()].map(({ certificate, hasFiles }) => {
      const status = certificate.status();
      return status.state === "placeholder" && hasFiles ? { ...status, state: "files" } : status;
    });
  }

  /**
   * The answer to a CA's http-01 request (undefined for any other request), logged when it gives
   * the key authorization: which worker or node the CA reached shows in the line.
   */
  answerChallenge(request: { method: string; target: string }): Answer | undefined {
    const answer = this.tokens.answer(request);
    if (answer?.status === 200) this.#options.log({ event: "acme-challenge-answered", token: request.target.slice(request.target.lastIndexOf("/") + 1) });
    return answer;
  }

  stop(): void {
    for (const { certificate } of this.#managed.values()) certificate.stop();
  }

  #create(address: string, config: ResolvedAcmeConfig, configPath: string | undefined, trustedCa: string[] | undefined): ManagedCertificate {
    const { platform, log } = this.#options;
    const ports: AcmePorts = { clock: platform.clock, fetch: trustedCa ? platform.fetchTrusting(trustedCa) : (url, init) => platform.fetch(url, init) };
    const openClient = this.#options.openClient ?? ((ports, options) => AcmeClient.open(ports, options));
    const hmacKey = config.eab && acmeHmacKey(config.eab, (name) => platform.env(name));
    return new ManagedCertificate({
      listener: address,
      config,
      storage: new AcmeStorage(platform, resolvePath(configPath, config.storage), config.directory),
      clock: platform.clock,
      random: this.#options.random ?? Math.random,
      log,
      openIssuer: (accountKeyPem) =>
        openClient(ports, {
          directory: config.directory,
          email: config.email,
          eab: config.eab && hmacKey !== undefined ? { keyId: config.eab.keyId, hmacKey } : undefined,
          accountKeyPem,
        }),
      responder: this.#responder,
      placeholder: async (domains, now) => {
        const keyPem = await generateKeyPem("ec-p256");
        return { keyPem, certPem: await selfSignedPem(domains, keyPem, PLACEHOLDER_LIFETIME_MS, now) };
      },
      install: async () => {
        if (!this.#applying) await this.#options.changed();
      },
      cluster: this.#options.replication && {
        follower: this.#options.replication.follower,
        ordering: () => this.#options.replication!.ordering(),
        shareAccount: (account) => this.#options.replication!.publish(accountKey(config.directory), JSON.stringify(account)),
        shareCertificate: (certPem, keyPem) => this.#options.replication!.publish(certificateKey(config.directory, config.domains), JSON.stringify({ certPem, keyPem })),
      },
    });
  }
}
