/**
 * The seven scenarios. Each starts fresh proxy processes (so a peak or a heap is that scenario's
 * own), measures them in interleaved rounds (A B C … A B C …, so that drift on a shared machine
 * hits everyone alike), stops them, and returns tables of medians.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { backendRequests, h2load, openIdleConnections, upload, type WrkResult, wrk } from "./load.ts";
import { cpuSeconds, family, memoryKiB, resetPeaks, sampleRss } from "./procs.ts";
import {
  BUN,
  directTarget,
  HTTP_PORT,
  NOTES,
  type ProxyId,
  type ProxyOptions,
  proxyLabel,
  RELAY_IDS,
  SINK_PORT,
  startProxy,
  startStunnel,
  type Target,
  targetUrl,
  WEB_IDS,
  type Workspace,
} from "./proxies.ts";
import { type Column, median, medians, type Row, type Table } from "./report.ts";

export interface Context {
  ws: Workspace;
  rounds: number;
  /** Length of every timed wrk run. */
  seconds: number;
  warmSeconds: number;
  idleConnections: number;
  uploadMiB: number;
  proxies: readonly ProxyId[];
  log(message: string): void;
}

export interface ScenarioResult {
  id: string;
  title: string;
  tables: Table[];
  skipped?: string;
  /** Every round's raw figures, per target, for the JSON file. */
  samples: Record<string, unknown>;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: Context): Promise<ScenarioResult>;
}

const KEEPALIVE_CONNECTIONS = 64;
const HANDSHAKE_CONNECTIONS = 16;
/** Proxies that probe both members every 2 s (±10 %): about one request per second each. */
const ACTIVE_CHECKERS: readonly string[] = ["haproxy", "bun", "deno", "bun-web", "deno-web"];

const FOOTNOTES = [`¹ ${NOTES.nginx}`, `² ${NOTES.node}`, NOTES.tandem, `³ ${NOTES.relay}`, `⁴ ${NOTES.web}`];

/** Why the raw relays and the web front-end rows, when selected, have no row in a scenario they cannot take part in. */
function _leftOut(ctx: Context, why: { relays: string; web: string }): string[] {
  const notes: string[] = [];
  for (const [ids, reason] of [[RELAY_IDS, why.relays], [WEB_IDS, why.web]] as const) {
    const left = ctx.proxies.filter((id) => ids.includes(id));
    if (left.length > 0) notes.push(`Not in this table: ${left.join(", ")} (${reason}).`);
  }
  return notes;
}

const TLS_LEFT_OUT = {
  relays: "the raw relays speak plain HTTP only, they have no TLS",
  web: "web-front-end.ts serves the plain listener only: TLS termination, with its certificate files, SNI and rotation, is `tandem serve`'s, measured in the tandem rows",
};
const WORKERS_LEFT_OUT = {
  relays: "the raw relays run on one thread, they have no workers",
  web: "web-front-end.ts runs one balancer on one thread: worker threads and their synchronisation are `tandem serve`'s, measured in the tandem rows",
};

/** Starts the proxies one after the other; one that fails to start becomes a row saying why. */
async function _startAll(ctx: Context, ids: readonly ProxyId[], options: ProxyOptions = {}): Promise<{ targets: Target[]; broken: Row[] }> {
  const targets: Target[] = [];
  const broken: Row[] = [];
  for (const id of ids) {
    ctx.log(`starting ${id}${options.tls ? " (TLS)" : ""}${options.workers ? ` (workers ${options.workers})` : ""}`);
    try {
      targets.push(await startProxy(ctx.ws, id, options));
    } catch (error) {
      ctx.log(`  ${id} did not start: ${(error as Error).message}`);
      broken.push({ id, label: proxyLabel(ctx.ws, id, options), values: { error: `did not start: ${(error as Error).message.split("\n")[0]}` } });
    }
  }
  return { targets, broken };
}

async function _stopAll(targets: readonly Target[]): Promise<void> {
  for (const target of targets) await target.stop();
}

