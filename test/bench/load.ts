/**
 * Load generators, all run in the client namespace and all bounded in time: wrk (parsed), h2load
 * for HTTP/2, curl for uploads, and the idle-connection client.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { type Host, ipOf } from "./netns.ts";
import type { Subprocess } from "bun";
import { runBounded, type Supervisor } from "./procs.ts";

export interface WrkResult {
  /** Completed requests (responses wrk read in full). */
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  bytesRead: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  /** Responses with status >= 400 (wrk's "Non-2xx or 3xx" line). */
  non2xx: number;
}

/** `1.23ms` → 1.23, `850.00us` → 0.85, `1.20s` → 1200. */
function _ms(text: string): number {
  const match = text.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!match) return Number.NaN;
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as "us" | "ms" | "s" | "m"];
  return Number(match[1]) * factor;
}

function _bytes(text: string): number {
  const match = text.match(/^([\d.]+)(B|KB|MB|GB|TB)$/);
  if (!match) return Number.NaN;
  const power = ["B", "KB", "MB", "GB", "TB"].indexOf(match[2]);
  return Number(match[1]) * 1024 ** power;
}

export function parseWrk(output: string): WrkResult {
  const summary = output.match(/(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/);
  if (!summary) throw new Error(`wrk printed no summary:\n${output}`);
  const socket = output.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    requests: Number(summary[1]),
    rps: Number(output.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? Number.NaN),
    p50Ms: _ms(output.match(/^\s+50%\s+(\S+)/m)?.[1] ?? ""),
    p99Ms: _ms(output.match(/^\s+99%\s+(\S+)/m)?.[1] ?? ""),
    bytesRead: _bytes(summary[3]),
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
    },
    non2xx: Number(output.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
  };
}

/** wrk -t1 with --latency; killed 15 s after its own deadline if it hangs. */
export async function wrk(url: string, options: { connections: number; seconds: number; threads?: number; headers?: string[] }): Promise<WrkResult> {
  const headers = (options.headers ?? []).flatMap((header) => ["-H", header]);
  const command = ["wrk", `-t${options.threads ?? 1}`, `-c${options.connections}`, `-d${options.seconds}s`, "--timeout", "5s", "--latency", ...headers, url];
  const result = await runBounded("client", command, (options.seconds + 15) * 1000);
  if (result.code !== 0 || result.timedOut) throw new Error(`${command.join(" ")}: ${result.timedOut ? "timed out" : `exit ${result.code}`}\n${result.stderr}${result.stdout}`);
  return parseWrk(result.stdout);
}

