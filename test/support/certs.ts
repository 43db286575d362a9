/**
 * Test certificates made with the real `openssl` CLI, plus small async helpers around `openssl
 * s_client` and other command-line tools. Built on `node:child_process` only, so the same code runs
 * under `bun test` and `deno test`. Every spawn is asynchronous (an in-process server, such as an
 * HTTPS backend, keeps answering while a tool runs) and bounded by a timeout.
 *
 * @example
 * ```ts
 * const certs = await makeCertificates();            // one directory per test file
 * // listener: tls: { certificates: [{ cert: certs.a.cert, key: certs.a.key }] }
 * const served = await servedCertificate(port, { servername: "a.test" });
 * assert.equal(served.serial, certs.a.serial);
 * ```
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Leaf {
  /** PEM: the leaf, then any intermediates. */
  cert: string;
  /** PEM private key of the leaf. */
  key: string;
  /** Upper-case hex, as `openssl x509 -serial` prints it (without "serial="). */
  serial: string;
  /** The subject's CN. */
  cn: string;
  /** notBefore / notAfter in ms since the epoch. */
  notBefore: number;
  notAfter: number;
}

export interface Certificates {
  dir: string;
  /** The private root CA (EC P-256) that signed every leaf except `untrusted`. */
  ca: { cert: string; key: string };
  /** An intermediate CA under `ca`; it signed `b`. */
  intermediate: { cert: string; key: string };
  /** Another root CA, trusted by nobody. */
  otherCa: { cert: string; key: string };
  /** CN/SAN a.test (EC P-256, PKCS#8 key), signed by `ca`. */
  a: Leaf;
  /** Further issues of the a.test leaf: each a new key and a new serial, for rotation. */
  a2: Leaf;
  /** a3's key is SEC1 ("BEGIN EC PRIVATE KEY"). */
  a3: Leaf;
  a4: Leaf;
  a5: Leaf;
  a6: Leaf;
  /** CN b.test, SAN b.test and *.b.test, RSA 2048 key in PKCS#1 ("BEGIN RSA PRIVATE KEY"),
   * signed by `intermediate`; `cert` holds the leaf then the intermediate. */
  b: Leaf;
  /** expired.test: valid in January 2020 only. */
  expired: Leaf;
  /** future.test: valid from 2090 on. */
  future: Leaf;
  /** untrusted.test... and DNS:localhost, IP:127.0.0.1, signed by `otherCa`. */
  untrusted: Leaf;
  /** DNS:localhost, IP:127.0.0.1, signed by `ca`, 397 days, with a CRL URI: for HTTPS backends
   * and the testssl scan. */
  localhost: Leaf;
  /** A file that is not PEM at all. */
  notPem: string;
  /** Replication peers (mutual TLS): CN peer1.test / peer2.test, SAN also DNS:localhost and
   * IP:127.0.0.1, extended key usage serverAuth and clientAuth, signed by `ca`. */
  peer1: Leaf;
  peer2: Leaf;
  /** Like the peers, but signed by `otherCa`: a client certificate nobody should accept. */
  foreignPeer: Leaf;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command was killed after `timeoutMs`. */
  timedOut: boolean;
}

/**
 * Runs `command` with `args` and resolves when it exits or after `timeoutMs` (then SIGKILLed).
 * stdin gets `input` and is then closed (empty when absent).
 */
export function run(command: string, args: string[], options: { input?: string | Uint8Array; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.stdin!.on("error", () => {});
    child.on("error", (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(error), timedOut });
    });
    child.on("close", (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    child.stdin!.end(options.input ?? "");
  });
}