/** Runs `measure` for every target, round after round, in the same order each round. */
async function _interleave<T>(ctx: Context, targets: readonly Target[], what: string, measure: (target: Target) => Promise<T>): Promise<Record<string, T[]>> {
  const samples: Record<string, T[]> = Object.fromEntries(targets.map((target) => [target.id, []]));
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const target of targets) {
      ctx.log(`${what}: round ${round}/${ctx.rounds}, ${target.label}`);
      samples[target.id].push(await measure(target));
    }
  }
  return samples;
}

/** Warms every target (JIT, pooled member connections) with a short wrk run. */
async function _warmUp(ctx: Context, targets: readonly Target[], path: string, headers: string[] = []): Promise<void> {
  for (const target of targets) {
    ctx.log(`warming up ${target.label}`);
    await wrk(target.url.replace(/\/$/, path), { connections: 16, seconds: ctx.warmSeconds, headers });
  }
}

interface WrkSample {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  mibPerSec: number;
  /** utime + stime of the proxy's processes over completed requests. */
  cpuUsPerRequest?: number;
  /** VmHWM summed over the proxy's processes, reset before the run. */
  peakRssMiB?: number;
  /** Responses wrk read in full. */
  requests: number;
  /** Requests the members served in the meantime (stub_status), health checks included. */
  served: number;
  readErrors: number;
  failures: number;
  failureDetail: string;
}

/**
 * One timed wrk run against a target, with the proxy's CPU time and peak memory around it, and a
 * cross-check of wrk's count against what the members served: the members may have served more
 * (requests in flight when wrk stopped, health checks) but never fewer.
 */
async function _measureWrk(ctx: Context, target: Target, options: { path: string; connections: number; headers?: string[]; closeExpected?: boolean; checkers: number }): Promise<WrkSample> {
  const pids = family(target.roots);
  const servedBefore = await backendRequests();
  resetPeaks(pids);
  const cpuBefore = cpuSeconds(pids);
  const result: WrkResult = await wrk(target.url.replace(/\/$/, options.path), { connections: options.connections, seconds: ctx.seconds, headers: options.headers });
  const cpu = cpuSeconds(pids) - cpuBefore;
  const peak = memoryKiB(pids, "VmHWM");
  // The second status request counts itself.
  const served = (await backendRequests()) - servedBefore - 1;

  const slack = served - result.requests;
  const allowed = options.connections + Math.ceil(options.checkers * 1.2 * (ctx.seconds + 2)) + 5;
  const { connect, read, write, timeout } = result.errors;
  const problems: string[] = [];
  if (result.non2xx) problems.push(`${result.non2xx} non-2xx`);
  if (connect + write + timeout) problems.push(`socket errors: connect ${connect}, write ${write}, timeout ${timeout}`);
  // With Connection: close, a read error per closed connection is expected (see the TLS table);
  // more read errors than completed requests are not.
  const unexpectedReads = options.closeExpected ? Math.max(0, read - result.requests) : read;
  if (unexpectedReads) problems.push(`${unexpectedReads} read errors`);
  if (slack < -2 || slack > allowed) problems.push(`members served ${served}, wrk completed ${result.requests}`);
  const mismatch = slack < -2 ? -slack : slack > allowed ? slack - allowed : 0;
  return {
    rps: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    mibPerSec: result.bytesRead / 2 ** 20 / ctx.seconds,
    cpuUsPerRequest: pids.length > 0 && result.requests > 0 ? (cpu * 1e6) / result.requests : undefined,
    peakRssMiB: pids.length > 0 ? peak / 1024 : undefined,
    requests: result.requests,
    served,
    readErrors: read,
    failures: result.non2xx + connect + write + timeout + unexpectedReads + mismatch,
    failureDetail: problems.join("; "),
  };
}

function _checkers(targets: readonly Target[]): number {
  return targets.filter((target) => target.proxy !== undefined && ACTIVE_CHECKERS.includes(target.proxy)).length;
}

function _sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Rows of medians; failures are summed over the rounds, with what they were. */
function _wrkRows(targets: readonly Target[], samples: Record<string, WrkSample[]>, direct?: Target): Row[] {
  const directP99 = direct ? median(samples[direct.id].map((s) => s.p99Ms)) : undefined;
  return targets.map((target) => {
    const list = samples[target.id];
    const values: Row["values"] = medians(list, ["rps", "p50Ms", "p99Ms", "mibPerSec", "cpuUsPerRequest", "peakRssMiB", "readErrors"]);
    if (directP99 !== undefined && target !== direct) values.p99Added = (values.p99Ms as number) - directP99;
    const failures = _sum(list.map((s) => s.failures));
    const details = [...new Set(list.map((s) => s.failureDetail).filter(Boolean))];
    values.failures = failures === 0 ? "0" : `${failures} (${details.join("; ")})`;
    return { id: target.id, label: target.label, values };
  });
}