export interface H2loadResult {
  /** Requests h2load counted as succeeded (any status), and those with a 2xx status. */
  requests: number;
  ok2xx: number;
  failed: number;
  errored: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * h2load over TLS (ALPN h2): `connections` connections with `streams` concurrent streams each,
 * for `seconds`. h2load prints no percentiles, so every request's latency comes from its
 * `--log-file` (one line per request: start µs, status, elapsed µs).
 */
export async function h2load(url: string, options: { connections: number; streams: number; seconds: number; logFile: string }): Promise<H2loadResult> {
  const command = ["h2load", `-c${options.connections}`, `-m${options.streams}`, "-D", String(options.seconds), "--log-file", options.logFile, url];
  const result = await runBounded("client", command, (options.seconds + 15) * 1000);
  if (result.code !== 0 || result.timedOut) throw new Error(`${command.join(" ")}: ${result.timedOut ? "timed out" : `exit ${result.code}`}\n${result.stderr}${result.stdout}`);
  const output = result.stdout;
  const counts = output.match(/requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/);
  if (!counts || !/Application protocol: h2/.test(output)) throw new Error(`h2load did not speak h2 or printed no summary:\n${output}`);
  const elapsed = readFileSync(options.logFile, "utf8").trim().split("\n").map((line) => Number(line.split("\t")[2]) / 1000).sort((a, b) => a - b);
  const percentile = (p: number) => elapsed[Math.min(elapsed.length - 1, Math.floor(elapsed.length * p))] ?? Number.NaN;
  return {
    requests: Number(counts[4]),
    ok2xx: Number(output.match(/status codes: (\d+) 2xx/)?.[1] ?? 0),
    failed: Number(counts[5]),
    errored: Number(counts[6]),
    rps: Number(output.match(/finished in [\d.]+\w+, ([\d.]+) req\/s/)?.[1] ?? Number.NaN),
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
  };
}

/** GET from the client namespace with curl; undefined when it fails. */
export async function curlGet(url: string, timeoutSeconds = 2): Promise<{ status: number; body: string } | undefined> {
  const result = await runBounded("client", ["curl", "-sk", "--max-time", String(timeoutSeconds), "-w", "\n%{http_code}", url], (timeoutSeconds + 2) * 1000);
  if (result.code !== 0) return undefined;
  const cut = result.stdout.lastIndexOf("\n");
  return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
}

export interface UploadResult {
  status: number;
  /** Bytes the sink says it received. */
  received: number;
  seconds: number;
}

/**
 * POSTs a file with Content-Length (curl -T streams it from disk), without `Expect: 100-continue`
 * so that every proxy sees the same request.
 */
export async function upload(url: string, file: string, timeoutSeconds = 120): Promise<UploadResult> {
  const command = ["curl", "-sS", "--max-time", String(timeoutSeconds), "-X", "POST", "-T", file, "-H", "Expect:", "-H", "Content-Type: application/octet-stream", "-w", "\n%{http_code} %{time_total}", url];
  const result = await runBounded("client", command, (timeoutSeconds + 5) * 1000);
  const lines = result.stdout.trim().split("\n");
  const [status, seconds] = (lines.at(-1) ?? "").split(" ").map(Number);
  return { status: status || 0, received: Number(lines.length > 1 ? lines[0] : Number.NaN), seconds };
}

/** The backends' total request count, from nginx's stub_status (to check what wrk says it completed). */
export async function backendRequests(): Promise<number> {
  const response = await curlGet(`http://${ipOf("backend")}:8009/`);
  const match = response?.body.match(/\n\s*(\d+)\s+(\d+)\s+(\d+)/);
  if (!match) throw new Error(`no stub_status from the backend: ${response?.body}`);
  return Number(match[3]);
}

/**
 * The idle-connection client (idle-clients.ts) in the client namespace: opens `count`
 * connections, each sends one request and reads its response, then they stay open. It answers
 * `status` on stdin with the number still open, and closes everything on `close`.
 */
export async function openIdleConnections(supervisor: Supervisor, target: { host: Host; port: number }, count: number, timeoutMs: number) {
  const started = supervisor.start(`idle-clients-${target.host}`, "client", ["node_modules/.bin/bun", "test/bench/idle-clients.ts", ipOf(target.host), String(target.port), String(count)], {
    stdin: true,
    stdoutPipe: true,
  });
  const child = started.process as Subprocess<"pipe", "pipe", number>;
  const reader = child.stdout.getReader();
  let buffered = "";
  const nextLine = async (ms: number): Promise<string> => {
    const deadline = Date.now() + ms;
    while (!buffered.includes("\n")) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the idle-connection client did not answer in time (see ${started.log})`);
      const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
      if (chunk === undefined) continue;
      if (chunk.done) throw new Error(`the idle-connection client exited (see ${started.log})`);
      buffered += new TextDecoder().decode(chunk.value);
    }
    const line = buffered.slice(0, buffered.indexOf("\n"));
    buffered = buffered.slice(buffered.indexOf("\n") + 1);
    return line;
  };
  try {
    // "ready OPEN FAILED"
    const [, open, failed] = (await nextLine(timeoutMs)).split(" ").map(Number);
    return {
      open,
      failed,
      async stillOpen(): Promise<number> {
        child.stdin.write("status\n");
        child.stdin.flush();
        return Number((await nextLine(5000)).split(" ")[1]);
      },
      async close(): Promise<void> {
        child.stdin.write("close\n");
        child.stdin.flush();
        await Promise.race([child.exited, Bun.sleep(5000)]);
        await supervisor.stop(started, 0);
      },
    };
  } catch (error) {
    await supervisor.stop(started, 0);
    throw error;
  }
}
