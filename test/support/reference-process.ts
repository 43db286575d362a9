/**
 * A reference program run in the foreground with one whole config file of the caller's (Debian's
 * httpd, HAProxy), in a temp directory of its own on a free loopback port: started, waited for
 * until the port accepts connections, stopped. test/support/apache.ts and haproxy.ts build on it.
 *
 * @example
 * ```ts
 * const haproxy = await startWithConfig((path) => ["/usr/sbin/haproxy", "-db", "-f", path], (port) => cfg.replace("@LISTEN@", String(port)));
 * await fetch(haproxy.url);
 * await haproxy.stop();
 * ```
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

export interface ReferenceProcess {
  port: number;
  /** The program's process id (to pause it with SIGSTOP: a server that no longer answers). */
  pid: number;
  url: string;
  /** The config httpd runs. */
  configText: string;
  /** What it wrote on its stdout/stderr and in `<serverRoot>/error.log` (httpd's ErrorLog there) so far. */
  output: () => string;
  /** SIGTERM (httpd's and haproxy's immediate stop), SIGKILL after 5 s; removes its directory. */
  stop(): Promise<void>;
}

/**
 * Runs `command(configPath)` with `render(port, serverRoot)` as the config and resolves once the
 * port accepts connections (bounded by `timeoutMs`). A port taken meanwhile by someone else makes
 * the program exit: then it is tried again on another port, three times at most.
 */
export async function startWithConfig(
  command: (configPath: string) => string[],
  render: (port: number, serverRoot: string) => string,
  timeoutMs = 10_000,
): Promise<ReferenceProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await _start(command, render, await freePort(), timeoutMs);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function _start(
  command: (configPath: string) => string[],
  render: (port: number, serverRoot: string) => string,
  port: number,
  timeoutMs: number,
): Promise<ReferenceProcess> {
  const serverRoot = mkdtempSync(join(tmpdir(), "tandem-reference-"));
  const configText = render(port, serverRoot);
  const configPath = join(serverRoot, "config");
  writeFileSync(configPath, configText);
  const [binary, ...args] = command(configPath);
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let console = "";
  let exitCode: number | null | undefined;
  child.stdout!.on("data", (chunk) => (console += chunk));
  child.stderr!.on("data", (chunk) => (console += chunk));
  const exited = new Promise<void>((resolve) => child.on("exit", (code) => {
    exitCode = code;
    resolve();
  }));
  const errorLog = join(serverRoot, "error.log");
  const output = () => console + (existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "");
  const stop = async () => {
    if (exitCode === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(serverRoot, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (!(await _accepts(port))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      const said = output();
      await stop();
      throw new Error(`${binary} did not start on port ${port} (exit ${exitCode}): ${said.slice(0, 2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // What accepted may be another process that took the port first: the program, unable to bind,
  // then exits at once.
  await new Promise((resolve) => setTimeout(resolve, 100));
  if (exitCode !== undefined) {
    const said = output();
    await stop();
    throw new Error(`${binary} exited (code ${exitCode}) right after start on port ${port}: ${said.slice(0, 2000)}`);
  }
  return { port, pid: child.pid!, url: `http://127.0.0.1:${port}`, configText, output, stop };
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