const WRK_COLUMNS: Column[] = [
  { key: "rps", label: "req/s", ratio: true },
  { key: "p50Ms", label: "p50 ms", digits: 2, ratio: true },
  { key: "p99Ms", label: "p99 ms", digits: 2, ratio: true },
  { key: "p99Added", label: "p99 added over direct, ms", digits: 2 },
  { key: "cpuUsPerRequest", label: "CPU µs/req", digits: 1, ratio: true },
  { key: "peakRssMiB", label: "peak RSS MiB", digits: 1, ratio: true },
  { key: "failures", label: "failures (all rounds)", text: true },
];

function _errorColumn(rows: Row[], columns: Column[]): Column[] {
  return rows.some((row) => row.values.error !== undefined) ? [...columns, { key: "error", label: "error", text: true }] : columns;
}

/** Scenarios 1 and 2: wrk -t1 -c64 keep-alive at each proxy and straight at a member. */
function _keepAliveScenario(id: string, title: string, path: string, bodyNote: string, extraColumns: Column[] = []): Scenario {
  return {
    id,
    title,
    async run(ctx) {
      const direct = directTarget();
      const { targets: proxies, broken } = await _startAll(ctx, ctx.proxies);
      const targets = [direct, ...proxies];
      try {
        await _warmUp(ctx, targets, path);
        const checkers = _checkers(proxies);
        const samples = await _interleave(ctx, targets, title, (target) => _measureWrk(ctx, target, { path, connections: KEEPALIVE_CONNECTIONS, checkers }));
        const rows = [..._wrkRows(targets, samples, direct), ...broken];
        const columns = _errorColumn(rows, [...WRK_COLUMNS.slice(0, 3), ...extraColumns, ...WRK_COLUMNS.slice(3)]);
        return {
          id,
          title,
          samples,
          tables: [
            {
              title,
              method: `wrk -t1 -c${KEEPALIVE_CONNECTIONS} -d${ctx.seconds}s --latency http://PROXY${path} (${bodyNote}), ${ctx.rounds} interleaved round(s), medians; (n×) = ratio to HAProxy. CPU and peak RSS are the proxy's processes and threads (utime+stime and VmHWM from /proc).`,
              columns,
              rows,
              notes: FOOTNOTES,
            },
          ],
        };
      } finally {
        await _stopAll(proxies);
      }
    },
  };
}

export const smallResponses = _keepAliveScenario("small", "1. Small responses, keep-alive", "/", "13-byte body");
export const largeResponses = _keepAliveScenario("64k", "2. 64 KiB responses, keep-alive", "/64k", "65 536-byte body", [{ key: "mibPerSec", label: "MiB/s", ratio: true }]);

interface UploadSample {
  mibPerSec: number;
  rssBeforeMiB?: number;
  rssGrowthMiB?: number;
  /** RSS growth over the second half of the transfer: keeps rising if memory follows the bytes. */
  lateGrowthMiB?: number;
  cpuMsPerMiB?: number;
  /** The samples, one per 100 ms. */
  rssCurveMiB?: number[];
  ok: boolean;
  detail: string;
}