/** Runs openssl and throws with its stderr when it fails. */
async function openssl(args: string[], cwd: string, input?: string): Promise<string> {
  const result = await run("openssl", args, { cwd, input, timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`openssl ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** 8 random bytes as upper-case hex, first byte 0x10..0x7f (positive, no leading zero byte). */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] = 0x10 + (bytes[0] % 0x70);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
}

const LEAF_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth",
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid",
];

const CA_EXTENSIONS = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
];

/** Facts `openssl x509` reports about the first certificate in `pem`. */
export async function describeCertificate(pem: string): Promise<{ serial: string; subject: string; cn: string; issuer: string; notBefore: number; notAfter: number }> {
  const result = await run("openssl", ["x509", "-noout", "-serial", "-subject", "-issuer", "-startdate", "-enddate", "-nameopt", "RFC2253"], { input: pem });
  if (result.code !== 0) throw new Error(`openssl x509 could not read the certificate: ${result.stderr}\n${pem.slice(0, 200)}`);
  const field = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(result.stdout)?.[1]?.trim() ?? "";
  const subject = field("subject");
  return {
    serial: field("serial").toUpperCase(),
    subject,
    cn: /(?:^|,)CN=([^,]*)/.exec(subject)?.[1] ?? "",
    issuer: field("issuer"),
    notBefore: Date.parse(field("notBefore")),
    notAfter: Date.parse(field("notAfter")),
  };
}

async function newKey(dir: string, name: string, type: "ec" | "ec-sec1" | "rsa"): Promise<string> {
  const key = join(dir, `${name}.key`);
  if (type === "ec") {
    await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], dir);
  } else if (type === "ec-sec1") {
    const pkcs8 = join(dir, `${name}.pkcs8.key`);
    await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pkcs8], dir);
    await openssl(["ec", "-in", pkcs8, "-out", key], dir);
  } else {
    // PKCS#1 ("BEGIN RSA PRIVATE KEY"), the format many real deployments still have.
    const pkcs8 = join(dir, `${name}.pkcs8.key`);
    await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pkcs8], dir);
    await openssl(["rsa", "-in", pkcs8, "-traditional", "-out", key], dir);
  }
  return key;
}

async function makeCa(dir: string, name: string, cn: string, issuer?: { cert: string; key: string }) {
  const key = await newKey(dir, name, "ec");
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, CA_EXTENSIONS.join("\n") + (issuer ? "\nauthorityKeyIdentifier=keyid\n" : "\n"));
  const csr = join(dir, `${name}.csr`);
  await openssl(["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-out", csr], dir);
  const signer = issuer ? ["-CA", issuer.cert, "-CAkey", issuer.key] : ["-signkey", key];
  await openssl(["x509", "-req", "-in", csr, ...signer, "-set_serial", `0x${randomSerial()}`, "-days", "3650", "-sha256", "-extfile", ext, "-out", cert], dir);
  return { cert, key };
}

interface LeafOptions {
  cn: string;
  san: string[];
  issuer: { cert: string; key: string };
  /** ec: PKCS#8 "BEGIN PRIVATE KEY"; ec-sec1: "BEGIN EC PRIVATE KEY"; rsa: PKCS#1 "BEGIN RSA PRIVATE KEY". */
  keyType?: "ec" | "ec-sec1" | "rsa";
  /** Validity from now, when no dates are given (default 30). */
  days?: number;
  /** More extfile lines. */
  extensions?: string[];
  /** Also valid as a TLS client certificate (extendedKeyUsage clientAuth). */
  clientAuth?: boolean;
  /** Appended to the cert file after the leaf (intermediates). */
  chain?: string[];
  /** openssl ca dates (YYYYMMDDHHMMSSZ); absent: 30 days from now. */
  startDate?: string;
  endDate?: string;
}

async function makeLeaf(dir: string, name: string, options: LeafOptions): Promise<Leaf> {
  const key = await newKey(dir, name, options.keyType ?? "ec");
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const leafPem = join(dir, `${name}.leaf.pem`);
  const cert = join(dir, `${name}.pem`);
  const serial = randomSerial();
  const extensions = options.clientAuth ? LEAF_EXTENSIONS.map((line) => line === "extendedKeyUsage=serverAuth" ? "extendedKeyUsage=serverAuth,clientAuth" : line) : LEAF_EXTENSIONS;
  writeFileSync(ext, [...extensions, `subjectAltName=${options.san.join(",")}`, ...(options.extensions ?? [])].join("\n") + "\n");
  await openssl(["req", "-new", "-key", key, "-subj", `/CN=${options.cn}`, "-out", csr], dir);
  if (options.startDate || options.endDate) {
    // x509 -req (OpenSSL 3.0) cannot set dates in the past or future; `openssl ca` can.
    const caDir = mkdtempSync(join(dir, `${name}-ca-`));
    writeFileSync(join(caDir, "index.txt"), "");
    writeFileSync(join(caDir, "serial"), serial + "\n");
    writeFileSync(join(caDir, "ca.cnf"), [
      "[ca]", "default_ca = test", "[test]", `dir = ${caDir}`, `database = ${join(caDir, "index.txt")}`,
      `new_certs_dir = ${caDir}`, `serial = ${join(caDir, "serial")}`, "default_md = sha256", "policy = any",
      "unique_subject = no", "[any]", "commonName = supplied", "",
    ].join("\n"));
    await openssl([
      "ca", "-batch", "-notext", "-config", join(caDir, "ca.cnf"), "-cert", options.issuer.cert, "-keyfile", options.issuer.key,
      "-in", csr, "-out", leafPem, "-extfile", ext,
      "-startdate", options.startDate ?? "20200101000000Z", "-enddate", options.endDate ?? "20991231000000Z",
    ], dir);
  } else {
    await openssl([
      "x509", "-req", "-in", csr, "-CA", options.issuer.cert, "-CAkey", options.issuer.key, "-set_serial", `0x${serial}`,
      "-days", String(options.days ?? 30), "-sha256", "-extfile", ext, "-out", leafPem,
    ], dir);
  }
  const pem = readFileSync(leafPem, "utf8");
  writeFileSync(cert, [pem, ...(options.chain ?? []).map((path) => readFileSync(path, "utf8"))].join(""));
  const facts = await describeCertificate(pem);
  if (facts.serial !== serial) throw new Error(`${name}: serial ${facts.serial}, expected ${serial}`);
  return { cert, key, serial, cn: options.cn, notBefore: facts.notBefore, notAfter: facts.notAfter };
}

/**
 * Makes the whole set in `dir` (a new temporary directory when absent). A directory that already
 * holds a complete set (its certs.json) is reused as it is. About a second of openssl work.
 */
export async function makeCertificates(dir?: string): Promise<Certificates> {
  const where = dir ?? mkdtempSync(join(tmpdir(), "tandem-certs-"));
  const manifest = join(where, "certs.json");
  if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, "utf8")) as Certificates;

  const ca = await makeCa(where, "ca", "tandem test root CA");
  const otherCa = await makeCa(where, "other-ca", "some other root CA");
  const intermediate = await makeCa(where, "intermediate", "tandem test intermediate CA", ca);
  const issueA = (name: string, keyType: "ec" | "ec-sec1" = "ec") => makeLeaf(where, name, { cn: "a.test", san: ["DNS:a.test"], issuer: ca, keyType });
  const issuePeer = (name: string, cn: string, issuer: { cert: string; key: string }) =>
    makeLeaf(where, name, { cn, san: [`DNS:${cn}`, "DNS:localhost", "IP:127.0.0.1"], issuer, clientAuth: true });
  const [a, a2, a3, a4, a5, a6, b, expired, future, untrusted, localhost, peer1, peer2, foreignPeer] = await Promise.all([
    issueA("a"),
    issueA("a2"),
    issueA("a3", "ec-sec1"),
    issueA("a4"),
    issueA("a5"),
    issueA("a6"),
    makeLeaf(where, "b", { cn: "b.test", san: ["DNS:b.test", "DNS:*.b.test"], issuer: intermediate, keyType: "rsa", chain: [intermediate.cert] }),
    makeLeaf(where, "expired", { cn: "expired.test", san: ["DNS:expired.test"], issuer: ca, startDate: "20200101000000Z", endDate: "20200201000000Z" }),
    makeLeaf(where, "future", { cn: "future.test", san: ["DNS:future.test"], issuer: ca, startDate: "20900101000000Z", endDate: "20910101000000Z" }),
    makeLeaf(where, "untrusted", { cn: "untrusted.test", san: ["DNS:untrusted.test", "DNS:localhost", "IP:127.0.0.1"], issuer: otherCa }),
    // Like a production certificate (a year's validity, a CRL URI), so that a scanner's findings
    // are about the server, not about a test certificate. The CRL is never fetched.
    makeLeaf(where, "localhost", {
      cn: "localhost", san: ["DNS:localhost", "IP:127.0.0.1"], issuer: ca, days: 397,
      extensions: ["crlDistributionPoints=URI:http://127.0.0.1:9/tandem-test-ca.crl"],
    }),
    issuePeer("peer1", "peer1.test", ca),
    issuePeer("peer2", "peer2.test", ca),
    issuePeer("foreign-peer", "foreign-peer.test", otherCa),
  ]);
  const notPem = join(where, "not-pem.pem");
  writeFileSync(notPem, "this is not a PEM file\n\x00\x01\x02 just bytes\n");
  const certificates: Certificates = { dir: where, ca, intermediate, otherCa, a, a2, a3, a4, a5, a6, b, expired, future, untrusted, localhost, notPem, peer1, peer2, foreignPeer };
  writeFileSync(manifest, JSON.stringify(certificates, null, 2));
  return certificates;
}

export interface ServedCertificate {
  /** s_client completed a handshake. */
  connected: boolean;
  serial: string;
  subject: string;
  cn: string;
  issuer: string;
  /** e.g. "TLSv1.3" */
  protocol: string;
  /** The negotiated ALPN protocol, or "" when "No ALPN negotiated". */
  alpn: string;
  /** "Verify return code: N (...)" */
  verify: string;
  /** How many certificates the server sent. */
  chainLength: number;
  output: string;
}

/**
 * Connects with `openssl s_client` to 127.0.0.1:`port` and reports what the server presented.
 * `servername` sets SNI; without it no SNI is sent (`-noservername`).
 */
export async function servedCertificate(
  port: number,
  options: { servername?: string; alpn?: string; extra?: string[]; caFile?: string; timeoutMs?: number } = {},
): Promise<ServedCertificate> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`, "-showcerts"];
  args.push(...(options.servername ? ["-servername", options.servername] : ["-noservername"]));
  if (options.alpn) args.push("-alpn", options.alpn);
  if (options.caFile) args.push("-CAfile", options.caFile);
  args.push(...(options.extra ?? []));
  const result = await run("openssl", args, { timeoutMs: options.timeoutMs ?? 10_000 });
  const output = `${result.stdout}\n${result.stderr}${result.timedOut ? "\n(s_client timed out)" : ""}`;
  const pems = result.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  // "Protocol  :" is in the SSL-Session block, which TLS 1.3 may not print when s_client quits at
  // once (its session comes after the handshake); then "New, TLSv1.3, Cipher is ..." tells. (That
  // line names the cipher's version, e.g. "TLSv1.0" for a TLS 1.1 session, so it is a fallback.)
  const protocol = /^\s*Protocol\s*:\s*(\S+)/m.exec(result.stdout)?.[1] ?? /^New, (TLSv1\.3), Cipher is/m.exec(result.stdout)?.[1] ?? "";
  const alpn = /^ALPN protocol: (.*)$/m.exec(result.stdout)?.[1]?.trim() ?? "";
  const verify = /Verify return code: (.*)$/m.exec(result.stdout)?.[1]?.trim() ?? "";
  const connected = pems.length > 0 && result.code === 0 && !/Cipher is \(NONE\)/.test(result.stdout);
  const facts = pems.length ? await describeCertificate(pems[0] + "\n") : { serial: "", subject: "", cn: "", issuer: "" };
  return { connected, serial: facts.serial, subject: facts.subject, cn: facts.cn, issuer: facts.issuer, protocol, alpn, verify, chainLength: pems.length, output };
}

export interface CurlResult {
  /** 0 when curl succeeded; see `man curl` for the rest (35 TLS handshake, 60 verification, ...). */
  exit: number | null;
  status: number;
  /** The last response's headers, names lower-cased, repeated fields joined with "\n". */
  headers: Record<string, string>;
  body: string;
  httpVersion: string;
  stderr: string;
}

/**
 * Runs curl against `url` (`-sS`, never a proxy) and parses the response. `resolve` maps a name
 * to 127.0.0.1 (`--resolve name:port:127.0.0.1`).
 */
export async function curl(url: string, options: { caFile?: string; resolve?: string; args?: string[]; timeoutMs?: number } = {}): Promise<CurlResult> {
  const marker = "\n--tandem-curl-http-version:";
  const args = ["-sS", "--noproxy", "*", "-D", "-", "-w", `${marker}%{http_version}`, "--max-time", "10"];
  if (options.caFile) args.push("--cacert", options.caFile);
  if (options.resolve) args.push("--resolve", options.resolve);
  args.push(...(options.args ?? []), url);
  const result = await run("curl", args, { timeoutMs: options.timeoutMs ?? 15_000 });
  let text = result.stdout;
  const at = text.lastIndexOf(marker);
  const httpVersion = at >= 0 ? text.slice(at + marker.length).trim() : "";
  if (at >= 0) text = text.slice(0, at);
  // -D - writes every head (e.g. 100 Continue) before the body; take the last one.
  let headers: Record<string, string> = {};
  let status = 0;
  let body = text;
  for (;;) {
    const match = /^HTTP\/[\d.]+ (\d{3})[^\r\n]*\r\n/.exec(body);
    if (!match) break;
    const end = body.indexOf("\r\n\r\n");
    if (end < 0) break;
    status = Number(match[1]);
    headers = {};
    for (const line of body.slice(match[0].length, end).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}\n${value}` : value;
    }
    body = body.slice(end + 4);
  }
  return { exit: result.timedOut ? null : result.code, status, headers, body, httpVersion, stderr: result.stderr };
}
