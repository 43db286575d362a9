/**
 * Starts the real tandem program as a child process on the runtime that runs the test (Bun under
 * `bun test`, Deno under `deno test`), so each runner exercises its own runtime end to end.
 *
 * @example
 * ```ts
 * const tandem = await startTandem({ listeners: [{ address: "127.0.0.1:0" }], pools: {...} });
 * await fetch(tandem.url);
 * assert.equal(await tandem.stop(), 0);
 * ```
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsonLines } from "./json-lines.ts";

export const runtime: "bun" | "deno" = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "deno" : "bun";
const root = new URL("../../", import.meta.url).pathname;

/** The command line that runs tandem's main on this runtime. */
export function tandemCommand(args: string[]): string[] {
  return runtime === "bun"
    ? [process.execPath, "run", join(root, "runtimes/bun/main.ts"), ...args]
    : [process.execPath, "run", "--unstable-net", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys", "--allow-run", join(root, "runtimes/deno/main.ts"), ...args];
}

export interface TandemProcess {
  /** First listener's origin, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The config file it was started with (rewrite it and send SIGHUP to reload). */
  configPath?: string;
  ports: number[];
  pid: number;
  /** Every stdout line so far, parsed as JSON where possible. */
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Waits until a stdout line satisfies `match` (bounded). */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends a signal without waiting (SIGHUP). */
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs a tandem command to completion (check, schema). */
export function runTandem(args: string[], cwd = root): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, ...rest] = tandemCommand(args);
  return new Promise((resolve) => {
    const child = spawn(command, rest, { cwd, env: _env() });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "tandem-test-"));
  const path = join(dir, "tandem.json");
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config, null, 2));
  return path;
}

/** Starts `tandem serve` with `config` (object or text) and waits until every listener is up. */
export async function startTandem(config: unknown, options: { args?: string[]; cwd?: string } = {}): Promise<TandemProcess> {
  const configPath = config === undefined ? undefined : writeConfig(config);
  const args = configPath === undefined ? ["serve"] : ["serve", "--config", configPath];
  const [command, ...rest] = tandemCommand([...args, ...(options.args ?? [])]);
  const child = _spawn(command, rest, options.cwd ?? root);
  let stderr = "";
  const exited = child.exited;
  child.onStderr((chunk) => (stderr += chunk));
  const { lines, push, waitForLine } = jsonLines({
    name: `tandem (${runtime})`,
    exited,
    context: () => `stdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`,
    onTimeout: () => child.kill("SIGKILL"),
  });
  child.onStdout(push);
  const listenerCount = typeof config === "object" && config !== null && "listeners" in config
    ? (config as { listeners: unknown[] }).listeners.length
    : 1;
  const ports: number[] = [];
  for (let i = 0; i < listenerCount; i++) {
    const line = await waitForLine((l) => l.event === "listening" && !ports.includes(Number(String(l.address).split(":").pop())));
    ports.push(Number(String(line.address).split(":").pop()));
  }
  return {
    url: `http://127.0.0.1:${ports[0]}`,
    configPath,
    ports,
    pid: child.pid,
    lines,
    stderr: () => stderr,
    waitForLine,
    signal: (signal) => child.kill(signal),
    stop(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
}

interface Spawned {
  pid: number;
  exited: Promise<number | null>;
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Deno's node:child_process reports a child that exits by itself after kill() as killed by the
 * signal (code null), hiding the exit code a graceful shutdown test needs; Deno.Command reports
 * it faithfully, so the harness uses it there.
 */
function _spawn(command: string, args: string[], cwd: string): Spawned {
  const env = _env();
  const Deno = (globalThis as { Deno?: any }).Deno;
  if (Deno) {
    const child = new Deno.Command(command, { args, cwd, env, stdout: "piped", stderr: "piped", stdin: "null" }).spawn();
    let done = false;
    const pump = async (stream: ReadableStream<Uint8Array>, listeners: ((text: string) => void)[]) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) for (const listener of listeners) listener(decoder.decode(chunk, { stream: true }));
    };
    const out: ((text: string) => void)[] = [];
    const err: ((text: string) => void)[] = [];
    void pump(child.stdout, out);
    void pump(child.stderr, err);
    return {
      pid: child.pid,
      exited: child.status.then((status: { code: number; signal: string | null }) => {
        done = true;
        return status.signal ? null : status.code;
      }),
      onStdout: (listener) => void out.push(listener),
      onStderr: (listener) => void err.push(listener),
      kill: (signal) => {
        if (!done) child.kill(signal);
      },
    };
  }
  const child = spawn(command, args, { cwd, env });
  return {
    pid: child.pid!,
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    onStdout: (listener) => void child.stdout!.on("data", (chunk) => listener(String(chunk))),
    onStderr: (listener) => void child.stderr!.on("data", (chunk) => listener(String(chunk))),
    kill: (signal) => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}

/**
 * The test's environment for a tandem it starts, without INIT_CWD: `npm test` sets it to where
 * npm was run, and tandem on Deno moves there (what `deno task` needs), which would undo `cwd`.
 */
function _env(): Record<string, string> {
  const { INIT_CWD: _, ...env } = process.env as Record<string, string>;
  return { ...env, NO_COLOR: "1" };
}