/** Scenario 3: one big Content-Length upload through each proxy to the sink, RSS sampled every 100 ms. */
export const uploads: Scenario = {
  id: "upload",
  title: "3. Streaming upload",
  async run(ctx) {
    const file = join(ctx.ws.dir, "upload.bin");
    const size = ctx.uploadMiB * 2 ** 20;
    writeFileSync(file, new Uint8Array(size));
    const direct: Target = { ...directTarget(), id: "direct", label: "direct to the sink (no proxy)", port: SINK_PORT, url: targetUrl("backend", SINK_PORT) };
    const { targets: proxies, broken } = await _startAll(ctx, ctx.proxies);
    const targets = [direct, ...proxies];
    try {
      const samples = await _interleave(ctx, targets, "upload", async (target): Promise<UploadSample> => {
        const pids = family(target.roots);
        const cpuBefore = cpuSeconds(pids);
        const before = memoryKiB(pids, "VmRSS");
        const sampler = sampleRss(target.roots, 100);
        const result = await upload(target.url.replace(/\/$/, "/upload"), file);
        const rss = sampler.stop();
        const cpu = cpuSeconds(pids) - cpuBefore;
        const ok = result.status === 200 && result.received === size;
        const measured = pids.length > 0;
        const half = Math.floor(rss.length / 2);
        return {
          mibPerSec: ok ? ctx.uploadMiB / result.seconds : Number.NaN,
          rssBeforeMiB: measured ? before / 1024 : undefined,
          rssGrowthMiB: measured ? (Math.max(...rss) - before) / 1024 : undefined,
          lateGrowthMiB: measured ? (Math.max(...rss.slice(half)) - Math.max(...rss.slice(0, half + 1))) / 1024 : undefined,
          cpuMsPerMiB: measured ? (cpu * 1000) / ctx.uploadMiB : undefined,
          rssCurveMiB: measured ? rss.map((kib) => Math.round(kib / 102.4) / 10) : undefined,
          ok,
          detail: ok ? "" : `status ${result.status}, sink got ${result.received} of ${size} bytes`,
        };
      });
      const rows: Row[] = targets.map((target) => {
        const list = samples[target.id];
        const values: Row["values"] = medians(list, ["mibPerSec", "rssGrowthMiB", "cpuMsPerMiB"]);
        // Memory figures of the worst round: the first upload through a fresh process is the one
        // that shows whether memory follows the bytes; later rounds reuse what it allocated.
        values.rssBeforeMiB = list[0]?.rssBeforeMiB;
        const worst = (key: "rssGrowthMiB" | "lateGrowthMiB") => {
          const figures = list.map((s) => s[key]).filter((g): g is number => g !== undefined);
          return figures.length > 0 ? Math.max(...figures) : undefined;
        };
        values.maxGrowthMiB = worst("rssGrowthMiB");
        values.lateGrowthMiB = worst("lateGrowthMiB");
        const failed = list.filter((s) => !s.ok);
        values.failures = failed.length === 0 ? "0" : `${failed.length} (${[...new Set(failed.map((s) => s.detail))].join("; ")})`;
        return { id: target.id, label: target.label, values };
      });
      rows.push(...broken);
      return {
        id: "upload",
        title: uploads.title,
        samples,
        tables: [
          {
            title: `3. Streaming upload, ${ctx.uploadMiB} MiB`,
            method: `curl -T (POST with Content-Length, no Expect) of ${ctx.uploadMiB} MiB to /upload, streamed through the proxy to a Bun sink that counts the bytes; proxy RSS (VmRSS of all its processes) sampled every 100 ms; ${ctx.rounds} interleaved round(s) on the same processes, medians. "RSS growth" is the peak during an upload minus RSS just before it; "late growth" is the peak of the upload's second half over that of its first half (memory that follows the bytes keeps rising). "Worst" is the worst round, usually the first (a fresh process); "RSS before, fresh" is the first round's.`,
            columns: _errorColumn(rows, [
              { key: "mibPerSec", label: "MiB/s", digits: 0, ratio: true },
              { key: "cpuMsPerMiB", label: "CPU ms/MiB", digits: 2, ratio: true },
              { key: "rssBeforeMiB", label: "RSS before, fresh MiB", digits: 1 },
              { key: "rssGrowthMiB", label: "RSS growth MiB (median)", digits: 1 },
              { key: "maxGrowthMiB", label: "RSS growth MiB (worst)", digits: 1 },
              { key: "lateGrowthMiB", label: "late growth MiB (worst)", digits: 1 },
              { key: "failures", label: "failures", text: true },
            ]),
            rows,
            notes: FOOTNOTES,
          },
        ],
      };
    } finally {
      await _stopAll(proxies);
    }
  },
};

interface IdleSample {
  rssBeforeMiB: number;
  rssWithMiB: number;
  kibPerConnection: number;
  open: number;
  failed: number;
}

