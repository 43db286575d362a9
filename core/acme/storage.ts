/**
 * The ACME state on disk: the account (its URL and key) per CA directory, and each certificate with
 * its key. Every file is written whole (rename over the old one) and readable by the owner only,
 * since the keys are the balancer's identity:
 *
 * ```
 * <storage>/<CA host and path>/account.json          {"url": ..., "keyPem": ...}
 * <storage>/<CA host and path>/<first domain>/cert.pem  leaf + chain
 * <storage>/<CA host and path>/<first domain>/key.pem
 * ```
 *
 * A crash between writing a new key and its certificate leaves a pair that does not match; the
 * reader checks that and treats it as no certificate, so the next start orders a new one.
 *
 * @module
 */
import type { Platform } from "../platform.ts";
import { checkKeyPair, type KeyPair } from "../tls/certificate.ts";

export type StoragePorts = Pick<Platform, "readTextFile" | "writeTextFileAtomic" | "makeDirectory" | "exists">;

export interface StoredAccount {
  url: string;
  keyPem: string;
}

/** A stored certificate, checked against its key, with the files it was read from. */
export type StoredCertificate = KeyPair & { certFile: string; keyFile: string };

export class AcmeStorage {
  readonly #ports: StoragePorts;
  readonly #directory: string;

  /** `root` is the configured `storage` (resolved); `directoryUrl` the CA's: each CA has its own account. */
  constructor(ports: StoragePorts, root: string, directoryUrl: string) {
    this.#ports = ports;
    this.#directory = `${root.replace(/\/+$/, "")}/${caFolder(directoryUrl)}`;
  }

  get accountFile(): string {
    return `${this.#directory}/account.json`;
  }

  /** The stored account, undefined when there is none; throws when the file is there but unreadable. */
  async loadAccount(): Promise<StoredAccount | undefined> {
    if (!(await this.#ports.exists(this.accountFile))) return undefined;
    const parsed = JSON.parse(await this.#ports.readTextFile(this.accountFile)) as Partial<StoredAccount>;
    if (typeof parsed.url !== "string" || typeof parsed.keyPem !== "string") throw new Error(`${this.accountFile}: expected {"url", "keyPem"}`);
    return { url: parsed.url, keyPem: parsed.keyPem };
  }

  async saveAccount(account: StoredAccount): Promise<void> {
    await this.#ports.makeDirectory(this.#directory);
    await this.#ports.writeTextFileAtomic(this.accountFile, JSON.stringify({ url: account.url, keyPem: account.keyPem }, null, 2) + "\n", { secret: true });
  }

  certificateFiles(domains: readonly string[]): { certFile: string; keyFile: string } {
    const folder = `${this.#directory}/${domains[0]}`;
    return { certFile: `${folder}/cert.pem`, keyFile: `${folder}/key.pem` };
  }

  /** The stored certificate for `domains` whose key matches it, else undefined. */
  async loadCertificate(domains: readonly string[]): Promise<StoredCertificate | undefined> {
    const files = this.certificateFiles(domains);
    if (!(await this.#ports.exists(files.certFile)) || !(await this.#ports.exists(files.keyFile))) return undefined;
    const [cert, key] = await Promise.all([this.#ports.readTextFile(files.certFile), this.#ports.readTextFile(files.keyFile)]);
    const checked = await checkKeyPair(cert, key, { cert: files.certFile, key: files.keyFile });
    return checked.ok ? { ...checked.pair, ...files } : undefined;
  }

  /** Key first: a crash in between leaves a mismatch that {@link loadCertificate} refuses, never an old key with a new certificate served. */
  async saveCertificate(domains: readonly string[], certPem: string, keyPem: string): Promise<StoredCertificate> {
    const files = this.certificateFiles(domains);
    const checked = await checkKeyPair(certPem, keyPem, { cert: files.certFile, key: files.keyFile });
    if (!checked.ok) throw new Error(`the CA's certificate does not fit its key: ${checked.problems.join("; ")}`);
    await this.#ports.makeDirectory(files.certFile.slice(0, files.certFile.lastIndexOf("/")));
    await this.#ports.writeTextFileAtomic(files.keyFile, keyPem, { secret: true });
    await this.#ports.writeTextFileAtomic(files.certFile, certPem, { secret: true });
    return { ...checked.pair, ...files };
  }
}

/** "acme-v02.api.letsencrypt.org/directory" -> "acme-v02.api.letsencrypt.org_directory": one folder per CA, readable. */
function caFolder(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  return `${url.host}${url.pathname}`.replace(/[^A-Za-z0-9.-]+/g, "_").replace(/_+$/, "");
}
