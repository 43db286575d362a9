/**
 * The standard `process_*` metrics every Prometheus client exports: CPU seconds, resident memory
 * and start time on every runtime; virtual memory and open and maximum file descriptors where the
 * runtime may read Linux's /proc (Bun; Deno grants /proc/self only with --allow-all, so there
 * they are absent rather than wrong).
 *
 * Workers are threads of one process: every worker reads the same figures, so worker 0's are
 * shown (`merge: "lead"`), not a sum.
 *
 * @module
 */
import type { Registry } from "./registry.ts";

export interface ProcessStats {
  cpuSeconds: number;
  residentBytes: number;
  /** From /proc, where the runtime may read it. */
  virtualBytes?: number;
  openFds?: number;
  maxFds?: number;
}

/** The /proc side of {@link ProcessStats}, read with the runtime's own file calls; none off Linux. */
export function procStats(read: (path: string) => string, count: (path: string) => number): Pick<ProcessStats, "virtualBytes" | "openFds" | "maxFds"> {
  try {
    return _procStats(read, count);
  } catch {
    return {};
  }
}

function _procStats(read: (path: string) => string, count: (path: string) => number): Pick<ProcessStats, "virtualBytes" | "openFds" | "maxFds"> {
  const virtualKb = /^VmSize:\s+(\d+) kB$/m.exec(read("/proc/self/status"))?.[1];
  const maxFiles = /^Max open files\s+(\S+)/m.exec(read("/proc/self/limits"))?.[1];
  return {
    virtualBytes: virtualKb === undefined ? undefined : Number(virtualKb) * 1024,
    openFds: count("/proc/self/fd"),
    maxFds: maxFiles === undefined ? undefined : maxFiles === "unlimited" ? Infinity : Number(maxFiles),
  };
}

/**
 * Registers the `process_*` families. `stats` is read at each scrape; `startTime` is the process's
 * start in milliseconds since the epoch. A figure the runtime lacks has no series.
 */
export function registerProcessMetrics(registry: Registry, stats: () => ProcessStats, startTime: number): void {
  const series = (value: (stats: ProcessStats) => number | undefined) => () => {
    const figure = value(stats());
    return figure === undefined ? [] : [[[], figure] as [string[], number]];
  };
  const lead = { merge: "lead" } as const;
  registry.counterFn("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", [], series((s) => s.cpuSeconds), lead);
  registry.gaugeFn("process_resident_memory_bytes", "Resident memory size in bytes.", [], series((s) => s.residentBytes), lead);
  registry.gaugeFn("process_virtual_memory_bytes", "Virtual memory size in bytes.", [], series((s) => s.virtualBytes), lead);
  registry.gaugeFn("process_open_fds", "Number of open file descriptors.", [], series((s) => s.openFds), lead);
  registry.gaugeFn("process_max_fds", "Maximum number of open file descriptors.", [], series((s) => s.maxFds), lead);
  registry.gaugeFn("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", [], () => [[[], startTime / 1000]], lead);
}