/**
 * Scenario 4: N idle keep-alive connections, each having made one request. Every round starts
 * each proxy afresh, because an allocator keeps what it freed and a second round on the same
 * process would measure reuse rather than cost.
 */
export const idleConnections: Scenario = {
  id: "idle",
  title: "4. Idle keep-alive connections",
  async run(ctx) {
    const n = ctx.idleConnections;
    const samples: Record<string, IdleSample[]> = {};
    const labels = new Map<string, string>();
    const broken = new Map<string, Row>();
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const id of ctx.proxies) {
        const { targets, broken: failed } = await _startAll(ctx, [id]);
        for (const row of failed) broken.set(row.id, row);
        const target = targets[0];
        if (!target) continue;
        try {
          ctx.log(`idle connections: round ${round}/${ctx.rounds}, ${target.label}`);
          labels.set(id, target.label);
          await wrk(target.url, { connections: 16, seconds: 1 });
          await Bun.sleep(500);
          const pids = family(target.roots);
          const before = memoryKiB(pids, "VmRSS");
          const clients = await openIdleConnections(ctx.ws.supervisor, target, n, 120_000);
          try {
            await Bun.sleep(1000); // let the proxy settle (lazy allocations, GC)
            const withConnections = memoryKiB(family(target.roots), "VmRSS");
            const open = await clients.stillOpen();
            (samples[id] ??= []).push({
              rssBeforeMiB: before / 1024,
              rssWithMiB: withConnections / 1024,
              kibPerConnection: (withConnections - before) / Math.max(open, 1),
              open,
              failed: clients.failed,
            });
          } finally {
            await clients.close();
          }
        } finally {
          await target.stop();
        }
      }
    }
    const rows: Row[] = ctx.proxies.filter((id) => samples[id]).map((id) => {
      const list = samples[id];
      const values: Row["values"] = medians(list, ["rssBeforeMiB", "rssWithMiB", "kibPerConnection"]);
      values.open = `${Math.min(...list.map((s) => s.open))} / ${n}`;
      values.failed = String(_sum(list.map((s) => s.failed)));
      return { id, label: labels.get(id)!, values };
    });
    rows.push(...broken.values());
    return {
      id: "idle",
      title: idleConnections.title,
      samples,
      tables: [
        {
          title: `4. ${formatCount(n)} idle keep-alive connections`,
          method: `A Bun client opens ${formatCount(n)} connections (200 at a time), each sends one GET / and reads the answer, then all stay open; RSS (VmRSS of the proxy's processes) before and 1 s after; per connection = (with − before) / connections still open. Each proxy is started afresh for every round; ${ctx.rounds} round(s), medians.`,
          columns: _errorColumn(rows, [
            { key: "rssBeforeMiB", label: "RSS before MiB", digits: 1, ratio: true },
            { key: "rssWithMiB", label: `RSS with ${formatCount(n)} MiB`, digits: 1, ratio: true },
            { key: "kibPerConnection", label: "KiB per connection", digits: 1, ratio: true },
            { key: "open", label: "open at sample (min)", text: true },
            { key: "failed", label: "failed (all rounds)", text: true },
          ]),
          rows,
          notes: FOOTNOTES,
        },
      ],
    };
  },
};

export function formatCount(n: number): string {
  return n >= 1000 ? n.toLocaleString("en-US") : String(n);
}

/**
 * Scenario 5: TLS termination against HAProxy's `ssl` and stunnel → HAProxy: keep-alive requests
 * over TLS, and full handshakes (`Connection: close`, wrk does not resume sessions).
 */
