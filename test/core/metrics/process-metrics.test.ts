import assert from "node:assert/strict";
import { test } from "node:test";
import { procStats, type ProcessStats, registerProcessMetrics } from "../../../core/metrics/process-metrics.ts";
import { Registry } from "../../../core/metrics/registry.ts";

const STATUS = "Name:\tbun\nVmPeak:\t 4000000 kB\nVmSize:\t 3891200 kB\nVmRSS:\t   98304 kB\n";
const LIMITS = [
  "Limit                     Soft Limit           Hard Limit           Units     ",
  "Max cpu time              unlimited            unlimited            seconds   ",
  "Max open files            20000                524288               files     ",
].join("\n");

test("procStats reads virtual memory from status, the soft open-files limit and counts the fd directory", () => {
  const files: Record<string, string> = { "/proc/self/status": STATUS, "/proc/self/limits": LIMITS };
  const stats = procStats((path) => files[path] ?? assert.fail(`read ${path}`), (path) => (path === "/proc/self/fd" ? 42 : assert.fail(`count ${path}`)));
  assert.deepEqual(stats, { virtualBytes: 3891200 * 1024, openFds: 42, maxFds: 20000 });
  const unlimited = procStats((path) => (path.endsWith("limits") ? LIMITS.replace("20000 ", "unlimited ") : STATUS), () => 7);
  assert.equal(unlimited.maxFds, Infinity);
});

test("procStats gives nothing where /proc cannot be read (not Linux, or a runtime that forbids it)", () => {
  assert.deepEqual(procStats(() => {
    throw new Error("NotCapable");
  }, () => 1), {});
});

test("process metrics: figures read at each scrape, the start time in seconds, a missing figure has no series", () => {
  const registry = new Registry();
  let stats: ProcessStats = { cpuSeconds: 1.5, residentBytes: 1000, openFds: 9, maxFds: Infinity };
  registerProcessMetrics(registry, () => stats, 1_700_000_000_500);
  const first = registry.render();
  assert.match(first, /^process_cpu_seconds_total 1\.5$/m);
  assert.match(first, /^# TYPE process_cpu_seconds_total counter$/m);
  assert.match(first, /^process_resident_memory_bytes 1000$/m);
  assert.match(first, /^process_open_fds 9$/m);
  assert.match(first, /^process_max_fds \+Inf$/m);
  assert.match(first, /^process_start_time_seconds 1700000000\.5$/m);
  assert.doesNotMatch(first, /^process_virtual_memory_bytes /m, "no virtual memory figure: no series");
  assert.match(first, /^# TYPE process_virtual_memory_bytes gauge$/m, "the family is still declared");
  stats = { cpuSeconds: 2, residentBytes: 2000 };
  const second = registry.render();
  assert.match(second, /^process_cpu_seconds_total 2$/m);
  assert.match(second, /^process_resident_memory_bytes 2000$/m);
  assert.doesNotMatch(second, /^process_open_fds /m);
});

test("process metrics: workers are threads of one process, so worker 0's figures stand (not a sum)", () => {
  const lead = new Registry();
  const other = new Registry();
  registerProcessMetrics(lead, () => ({ cpuSeconds: 3, residentBytes: 100 }), 0);
  registerProcessMetrics(other, () => ({ cpuSeconds: 3, residentBytes: 100 }), 0);
  const merged = lead.render([other.snapshot()]);
  assert.match(merged, /^process_cpu_seconds_total 3$/m);
  assert.match(merged, /^process_resident_memory_bytes 100$/m);
});
