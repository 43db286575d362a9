/**
 * The files and secrets a config names (listener certificates and keys, backend CA bundles, the
 * cluster and VRRP keys), read and checked together so that `check`, start-up and every reload
 * refuse the same broken files with the same words, before anything is swapped in.
 *
 * @module
 */
import type { Config } from "./schema.ts";
import type { Platform } from "../platform.ts";
import { clusterKey } from "../cluster/replication/role.ts";
import { vrrpKey } from "../cluster/vrrp/role.ts";
import { acmeProblems } from "../acme/checks.ts";
import { checkKeyPair, type ListenerTls, parseCertificate, pemBlocks } from "../tls/certificate.ts";
import { protocolProblems } from "../frontend/protocols.ts";

/** An error page as it is sent: its bytes and their type. */
export interface ErrorPage {
  contentType: string;
  body: Uint8Array;
}

const ERROR_PAGE_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  json: "application/json",
  xml: "application/xml",
  txt: "text/plain; charset=utf-8",
};

export interface ConfigFiles {
  /** `errorPages`, by status. */
  errorPages: Map<number, ErrorPage>;
  /** By listener address, for listeners with `tls`. */
  listenerTls: Map<string, ListenerTls>;
  /** By pool name, for pools with `tls.ca`: the PEM text of the trusted CAs. */
  backendCa: Map<string, string[]>;
  /** By listener address, for `tls.acme` with `trustedCa`: the PEM text of the CAs its directory's HTTPS chains to. */
  acmeCa: Map<string, string[]>;
  /** `cluster.tls`: this node's certificate and key (PEM) and the private CA peers must chain to. */
  clusterTls?: { cert: string; key: string; caCerts: string[] };
  /** Every file read, resolved: what a reload watches. */
  paths: string[];
}

export type ConfigFilesResult = { ok: true; files: ConfigFiles } | { ok: false; problems: string[] };

/**
 * `file` as the process must open it: relative paths are taken from the config file's directory.
 * "." and ".." are folded so that logs and metric labels name each file one way.
 */