export const tls: Scenario = {
  id: "tls",
  title: "5. TLS",
  async run(ctx) {
    const ids = ctx.proxies.filter((id) => id === "haproxy" || id === "bun" || id === "deno");
    const { targets, broken } = await _startAll(ctx, ids, { tls: true });
    const haproxy = targets.find((target) => target.id.startsWith("haproxy"));
    const all = [...targets];
    try {
      if (haproxy) {
        ctx.log("starting stunnel → HAProxy");
        all.splice(1, 0, await startStunnel(ctx.ws, haproxy));
      }
      await _warmUp(ctx, all, "/");
      const checkers = _checkers(targets);
      const kinds = {
        keepalive: { connections: KEEPALIVE_CONNECTIONS, headers: [] as string[], closeExpected: false },
        handshakes: { connections: HANDSHAKE_CONNECTIONS, headers: ["Connection: close"], closeExpected: true },
      };
      const keepalive: Record<string, WrkSample[]> = Object.fromEntries(all.map((t) => [t.id, []]));
      const handshakes: Record<string, WrkSample[]> = Object.fromEntries(all.map((t) => [t.id, []]));
      for (let round = 1; round <= ctx.rounds; round++) {
        for (const [kind, options] of Object.entries(kinds)) {
          for (const target of all) {
            ctx.log(`TLS ${kind}: round ${round}/${ctx.rounds}, ${target.label}`);
            const sample = await _measureWrk(ctx, target, { path: "/", checkers, ...options });
            (kind === "keepalive" ? keepalive : handshakes)[target.id].push(sample);
          }
        }
      }
      const closeNote =
        "With `Connection: close`, tandem on Bun ends each TLS connection in a way wrk counts as one read error per closed connection; those are shown as \"read errors\" and are not failures as long as the members served as many requests as wrk completed (checked every run against nginx's stub_status; a mismatch is a failure).";
      const stunnelNote = "stunnel runs one thread per connection (its only model); its row counts the CPU and memory of stunnel and HAProxy together.";
      return {
        id: "tls",
        title: tls.title,
        samples: { keepalive, handshakes },
        tables: [
          {
            title: "5a. TLS, keep-alive",
            method: `wrk -t1 -c${KEEPALIVE_CONNECTIONS} -d${ctx.seconds}s --latency https://PROXY/ (13-byte body, ECDSA P-256 certificate), ${ctx.rounds} interleaved round(s), medians; (n×) = ratio to HAProxy ssl.`,
            columns: _errorColumn([...broken], [...WRK_COLUMNS.filter((c) => c.key !== "p99Added")]),
            rows: [..._wrkRows(all, keepalive), ...broken],
            notes: [stunnelNote, NOTES.tandem, ..._leftOut(ctx, TLS_LEFT_OUT)],
          },
          {
            title: "5b. TLS handshakes",
            method: `wrk -t1 -c${HANDSHAKE_CONNECTIONS} -d${ctx.seconds}s --latency -H "Connection: close" https://PROXY/: every request is a new TCP connection and a full handshake (wrk does not resume sessions); req/s is handshakes/s and CPU is per handshake.`,
            columns: _errorColumn([...broken], [
              { key: "rps", label: "handshakes/s", ratio: true },
              { key: "p50Ms", label: "p50 ms", digits: 2, ratio: true },
              { key: "p99Ms", label: "p99 ms", digits: 2, ratio: true },
              { key: "cpuUsPerRequest", label: "CPU µs/handshake", digits: 1, ratio: true },
              { key: "peakRssMiB", label: "peak RSS MiB", digits: 1, ratio: true },
              { key: "readErrors", label: "read errors (closures)" },
              { key: "failures", label: "failures (all rounds)", text: true },
            ]),
            rows: [..._wrkRows(all, handshakes), ...broken],
            notes: [closeNote, stunnelNote, NOTES.tandem, ..._leftOut(ctx, TLS_LEFT_OUT)],
          },
        ],
      };
    } finally {
      await _stopAll(all.filter((target) => target.id === "stunnel"));
      await _stopAll(targets);
    }
  },
};

/** Whether this tandem has a top-level `workers` key, from its own JSON Schema. */
export function tandemHasWorkers(): boolean {
  const result = spawnSync(BUN, ["run", "runtimes/bun/main.ts", "schema"], { encoding: "utf8" });
  try {
    return "workers" in (JSON.parse(result.stdout).properties ?? {});
  } catch {
    return false;
  }
}

/**
 * Scenario 6: `workers: 1` against `workers: 2` (and HAProxy `nbthread 1` against 2 for
 * reference), scenario 1's load. The second of each listens on another port so that both run at
 * once and rounds interleave.
 */
