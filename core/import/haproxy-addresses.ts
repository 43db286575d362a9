/**
 * The addresses of a haproxy.cfg as tandem writes them: `bind` addresses as listener addresses,
 * `server` addresses as member host and port, `log` targets as the access log's syslog.
 *
 * @example
 * ```ts
 * bindAddress("*:8080-8081", origin); // { address: ":8080", port: 8080, note: "ports 8080-8081: ..." }
 * ```
 * @module
 */
import { ImportError, type Origin } from "./report.ts";

/** HAProxy's facility names, in code order: the same codes as tandem's list (auth2 = authpriv, audit = security...). */
const HAPROXY_FACILITIES = [
  "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
  "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

const TANDEM_FACILITIES = [
  "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
  "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

const LOG_LEVELS = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** A bind address as a tandem listener address. */
export function bindAddress(text: string, origin: Origin): { address: string; port: number; note?: string } | { why: string } {
  let rest = text;
  const family = /^([a-z0-9]+)@/.exec(rest);
  if (family) {
    if (["unix", "abns", "fd", "sockpair", "quic4", "quic6", "udp", "udp4", "udp6", "uxst", "uxdg", "mptcp", "mptcp4", "mptcp6"].includes(family[1])) {
      return { why: `${text}: tandem listens on TCP addresses only` };
    }
    rest = rest.slice(family[0].length);
  }
  if (rest.startsWith("/")) return { why: `${text}: tandem listens on TCP addresses only (not UNIX sockets)` };
  const colon = rest.lastIndexOf(":");
  if (colon < 0) throw new ImportError(origin.file, origin.line, `bind ${text}: no port`);
  let host = rest.slice(0, colon);
  const ports = rest.slice(colon + 1);
  const range = /^(\d+)(?:-(\d+))?$/.exec(ports);
  if (!range) throw new ImportError(origin.file, origin.line, `bind ${text}: not a port ("${ports}")`);
  const port = Number(range[1]);
  if (port > 65535) throw new ImportError(origin.file, origin.line, `bind ${text}: port ${port} is above 65535`);
  let note: string | undefined;
  if (range[2]) note = `ports ${ports}: tandem listens on the first, ${port}`;
  if (host === "*" || host === "0.0.0.0" || host === "") host = "";
  else if (host === "::" || host === "[::]") host = "[::]";
  else if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return { address: `${host}:${port}`, port, ...(note ? { note } : {}) };
}

/** A server address as host and port; `frontendPort` stands in for HAProxy's "the port the client came to". */
export function serverAddress(text: string, frontendPort: number | undefined): { host: string; port: number; note?: string } | { why: string } {
  let rest = text;
  const family = /^([a-z0-9]+)@/.exec(rest);
  if (family) {
    if (!["ipv4", "ipv6", "tcp", "tcp4", "tcp6"].includes(family[1])) return { why: `${text}: tandem connects to members over TCP only` };
    rest = rest.slice(family[0].length);
  }
  if (rest.startsWith("/")) return { why: `${text}: tandem connects to members over TCP only (not UNIX sockets)` };
  let host = rest;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) [host, port] = [bracketed[1], bracketed[2]];
  else if ((rest.match(/:/g) ?? []).length === 1) [host, port] = rest.split(":");
  else if ((rest.match(/:/g) ?? []).length > 1) {
    const colon = rest.lastIndexOf(":");
    [host, port] = [rest.slice(0, colon), rest.slice(colon + 1)];
  }
  if (host === "0.0.0.0" || host === "*" || host === "") return { why: `${text}: a transparent (client-chosen) destination; tandem's members have fixed addresses` };
  if (port === undefined || port === "") {
    const assumed = frontendPort ?? 80;
    return { host, port: assumed, note: `no port: HAProxy used the port the client connected to; tandem uses ${assumed}` };
  }
  if (/^[+-]\d+$/.test(port)) {
    const assumed = (frontendPort ?? 80) + Number(port);
    return { host, port: assumed, note: `port ${port} is relative to the client's port in HAProxy; tandem uses ${assumed}` };
  }
  if (!/^\d+$/.test(port) || Number(port) > 65535) return { why: `${text}: not a port tandem can connect to` };
  return { host, port: Number(port) };
}

/** A `log` line's destination as tandem's accessLog syslog, or why not. */
export function logTarget(words: string[]): { syslog?: Record<string, unknown>; note?: string } | { why: string } {
  const target = words[1] ?? "";
  let index = 2;
  let format: string | undefined;
  while (["len", "format", "sample", "profile"].includes(words[index])) {
    if (words[index] === "format") format = words[index + 1];
    index += 2;
  }
  const facility = words[index];
  const level = words[index + 1];
  if (level && LOG_LEVELS.indexOf(level) >= 0 && LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf("info")) {
    return { why: `its level ${level} leaves out the access lines (HAProxy sends them at info)` };
  }
  const notes: string[] = [];
  if (format && !["rfc5424", "raw", "short"].includes(format)) notes.push(`format ${format}: tandem sends RFC 5424`);
  if (target === "stdout" || target === "fd@1") return notes.length > 0 ? { note: notes.join("; ") } : {};
  if (target === "stderr" || target === "fd@2") return { note: "stdout rather than stderr" };
  if (target.startsWith("ring@")) return { why: "tandem has no log rings" };
  if (target.startsWith("tcp@")) return { why: "tandem sends syslog over UDP or a local socket" };
  const syslog: Record<string, unknown> = {};
  const bare = target.replace(/^(?:udp|udp4|udp6|ipv4|ipv6)@/, "");
  if (bare.startsWith("/")) syslog.address = bare;
  else {
    const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(bare);
    const v4 = /^([^:]+)(?::(\d+))?$/.exec(bare);
    const [host, port] = v6 ? [`[${v6[1]}]`, v6[2]] : v4 ? [v4[1], v4[2]] : [bare, undefined];
    if (!v6 && !IPV4.test(host)) return { why: `${target}: tandem's syslog address is an IP address, not a name` };
    syslog.address = `${host}:${port ?? "514"}`;
  }
  if (facility) {
    const code = HAPROXY_FACILITIES.indexOf(facility);
    if (code < 0) return { why: `${facility}: not a syslog facility` };
    syslog.facility = TANDEM_FACILITIES[code];
  }
  if (format === "rfc3164" || format === undefined) notes.push("tandem sends RFC 5424 (HAProxy's default is RFC 3164)");
  return { syslog, ...(notes.length > 0 ? { note: notes.join("; ") } : {}) };
}