export function resolvePath(configPath: string | undefined, file: string): string {
  const slash = configPath?.lastIndexOf("/") ?? -1;
  const joined = file.startsWith("/") || slash < 0 ? file : `${configPath!.slice(0, slash + 1)}${file}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      else if (!joined.startsWith("/")) parts.push(part);
    } else if (part !== "." && part !== "") parts.push(part);
  }
  return (joined.startsWith("/") ? "/" : "") + (parts.join("/") || ".");
}

/**
 * Reads and checks every file `config` names, and that the runtime can enforce each listener's
 * TLS settings and protocols; all problems are reported, each with its config path.
 */
export async function loadConfigFiles(
  config: Config,
  configPath: string | undefined,
  platform: Pick<Platform, "readTextFile" | "runtime" | "tlsMinVersions"> & Partial<Pick<Platform, "env" | "webProtocols">>,
): Promise<ConfigFilesResult> {
  const problems: string[] = protocolProblems(config.listeners, platform.runtime, platform.webProtocols ?? []);
  const paths: string[] = [];
  const read = async (where: string, file: string): Promise<string | undefined> => {
    const path = resolvePath(configPath, file);
    paths.push(path);
    try {
      return await platform.readTextFile(path);
    } catch (error) {
      problems.push(`${where}: ${path}: cannot read: ${(error as Error).message}`);
      return undefined;
    }
  };

  const listenerTls = new Map<string, ListenerTls>();
  for (const [index, listener] of config.listeners.entries()) {
    if (!listener.tls) continue;
    const { minVersion } = listener.tls;
    if (!platform.tlsMinVersions.includes(minVersion)) {
      const supported = platform.tlsMinVersions.map((version) => `"${version}"`).join(", ");
      problems.push(`listeners[${index}].tls.minVersion: "${minVersion}" cannot be enforced on ${platform.runtime} (it can: ${supported})`);
    }
    const certificates: ListenerTls["certificates"] = [];
    for (const [n, { cert, key }] of listener.tls.certificates.entries()) {
      const where = `listeners[${index}].tls.certificates[${n}]`;
      const [certText, keyText] = await Promise.all([read(`${where}.cert`, cert), read(`${where}.key`, key)]);
      if (certText === undefined || keyText === undefined) continue;
      const certFile = resolvePath(configPath, cert);
      const keyFile = resolvePath(configPath, key);
      const result = await checkKeyPair(certText, keyText, { cert: certFile, key: keyFile });
      if (result.ok) certificates.push({ ...result.pair, certFile, keyFile });
      else problems.push(...result.problems.map((problem) => `${where}: ${problem}`));
    }
    listenerTls.set(listener.address, { certificates, minVersion });
  }
  const acmeCa = new Map<string, string[]>();
  for (const [index, listener] of config.listeners.entries()) {
    const trustedCa = listener.tls?.acme?.trustedCa;
    if (trustedCa === undefined) continue;
    const where = `listeners[${index}].tls.acme.trustedCa`;
    const text = await read(where, trustedCa);
    const problem = text === undefined ? undefined : _caProblem(text);
    if (problem) problems.push(`${where}: ${resolvePath(configPath, trustedCa)}: ${problem}`);
    else if (text !== undefined) acmeCa.set(listener.address, [text]);
  }
  problems.push(...acmeProblems(config, platform.runtime, (name) => platform.env?.(name), listenerTls));

  const backendCa = new Map<string, string[]>();
  for (const [name, pool] of Object.entries(config.pools)) {
    if (pool.tls.ca === undefined) continue;
    const where = `pools.${name}.tls.ca`;
    const text = await read(where, pool.tls.ca);
    if (text === undefined) continue;
    const problem = _caProblem(text);
    if (problem) problems.push(`${where}: ${resolvePath(configPath, pool.tls.ca)}: ${problem}`);
    else backendCa.set(name, [text]);
  }
  const errorPages = new Map<number, ErrorPage>();
  for (const [status, file] of Object.entries(config.errorPages)) {
    const where = `errorPages.${status}`;
    const contentType = ERROR_PAGE_TYPES[file.slice(file.lastIndexOf(".") + 1).toLowerCase()];
    if (contentType === undefined) {
      problems.push(`${where}: ${file}: an .html, .htm, .json, .xml or .txt file (its type goes in Content-Type)`);
      continue;
    }
    const text = await read(where, file);
    if (text !== undefined) errorPages.set(Number(status), { contentType, body: new TextEncoder().encode(text) });
  }
  let clusterTls: ConfigFiles["clusterTls"];
  // Shared keys may come from the environment instead, so they are checked here rather than by the schema.
  const env = (name: string) => platform.env?.(name);
  const keys = [config.cluster && clusterKey(config.cluster, env), config.vrrp && vrrpKey(config.vrrp, env)];
  for (const key of keys) if (key !== undefined && "problem" in key) problems.push(key.problem);
  if (config.cluster?.tls !== undefined) {
    const { cert, key, ca } = config.cluster.tls;
    const [certText, keyText, caText] = await Promise.all([read("cluster.tls.cert", cert), read("cluster.tls.key", key), read("cluster.tls.ca", ca)]);
    const caProblem = caText === undefined ? undefined : _caProblem(caText);
    if (caProblem) problems.push(`cluster.tls.ca: ${resolvePath(configPath, ca)}: ${caProblem}`);
    if (certText !== undefined && keyText !== undefined) {
      const result = await checkKeyPair(certText, keyText, { cert: resolvePath(configPath, cert), key: resolvePath(configPath, key) });
      if (!result.ok) problems.push(...result.problems.map((problem) => `cluster.tls: ${problem}`));
      else if (caText !== undefined && !caProblem) clusterTls = { cert: certText, key: keyText, caCerts: [caText] };
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, files: { errorPages, listenerTls, backendCa, acmeCa, clusterTls, paths } };
}

function _caProblem(text: string): string | undefined {
  const certificates = pemBlocks(text).filter((block) => block.label === "CERTIFICATE");
  if (certificates.length === 0) return 'no certificate (expected PEM "CERTIFICATE" blocks)';
  for (const [index, block] of certificates.entries()) {
    try {
      parseCertificate(block.der);
    } catch (error) {
      return `certificate ${index + 1} cannot be parsed: ${(error as Error).message}`;
    }
  }
  return undefined;
}