export const workers: Scenario = {
  id: "workers",
  title: "6. Scaling with workers",
  async run(ctx) {
    if (!tandemHasWorkers()) {
      return { id: "workers", title: workers.title, tables: [], samples: {}, skipped: "skipped: workers not implemented yet" };
    }
    const ids = ctx.proxies.filter((id) => id === "haproxy" || id === "bun" || id === "deno");
    const targets: Target[] = [];
    const broken: Row[] = [];
    try {
      for (const count of [1, 2]) {
        for (const id of ids) {
          const started = await _startAll(ctx, [id], { workers: count, port: HTTP_PORT + count - 1 });
          targets.push(...started.targets);
          broken.push(...started.broken);
        }
      }
      await _warmUp(ctx, targets, "/");
      const checkers = _checkers(targets);
      const samples = await _interleave(ctx, targets, "workers", (target) => _measureWrk(ctx, target, { path: "/", connections: KEEPALIVE_CONNECTIONS, checkers }));
      const rows = [..._wrkRows(targets, samples), ...broken];
      return {
        id: "workers",
        title: workers.title,
        samples,
        tables: [
          {
            title: workers.title,
            method: `As scenario 1 (wrk -t1 -c${KEEPALIVE_CONNECTIONS} -d${ctx.seconds}s, 13-byte body) with \`workers: 1\` and \`workers: 2\` (worker threads; HAProxy: \`nbthread\`). The machine has ${navigator.hardwareConcurrency} cores shared by wrk, the members and the proxy, so this shows overhead more than headroom.`,
            columns: _errorColumn(rows, WRK_COLUMNS.filter((c) => c.key !== "p99Added")),
            rows,
            notes: [NOTES.tandem, ..._leftOut(ctx, WORKERS_LEFT_OUT)],
          },
        ],
      };
    } finally {
      await _stopAll(targets);
    }
  },
};

/**
 * Scenario 7: scenario 1's load on tandem without rules and with a handful of rules and one rate
 * limit (BENCH_RULES), each pair running at once on two ports so rounds interleave. The issue
 * allows the rules at most 10 % of the small-response rate.
 */
export const rules: Scenario = {
  id: "rules",
  title: "7. Traffic rules and a rate limit",
  async run(ctx) {
    const ids = ctx.proxies.filter((id) => id === "bun" || id === "deno");
    const targets: Target[] = [];
    const broken: Row[] = [];
    try {
      for (const withRules of [false, true]) {
        for (const id of ids) {
          const started = await _startAll(ctx, [id], { rules: withRules, port: HTTP_PORT + (withRules ? 1 : 0) });
          targets.push(...started.targets);
          broken.push(...started.broken);
        }
      }
      await _warmUp(ctx, targets, "/");
      const checkers = _checkers(targets);
      const samples = await _interleave(ctx, targets, "rules", (target) => _measureWrk(ctx, target, { path: "/", connections: KEEPALIVE_CONNECTIONS, checkers }));
      const rows = [..._wrkRows(targets, samples), ...broken];
      return {
        id: "rules",
        title: rules.title,
        samples,
        tables: [
          {
            title: rules.title,
            method: `As scenario 1 (wrk -t1 -c${KEEPALIVE_CONNECTIONS} -d${ctx.seconds}s, 13-byte body), tandem without rules and with 6 rules on the listener (deny by path prefix, by method, by header; set a request header; delete and set response headers) and one per-client rate limit with a budget wrk never reaches.`,
            columns: _errorColumn(rows, WRK_COLUMNS.filter((c) => c.key !== "p99Added")),
            rows,
            notes: [NOTES.tandem],
          },
        ],
      };
    } finally {
      await _stopAll(targets);
    }
  },
};

const H2_CONNECTIONS = 10;
const H2_STREAMS = 10;

interface H2Sample {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest?: number;
  peakRssMiB?: number;
  requests: number;
  failures: number;
  failureDetail: string;
}

