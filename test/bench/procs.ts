/**
 * The processes the harness starts, and what /proc says about them.
 *
 * A "family" is a process and all its descendants: nginx forks a worker, stunnel and a runtime may
 * start helpers, and each must be counted. /proc/PID/stat of a process already sums all of its
 * threads (Bun's and Deno's GC and I/O threads included), so summing over the family gives the CPU
 * time of the whole server.
 *
 * @module
 */
import type { Subprocess } from "bun";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Host, inNamespace } from "./netns.ts";

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
export const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** The fields of /proc/PID/stat after `(comm)`: [0] is field 3 (state), so field N is at N - 3. */
function _stat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // exited
  }
}

/** The roots and all their living descendants, found by walking parent PIDs in /proc. */
export function family(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const fields = _stat(Number(name));
    if (!fields || fields[0] === "Z") continue; // a zombie has no CPU or memory left to count
    const parent = Number(fields[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(name));
    children.set(parent, list);
  }
  const all: number[] = [];
  const queue = roots.filter((pid) => {
    const state = _stat(pid)?.[0];
    return state !== undefined && state !== "Z";
  });
  while (queue.length > 0) {
    const pid = queue.shift()!;
    all.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return all;
}

/** utime + stime of these processes (all their threads), in seconds. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = _stat(pid);
    if (fields) ticks += Number(fields[14 - 3]) + Number(fields[15 - 3]);
  }
  return ticks / CLOCK_TICKS;
}

/** A /proc/PID/status memory line (VmRSS: now, VmHWM: peak), summed over the processes, in KiB. */
export function memoryKiB(pids: readonly number[], field: "VmRSS" | "VmHWM"): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
      if (match) total += Number(match[1]);
    } catch {
      // exited
    }
  }
  return total;
}

/** Resets VmHWM to the current RSS (`echo 5 > clear_refs`, Linux 4.0+), so a peak is the peak of one run. */
export function resetPeaks(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      // exited
    }
  }
}

/** Samples the family's RSS every `intervalMs` until stopped: the upload scenario's memory curve. */
export function sampleRss(roots: readonly number[], intervalMs = 100): { stop(): number[] } {
  const pids = family(roots);
  const samples = [memoryKiB(pids, "VmRSS")];
  const timer = setInterval(() => samples.push(memoryKiB(pids, "VmRSS")), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(memoryKiB(pids, "VmRSS"));
      return samples;
    },
  };
}

export interface Started {
  name: string;
  pid: number;
  process: Subprocess<"ignore" | "pipe", "pipe" | number, number>;
  /** Where its stdout and stderr go. */
  log: string;
}

/**
 * Starts processes inside namespaces and stops them again. Every process the harness starts goes
 * through here, so that teardown can kill each one (and its descendants) by PID.
 */
export class Supervisor {
  readonly #running = new Set<Started>();

  constructor(readonly logDir: string) {}

  start(name: string, host: Host, command: readonly string[], options: { cwd?: string; env?: Record<string, string>; stdin?: boolean; stdoutPipe?: boolean } = {}): Started {
    const log = join(this.logDir, `${name}.log`);
    const fd = openSync(log, "a");
    const process = Bun.spawn(inNamespace(host, command), {
      cwd: options.cwd,
      env: { ...Bun.env, ...options.env },
      stdin: options.stdin ? "pipe" : "ignore",
      stdout: options.stdoutPipe ? "pipe" : fd,
      stderr: fd,
    });
    closeSync(fd);
    const started: Started = { name, pid: process.pid, process, log };
    this.#running.add(started);
    return started;
  }

  /** SIGTERM to the family, then SIGKILL to whatever is left after `graceMs`. */
  async stop(started: Started, graceMs = 2000): Promise<void> {
    const pids = family([started.pid]);
    _signal(pids, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && family(pids).length > 0) await Bun.sleep(50);
    _signal(family(pids), "SIGKILL");
    await Promise.race([started.process.exited, Bun.sleep(1000)]);
    this.#running.delete(started);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((started) => this.stop(started)));
  }

  /** For the exit path, where nothing may be awaited: SIGKILL every family at once. */
  killAllNow(): void {
    _signal(family([...this.#running].map((started) => started.pid)), "SIGKILL");
    this.#running.clear();
  }
}

function _signal(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Runs a short command inside a namespace, killed after `timeoutMs`: every load run is bounded. */
export async function runBounded(host: Host, command: readonly string[], timeoutMs: number, cwd?: string): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  const child = Bun.spawn(inNamespace(host, command), { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    _signal(family([child.pid]), "SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, timedOut };
}
