/**
 * HAProxy as a reference proxy for wire-level tests: the same vector is sent to tandem and to
 * HAProxy in front of an equivalent member, and tandem must never be laxer. Uses the system
 * `haproxy` (Debian: `apt-get install haproxy`); when it is missing, {@link haproxySkipReason}
 * says so and callers skip their comparisons.
 *
 * @example
 * ```ts
 * const haproxy = await startHaproxy({ backends: [{ name: "app", server: "127.0.0.1:8080" }] });
 * await fetch(`http://127.0.0.1:${haproxy.port}/`);
 * await haproxy.stop();
 * ```
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { type ReferenceProcess, startWithConfig } from "./reference-process.ts";

/** Where haproxy may be: Debian puts it in /usr/sbin, which is not on every PATH. */
const CANDIDATES = ["/usr/bin/haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/local/bin/haproxy"];

/** The haproxy binary (env TANDEM_HAPROXY: a path, or `off` to run without), or undefined when it is not installed. */
export function haproxyBinary(): string | undefined {
  const override = process.env.TANDEM_HAPROXY;
  if (override === "off") return undefined;
  const onPath = (process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "haproxy"));
  for (const path of override ? [override] : [...CANDIDATES, ...onPath]) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

/** Why HAProxy comparisons are skipped, or undefined when haproxy is installed. */
export function haproxySkipReason(): string | undefined {
  if (haproxyBinary() !== undefined) return undefined;
  return process.env.TANDEM_HAPROXY === "off" ? "TANDEM_HAPROXY=off" : "haproxy is not installed (apt-get install haproxy)";
}

export interface HaproxyBackend {
  name: string;
  /** host:port of its one server, or `servers` for several. */
  server?: string;
  servers?: { name: string; address: string; cookie?: string }[];
  /** The backend's `cookie` line, e.g. `SERVERID insert indirect nocache`. */
  cookie?: string;
  /** Requests whose path starts with this go here (segment boundary not checked); none = default backend. */
  pathPrefix?: string;
}

export interface HaproxyOptions {
  /** The first backend without pathPrefix is the default one. */
  backends: HaproxyBackend[];
  /** `timeout` lines of the defaults section; these are the defaults. */
  timeouts?: Partial<Record<"http-request" | "http-keep-alive" | "client" | "connect" | "server", string>>;
  /** Extra lines for the defaults section, e.g. `retries 1`. */
  defaults?: string[];
  /** Extra lines for the global and frontend sections, e.g. `log stdout format raw local0`, `capture request header X-Request-Id len 64`. */
  global?: string[];
  frontend?: string[];
}

/** haproxy as a {@link ReferenceProcess}: its output is what it wrote on stdout and stderr. */
export type HaproxyProcess = ReferenceProcess;

const DEFAULT_TIMEOUTS = { "http-request": "1s", "http-keep-alive": "2s", client: "1s", connect: "1s", server: "5s" };

export function haproxyConfig(port: number, options: HaproxyOptions): string {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const routed = options.backends.filter((backend) => backend.pathPrefix !== undefined);
  const fallback = options.backends.find((backend) => backend.pathPrefix === undefined) ?? options.backends[0];
  return [
    "global",
    "  maxconn 4096",
    ...(options.global ?? []).map((line) => `  ${line}`),
    "defaults",
    "  mode http",
    "  option http-keep-alive",
    "  option forwardfor",
    ...Object.entries(timeouts).map(([name, value]) => `  timeout ${name} ${value}`),
    ...(options.defaults ?? []).map((line) => `  ${line}`),
    "frontend fe",
    `  bind 127.0.0.1:${port}`,
    ...(options.frontend ?? []).map((line) => `  ${line}`),
    ...routed.map((backend) => `  use_backend ${backend.name} if { path_beg ${backend.pathPrefix} }`),
    `  default_backend ${fallback.name}`,
    ...options.backends.flatMap((backend) => [
      `backend ${backend.name}`,
      ...(backend.cookie === undefined ? [] : [`  cookie ${backend.cookie}`]),
      ...(backend.servers ?? [{ name: `${backend.name}1`, address: backend.server!, cookie: undefined }]).map((server) =>
        `  server ${server.name} ${server.address}${server.cookie === undefined ? "" : ` cookie ${server.cookie}`}`
      ),
    ]),
    "",
  ].join("\n");
}

/** Starts `haproxy -db -f <cfg>` on a free port and waits until it accepts connections (bounded). */
export function startHaproxy(options: HaproxyOptions, timeoutMs = 10_000): Promise<HaproxyProcess> {
  const binary = haproxyBinary();
  if (!binary) throw new Error(haproxySkipReason());
  return startWithConfig((configPath) => [binary, "-db", "-f", configPath], (port) => haproxyConfig(port, options), timeoutMs);
}
