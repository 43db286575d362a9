/**
 * A real ACME CA for tests: Debian's `pebble` (Let's Encrypt's test CA) with
 * `pebble-challtestsrv` as its DNS server, which answers every A query with 127.0.0.1, so pebble
 * validates challenges against the test's own servers on loopback (`httpPort` for http-01,
 * `tlsPort` for tls-alpn-01). Both on free ports in a temp directory of their own; pebble's TLS
 * certificate is made with openssl. Debian's pebble 2.4.0 has EAB and a configurable certificate
 * lifetime but no ARI (RFC 9773): its directory has no renewalInfo.
 *
 * @example
 * ```ts
 * const pebble = await startPebble({ validitySeconds: 300 });
 * const client = await AcmeClient.open({ fetch: pebble.fetch, clock: systemClock }, { directory: pebble.directory });
 * await pebble.stop();
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./certs.ts";
import { freePort, waitFor } from "./ports.ts";

export const pebbleMissing = !existsSync("/usr/bin/pebble") || !existsSync("/usr/bin/pebble-challtestsrv")
  ? "pebble is not installed (Debian package pebble)"
  : false;

export interface PebbleOptions {
  /** externalAccountMACKeys: key id -> base64url HMAC key; with `eabRequired`, accounts need one. */
  eabKeys?: Record<string, string>;
  eabRequired?: boolean;
  /** certificateValidityPeriod: the lifetime of issued certificates (pebble's default is 5 years). */
  validitySeconds?: number;
  /** domainBlocklist: names pebble refuses to issue for (rejectedIdentifier). */
  blockedDomains?: string[];
  /** Where pebble connects for http-01 and tls-alpn-01 (default: free ports, see `httpPort`/`tlsPort`). */
  httpPort?: number;
  tlsPort?: number;
  /** The address every name resolves to, where pebble validates (default 127.0.0.1): another loopback address reaches another process on the same ports. */
  answerAddress?: string;
  /** Pebble's PEBBLE_* variables; PEBBLE_VA_NOSLEEP=1 is set unless overridden. */
  env?: Record<string, string>;
}

export interface Pebble {
  directory: string;
  /**
   * What a client must trust for `directory` (config `trustedCa`): the CA that signed pebble's
   * own TLS certificate, PEM text and file.
   */
  tlsCertPem: string;
  tlsCertFile: string;
  /** A fetch of the test's runtime that trusts `tlsCertPem`. */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  httpPort: number;
  tlsPort: number;
  /** The root that issued pebble's certificates (regenerated at each pebble start). */
  issuingRootPem(): Promise<string>;
  /** What pebble has logged so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  let lastError: unknown;
  // A free port can be taken by another process before pebble binds it: then try new ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await _start(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function _start(options: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-pebble-"));
  const [acmePort, managementPort, dnsPort, challManagementPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const httpPort = options.httpPort ?? await freePort();
  const tlsPort = options.tlsPort ?? await freePort();
  const serverCertFile = join(dir, "cert.pem");
  const tlsKeyFile = join(dir, "key.pem");
  const caCertFile = join(dir, "ca.pem");
  const caKeyFile = join(dir, "ca.key");
  writeFileSync(join(dir, "cert.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n");
  // Deno's TLS (rustls) refuses a CA certificate as a server's: a CA and a leaf, then.
  for (const args of [
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKeyFile, "-out", caCertFile, "-days", "2", "-subj", "/CN=pebble test CA"],
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", tlsKeyFile, "-out", join(dir, "cert.csr"), "-subj", "/CN=pebble"],
    [
      "x509", "-req", "-in", join(dir, "cert.csr"), "-CA", caCertFile, "-CAkey", caKeyFile, "-days", "2", "-out", serverCertFile,
      "-extfile", join(dir, "cert.ext"),
    ],
  ]) {
    const made = await run("openssl", args);
    if (made.code !== 0) throw new Error(`openssl could not make pebble's certificate: ${made.stderr}`);
  }
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: serverCertFile,
      privateKey: tlsKeyFile,
      httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: options.eabRequired ?? false,
      ...(options.eabKeys ? { externalAccountMACKeys: options.eabKeys } : {}),
      ...(options.blockedDomains ? { domainBlocklist: options.blockedDomains } : {}),
      ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
    },
  };
  writeFileSync(join(dir, "pebble.json"), JSON.stringify(config));
  let log = "";
  const children: ChildProcess[] = [];
  const exits: Promise<void>[] = [];
  const startChild = (argv: string[], env: Record<string, string>) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (chunk) => (log += chunk));
    child.stderr!.on("data", (chunk) => (log += chunk));
    children.push(child);
    exits.push(new Promise((resolve) => child.on("exit", () => resolve())));
    return child;
  };
  const stopChildren = async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.all(exits);
  };
  startChild([
    "/usr/bin/pebble-challtestsrv", "-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "",
    "-management", `127.0.0.1:${challManagementPort}`, "-defaultIPv6", "", "-defaultIPv4", options.answerAddress ?? "127.0.0.1",
  ], {});
  const pebble = startChild(["/usr/bin/pebble", "-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], {
    PEBBLE_VA_NOSLEEP: "1",
    ...options.env,
  });
  const tlsCertPem = readFileSync(caCertFile, "utf8");
  const trusting = trustingFetch([tlsCertPem]);
  const directory = `https://127.0.0.1:${acmePort}/dir`;
  const stop = async () => {
    trusting.close();
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (pebble.exitCode !== null) return true;
      const response = await trusting.fetch(directory);
      await response.body?.cancel();
      return response.ok;
    }, 15_000, `pebble's directory ${directory}`);
    if (pebble.exitCode !== null) throw new Error(`pebble exited (code ${pebble.exitCode})`);
  } catch (error) {
    await stop();
    throw new Error(`pebble did not start on port ${acmePort}: ${(error as Error).message}\n${log.slice(0, 2000)}`);
  }
  return {
    directory,
    tlsCertPem,
    tlsCertFile: caCertFile,
    fetch: trusting.fetch,
    httpPort,
    tlsPort,
    issuingRootPem: async () => {
      const response = await trusting.fetch(`https://127.0.0.1:${managementPort}/roots/0`);
      return await response.text();
    },
    output: () => log,
    stop,
  };
}

/**
 * A fetch of the running runtime that trusts `caCerts` (PEM): Bun takes `tls.ca` per request,
 * Deno an HttpClient (closed by `close`).
 */
export function trustingFetch(caCerts: string[]): { fetch: (url: string, init?: RequestInit) => Promise<Response>; close(): void } {
  const deno = (globalThis as { Deno?: { createHttpClient(options: { caCerts: string[] }): { close(): void } } }).Deno;
  if (deno) {
    const client = deno.createHttpClient({ caCerts });
    return { fetch: (url, init) => fetch(url, { ...init, client } as RequestInit), close: () => client.close() };
  }
  return { fetch: (url, init) => fetch(url, { ...init, tls: { ca: caCerts } } as RequestInit), close: () => {} };
}