/** One timed h2load run, with the proxy's CPU time and peak memory around it and the members' count as a cross-check. */
async function _measureH2load(ctx: Context, target: Target, checkers: number): Promise<H2Sample> {
  const pids = family(target.roots);
  const servedBefore = await backendRequests();
  resetPeaks(pids);
  const cpuBefore = cpuSeconds(pids);
  const result = await h2load(target.url, { connections: H2_CONNECTIONS, streams: H2_STREAMS, seconds: ctx.seconds, logFile: join(ctx.ws.dir, `${target.id}.h2load.log`) });
  const cpu = cpuSeconds(pids) - cpuBefore;
  const peak = memoryKiB(pids, "VmHWM");
  const served = (await backendRequests()) - servedBefore - 1;
  const problems: string[] = [];
  const non2xx = result.requests - result.ok2xx;
  if (non2xx) problems.push(`${non2xx} non-2xx`);
  if (result.failed + result.errored) problems.push(`${result.failed} failed, ${result.errored} errored streams`);
  // h2load stops at its deadline with streams in flight: the members may have served those too.
  const allowed = H2_CONNECTIONS * H2_STREAMS + Math.ceil(checkers * 1.2 * (ctx.seconds + 2)) + 5;
  const slack = served - result.requests;
  if (slack < -2 || slack > allowed) problems.push(`members served ${served}, h2load completed ${result.requests}`);
  const mismatch = slack < -2 ? -slack : slack > allowed ? slack - allowed : 0;
  return {
    rps: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuUsPerRequest: pids.length > 0 && result.requests > 0 ? (cpu * 1e6) / result.requests : undefined,
    peakRssMiB: pids.length > 0 ? peak / 1024 : undefined,
    requests: result.requests,
    failures: non2xx + result.failed + result.errored + mismatch,
    failureDetail: problems.join("; "),
  };
}

/**
 * Scenario 8: HTTP/2 over TLS, h2load with 100 streams over 10 connections against HAProxy's h2
 * frontend and tandem's h2 listeners (the runtime's own HTTP/2 server feeding the balancer through
 * the web front end). Members stay HTTP/1.1 for all of them.
 */
export const http2: Scenario = {
  id: "h2",
  title: "8. HTTP/2",
  async run(ctx) {
    const ids = ctx.proxies.filter((id) => id === "haproxy" || id === "bun" || id === "deno");
    const { targets, broken } = await _startAll(ctx, ids, { tls: true, h2: true });
    try {
      await _warmUp(ctx, targets, "/");
      const checkers = _checkers(targets);
      const samples = await _interleave(ctx, targets, "h2", (target) => _measureH2load(ctx, target, checkers));
      const rows: Row[] = targets.map((target) => {
        const list = samples[target.id];
        const values: Row["values"] = medians(list, ["rps", "p50Ms", "p99Ms", "cpuUsPerRequest", "peakRssMiB"]);
        const failures = _sum(list.map((sample) => sample.failures));
        const details = [...new Set(list.map((sample) => sample.failureDetail).filter(Boolean))];
        values.failures = failures === 0 ? "0" : `${failures} (${details.join("; ")})`;
        return { id: target.id, label: target.label, values };
      });
      rows.push(...broken);
      return {
        id: "h2",
        title: http2.title,
        samples,
        tables: [
          {
            title: http2.title,
            method: `h2load -c${H2_CONNECTIONS} -m${H2_STREAMS} -D ${ctx.seconds} https://PROXY/ (${H2_CONNECTIONS * H2_STREAMS} concurrent streams over ${H2_CONNECTIONS} TLS connections, ALPN h2, 13-byte body, ECDSA P-256 certificate), ${ctx.rounds} interleaved round(s), medians; p50/p99 from h2load's per-request log; (n×) = ratio to HAProxy. The warm-up is wrk over HTTP/1.1.`,
            columns: _errorColumn(rows, [
              { key: "rps", label: "req/s", ratio: true },
              { key: "p50Ms", label: "p50 ms", digits: 2, ratio: true },
              { key: "p99Ms", label: "p99 ms", digits: 2, ratio: true },
              { key: "cpuUsPerRequest", label: "CPU µs/req", digits: 1, ratio: true },
              { key: "peakRssMiB", label: "peak RSS MiB", digits: 1, ratio: true },
              { key: "failures", label: "failures (all rounds)", text: true },
            ]),
            rows,
            notes: [NOTES.tandem, ..._leftOut(ctx, { relays: "the raw relays speak plain HTTP/1.1 only", web: "the tandem rows here are the web front end already, as `tandem serve` runs it for an h2 listener" })],
          },
        ],
      };
    } finally {
      await _stopAll(targets);
    }
  },
};

export const SCENARIOS: readonly Scenario[] = [smallResponses, largeResponses, uploads, idleConnections, tls, workers, rules, http2];
