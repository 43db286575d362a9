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
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "./ports.ts";

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

export interface HaproxyProcess {
  port: number;
  url: string;
  pid: number;
  configText: string;
  /** Everything haproxy wrote so far. */
  output: () => string;
  stop(): Promise<void>;
}

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
export async function startHaproxy(options: HaproxyOptions, timeoutMs = 10_000): Promise<HaproxyProcess> {
  const binary = haproxyBinary();
  if (!binary) throw new Error(haproxySkipReason());
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await _start(binary, await freePort(), options, timeoutMs);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function _start(binary: string, port: number, options: HaproxyOptions, timeoutMs: number): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-haproxy-"));
  const configText = haproxyConfig(port, options);
  const configPath = join(dir, "haproxy.cfg");
  writeFileSync(configPath, configText);
  const child = spawn(binary, ["-db", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let exitCode: number | null | undefined;
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.on("exit", (code) => {
    exitCode = code;
    resolve();
  }));
  const stop = async () => {
    if (exitCode === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (!(await _accepts(port))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not start on port ${port} (exit ${exitCode}): ${output.slice(0, 2000)}\n${configText}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Another process may own the port: haproxy then exits at once (cannot bind).
  await new Promise((resolve) => setTimeout(resolve, 100));
  if (exitCode !== undefined) {
    await stop();
    throw new Error(`haproxy exited (code ${exitCode}) right after start on port ${port}: ${output.slice(0, 2000)}`);
  }
  return { port, url: `http://127.0.0.1:${port}`, pid: child.pid!, configText, output: () => output, stop };
}

function _accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("connect", () => done(true));
    socket.on("error", () => done(false));
  });
}
