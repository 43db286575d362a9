/**
 * Where a proxied request's CPU goes on Bun, layer by layer: `bun test/bench/hot-path.ts`.
 *
 * The race (run.ts) says how far tandem is from HAProxy; this says why. Each row is CPU time of
 * this process per request (utime and stime apart, from process.cpuUsage), with 64 requests in
 * flight against a small HTTP server in a child process on loopback:
 *
 *   raw socket     Bun.connect, a fixed request head written, the answer awaited: the floor
 *   stream port    the same through tandem's socket adapter (runtimes/bun/socket-stream.ts)
 *   tandem client  core/proxy/http1-client.ts: head encoding, parsing, pooling, timeouts
 *   Bun fetch      the runtime's own client (native code), for comparison
 *
 * and, without sockets, the balancer's own work per request (core/balancer/balancer.ts with a
 * member that answers at once: routing, stickiness, fields, metrics), on the compact message the
 * socket front end hands it and through the web front end (Request in, Response out), and on the
 * compact message with scenario 7's rules and rate limit (what the rules cost, without noise).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { createBalancer } from "../../core/balancer/balancer.ts";
import { createBalancerMetrics } from "../../core/balancer/metrics.ts";
import { systemClock } from "../../core/clock.ts";
import { formatProblem, validateConfig } from "../../core/config/load.ts";
import { Fields } from "../../core/http/message.ts";
import { Registry } from "../../core/metrics/registry.ts";
import { Http1Client } from "../../core/proxy/http1-client.ts";
import { connect } from "../../runtimes/bun/connect.ts";
import { BENCH_RULES } from "./proxies.ts";

const IN_FLIGHT = 64;
const REQUESTS = 64 * 800;
const WARM_UP = 64 * 200;
const BODY = "hello from 1\n";

/** The member: a Bun server in its own process, so its CPU is not counted here. */
async function _startMember(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, ["-e", `const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(${JSON.stringify(BODY)}) }); console.log(s.port);`], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (data) => resolve(Number(String(data).trim())));
    child.once("exit", (code) => reject(new Error(`member exited with ${code}`)));
  });
  return { port, stop: () => child.kill() };
}

interface Row {
  layer: string;
  user: number;
  system: number;
  rate: number;
}

/** Runs `request` IN_FLIGHT at a time, REQUESTS in all after a warm-up, and measures this process. */
async function _measure(layer: string, request: () => Promise<unknown>): Promise<Row> {
  const run = (count: number) => Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    for (let i = 0; i < count / IN_FLIGHT; i++) await request();
  }));
  await run(WARM_UP);
  const before = process.cpuUsage();
  const started = performance.now();
  await run(REQUESTS);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(before);
  return { layer, user: used.user / REQUESTS, system: used.system / REQUESTS, rate: REQUESTS / seconds };
}

/** One request at a time per connection over raw Bun sockets, the answer recognised by its last byte. */
async function _rawSockets(port: number): Promise<() => Promise<void>> {
  const head = new TextEncoder().encode(`GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
  const idle: { write(): Promise<void> }[] = [];
  for (let i = 0; i < IN_FLIGHT; i++) {
    let answered = () => {};
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: { data: (_socket, data) => void (data[data.length - 1] === 10 && answered()) },
    });
    socket.setNoDelay(true);
    idle.push({ write: () => new Promise<void>((resolve) => (answered = resolve, socket.write(head))) });
  }
  return async () => {
    const conn = idle.pop()!;
    await conn.write();
    idle.push(conn);
  };
}

async function _streamPort(port: number): Promise<() => Promise<void>> {
  const head = new TextEncoder().encode(`GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
  const idle = await Promise.all(Array.from({ length: IN_FLIGHT }, () => connect({ hostname: "127.0.0.1", port })));
  return async () => {
    const conn = idle.pop()!;
    await conn.write(head);
    await conn.read();
    idle.push(conn);
  };
}

function _tandemClient(port: number): () => Promise<void> {
  const client = new Http1Client({ connect, clock: systemClock });
  const timeouts = { connect: 5_000, response: 30_000, idle: 30_000 };
  return async () => {
    const answer = await client.request({ hostname: "127.0.0.1", port }, { method: "GET", target: "/", fields: new Fields(["host", `127.0.0.1:${port}`]), body: null, framing: null }, timeouts);
    if (answer.body !== null && !(answer.body instanceof Uint8Array)) answer.body.cancel();
  };
}

function _bunFetch(port: number): () => Promise<void> {
  return async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`, { decompress: false });
    await response.arrayBuffer();
  };
}

/** The balancer with the bench's pool (round robin, insert cookie, forwarding) and a member answering at once. */
function _balancer(frontEnd: "socket" | "web", rules = false): () => Promise<void> {
  const result = validateConfig({
    listeners: [{ address: "127.0.0.1:0", ...(rules ? { rules: BENCH_RULES.rules } : {}) }],
    ...(rules ? { rateLimits: BENCH_RULES.rateLimits } : {}),
    accessLog: false,
    pools: { app: { sticky: { mode: "insert" }, members: [{ name: "b1", url: "http://127.0.0.1:8001" }, { name: "b2", url: "http://127.0.0.1:8002" }] } },
  });
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join("\n"));
  const registry = new Registry();
  const body = new TextEncoder().encode(BODY);
  const balancer = createBalancer(result.config, {
    clock: systemClock,
    log: () => {},
    metrics: createBalancerMetrics(registry, () => balancer.pools),
    upstream: () => Promise.resolve({ status: 200, fields: new Fields(["content-type", "text/plain", "content-length", "13"]), body }),
  });
  const conn = { remoteAddress: "127.0.0.1", tls: false };
  const signal = new AbortController().signal;
  if (frontEnd === "socket") {
    return async () => {
      const fields = new Fields(["host", "127.0.0.1:8080", "user-agent", "wrk"]);
      await balancer.handle({ method: "GET", target: "/", host: "127.0.0.1:8080", fields, body: null, framing: null, webSocket: false, signal }, conn);
    };
  }
  return async () => {
    const request = new Request("http://127.0.0.1:8080/", { headers: { host: "127.0.0.1:8080", "user-agent": "wrk" } });
    const response = await balancer.fetch(request, conn);
    await response!.arrayBuffer();
  };
}

const member = await _startMember();
try {
  const rows = [
    await _measure("raw socket (Bun.connect)", await _rawSockets(member.port)),
    await _measure("stream port (socket-stream.ts)", await _streamPort(member.port)),
    await _measure("tandem client (http1-client.ts)", _tandemClient(member.port)),
    await _measure("Bun fetch()", _bunFetch(member.port)),
    await _measure("balancer, no sockets, compact message (balancer.handle)", _balancer("socket")),
    await _measure("balancer, no sockets, web front end (balancer.fetch)", _balancer("web")),
    await _measure("balancer, no sockets, compact message, 6 rules + 1 rate limit", _balancer("socket", true)),
  ];
  console.log(`Bun ${Bun.version}, ${IN_FLIGHT} in flight, ${REQUESTS} requests per row, CPU of this process per request\n`);
  console.log("| layer | user µs | system µs | requests/s |\n|---|---:|---:|---:|");
  for (const row of rows) console.log(`| ${row.layer} | ${row.user.toFixed(1)} | ${row.system.toFixed(1)} | ${Math.round(row.rate)} |`);
} finally {
  member.stop();
}
