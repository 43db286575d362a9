/**
 * The servers under test and their configs, written so that every proxy does the same work:
 * round robin over the same two members, a sticky cookie inserted into every response (wrk sends
 * no cookies back, so every response gets one), active health checks every 2 s, X-Forwarded-For,
 * kept-alive connections to the members, one worker/thread, no logging, and `/upload` routed to
 * the sink. Where a proxy cannot do one of these, `NOTES` says so and the tables carry it.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { curlGet } from "./load.ts";
import { type Host, ipOf, sh } from "./netns.ts";
import type { Started, Supervisor } from "./procs.ts";

export const HTTP_PORT = 8080;
export const TLS_PORT = 8443;
export const MEMBER_PORTS = [8001, 8002] as const;
export const SINK_PORT = 9000;
/** nginx stub_status on the backend, to count the requests the members really served. */
export const STATUS_PORT = 8009;

export const BUN = "node_modules/.bin/bun";
export const DENO = "node_modules/.bin/deno";

export type ProxyId = "haproxy" | "nginx" | "bun" | "deno" | "node" | "bun-relay" | "deno-relay" | "bun-web" | "deno-web";
export const PROXY_IDS: readonly ProxyId[] = ["haproxy", "nginx", "bun", "deno", "node", "bun-relay", "deno-relay", "bun-web", "deno-web"];
/** The raw relays (raw-relay.ts): the floor a JavaScript proxy can reach on each runtime. Plain HTTP, one thread. */
export const RELAY_IDS: readonly ProxyId[] = ["bun-relay", "deno-relay"];
/** tandem's balancer behind Bun.serve / Deno.serve (web-front-end.ts): the web front end. Plain HTTP, one thread. */
export const WEB_IDS: readonly ProxyId[] = ["bun-web", "deno-web"];

/** What each proxy does differently from the common setup; printed under the tables. */
export const NOTES: Record<string, string> = {
  nginx:
    "nginx (open source) has neither active health checks nor cookie insertion: passive checks (`max_fails=3 fail_timeout=10s`) and no sticky cookie; `proxy_buffers 16 8k` so that a 64 KiB response is buffered in memory, and `proxy_request_buffering off` so that uploads stream.",
  node:
    "@fastify/reply-from has no stickiness and no health checks: a plain alternation between the two members, X-Forwarded-For added in `rewriteRequestHeaders`.",
  tandem: "tandem also sets X-Forwarded-Proto and X-Forwarded-Host (its forwarding defaults).",
  relay:
    "The raw relays (test/bench/raw-relay.ts, the same script on each runtime) are not proxies one would deploy but the floor a JavaScript proxy can reach: Bun.listen/Deno.listen sockets, the head found by its CRLFCRLF and searched only for Content-Length, Transfer-Encoding and Connection, round robin over the two members (`/upload` to the sink), an X-Forwarded-For line added, kept-alive member connections, bodies copied as they are (framed by Content-Length or chunked); no health checks, no sticky cookie, no timeouts, no TLS, one thread.",
  web:
    "The web front-end rows (test/bench/web-front-end.ts) run the same balancer with the same config file as the tandem rows (same member and health-check clients, same log records, metrics), but behind the runtime's own HTTP server: Bun.serve or Deno.serve parses the request and hands a web `Request` to `balancer.fetch`, which converts it to the balancer's message and its answer back to a `Response` (core/http/web.ts). That is the path of the edge build, not a configuration operators run: `tandem serve` answers HTTP/1.1 listeners on its own socket-level front end (the tandem rows), and h2 listeners through the same conversions behind the runtime's HTTP/2 server (scenario 8). Plain HTTP, one thread, first listener only. On Bun (1.4.5), a Response that resolves after the handler's first turn, as every proxied answer does (it waits for the member), is sent in pieces of about 4 KiB, some 15 send calls per 64 KiB body where an immediate one goes out in one; Bun.serve alone then takes 57 instead of 22 µs of CPU per 64 KiB response, which weighs on the Bun web row in the 64 KiB table.",
};

/** The shared state every server needs: a scratch directory, the supervisor, the certificate. */
export interface Workspace {
  dir: string;
  supervisor: Supervisor;
  versions: Record<string, string>;
}

/** A running server that load is sent to. `roots` are the PIDs whose families are measured. */
export interface Target {
  id: string;
  /** Which proxy it is (the id also says TLS or workers); undefined for direct and stunnel. */
  proxy?: ProxyId;
  label: string;
  host: Host;
  port: number;
  url: string;
  roots: number[];
  stop(): Promise<void>;
}

export function targetUrl(host: Host, port: number, path = "/", tls = false): string {
  return `${tls ? "https" : "http"}://${ipOf(host)}:${port}${path}`;
}

/**
 * Polls a URL from the client namespace until it answers 200, and for a proxy until both members
 * have answered through it (so health checks have let both in and pools are warm).
 */
async function _waitReady(url: string, started: Started[], bothMembers: boolean, timeoutMs = 20_000): Promise<void> {
  const seen = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const process of started) {
      if (process.process.exitCode !== null) throw new Error(`${process.name} exited with ${process.process.exitCode}; see ${process.log}`);
    }
    const response = await curlGet(url, 1);
    if (response?.status === 200) {
      seen.add(response.body.trim());
      if (!bothMembers || seen.size >= 2) return;
      continue;
    }
    await Bun.sleep(100);
  }
  throw new Error(`${url} was not ready after ${timeoutMs} ms (members seen: ${[...seen].join(", ") || "none"}); see ${started.map((s) => s.log).join(", ")}`);
}

function _target(ws: Workspace, proxy: ProxyId, id: string, label: string, host: Host, port: number, tls: boolean, started: Started[]): Target {
  return {
    id,
    proxy,
    label,
    host,
    port,
    url: targetUrl(host, port, "/", tls),
    roots: started.map((process) => process.pid),
    async stop() {
      for (const process of started) await ws.supervisor.stop(process);
    },
  };
}

/** A self-signed P-256 certificate for bench.test, and HAProxy's combined PEM. */
export function writeCertificate(dir: string): void {
  sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]);
  writeFileSync(join(dir, "combined.pem"), readFileSync(join(dir, "cert.pem"), "utf8") + readFileSync(join(dir, "key.pem"), "utf8"));
}

/** Directives every nginx here needs to run from a scratch directory. */
function _nginxPreamble(ws: Workspace, name: string): string {
  const dir = join(ws.dir, name);
  sh(["mkdir", "-p", dir]);
  return `# user root: the scratch directory is private to root, and the workers must read it.
user root;
worker_processes 1;
worker_rlimit_nofile 19000;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }`;
}

function _nginxHttpPreamble(ws: Workspace, name: string): string {
  const dir = join(ws.dir, name);
  return `access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  # wrk's connections must not be closed every 1000 requests (nginx's default), nor idle ones after 75 s.
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;`;
}

/**
 * The members: one nginx process, one worker, two `server` blocks answering 13 bytes on `/` and
 * 64 KiB on `/64k`, plus stub_status; and the Bun sink for uploads.
 */
export async function startBackends(ws: Workspace): Promise<Started[]> {
  const ip = ipOf("backend");
  writeFileSync(join(ws.dir, "64k.bin"), new Uint8Array(64 * 1024).fill(0x61));
  const member = (n: number, port: number) => `server {
    listen ${ip}:${port} backlog=8192;
    location / { return 200 "hello from ${n}\\n"; }
    location = /64k { alias ${ws.dir}/64k.bin; }
  }`;
  const conf = `${_nginxPreamble(ws, "backend")}
http {
  ${_nginxHttpPreamble(ws, "backend")}
  ${member(1, MEMBER_PORTS[0])}
  ${member(2, MEMBER_PORTS[1])}
  server { listen ${ip}:${STATUS_PORT}; location / { stub_status; } }
}
`;
  writeFileSync(join(ws.dir, "backend.nginx.conf"), conf);
  const nginx = ws.supervisor.start("nginx-backend", "backend", ["nginx", "-c", join(ws.dir, "backend.nginx.conf"), "-p", join(ws.dir, "backend")]);
  const sink = ws.supervisor.start("sink", "backend", [BUN, "test/bench/sink.ts", ip, String(SINK_PORT)]);
  await _waitReady(targetUrl("backend", MEMBER_PORTS[0]), [nginx], false);
  await _waitReady(targetUrl("backend", MEMBER_PORTS[1]), [nginx], false);
  await _waitReady(targetUrl("backend", SINK_PORT), [sink], false);
  return [nginx, sink];
}

/** Straight at the first member: the floor every proxy adds to. */
export function directTarget(): Target {
  return { id: "direct", label: "direct to nginx (no proxy)", host: "backend", port: MEMBER_PORTS[0], url: targetUrl("backend", MEMBER_PORTS[0]), roots: [], stop: async () => {} };
}

export interface ProxyOptions {
  tls?: boolean;
  /** tandem `workers` (scenario 6); HAProxy `nbthread`. */
  workers?: number;
  /** The plain listener's port, HTTP_PORT unless two instances share a namespace. */
  port?: number;
  /** tandem: a handful of traffic rules and one rate limit on the listener (scenario 7). */
  rules?: boolean;
  /** The TLS listener offers h2 by ALPN (scenario 8); with `tls` only. */
  h2?: boolean;
}

/**
 * What scenario 7 adds: rules a site typically has (refuse paths and methods, set and strip
 * headers) and one per-client rate limit whose budget wrk never reaches, so every request is
 * matched, counted and admitted.
 */
export const BENCH_RULES = {
  rules: [
    { when: { path: { prefix: "/admin" } }, deny: { status: 403 } },
    { when: { method: ["TRACE", "TRACK"] }, deny: { status: 405 } },
    { when: { header: { name: "X-Blocked", present: true } }, deny: {} },
    { requestHeaders: { set: { "X-Forwarded-Proto": "http" } } },
    { responseHeaders: { del: ["Server"], set: { "X-Frame-Options": "DENY" } } },
    { rateLimit: "per-client" },
  ],
  rateLimits: { "per-client": { requests: 1_000_000_000, per: "1s" } },
};

const member = (port: number) => `${ipOf("backend")}:${port}`;

function _haproxyConfig(ws: Workspace, options: ProxyOptions): string {
  const ip = ipOf("haproxy");
  const tlsBind = options.tls ? `\n  bind ${ip}:${TLS_PORT} ssl crt ${ws.dir}/combined.pem alpn ${options.h2 ? "h2,http/1.1" : "http/1.1"}` : "";
  // No `log` lines: no logging. Timeouts long enough for the idle-connection scenario. maxconn
  // 9000 needs about 18 000 descriptors, within a 20 000 hard limit (HAProxy refuses to start
  // when it cannot raise its limit to what maxconn needs).
  return `global
  nbthread ${options.workers ?? 1}
  maxconn 9000
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  maxconn 9000
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  option forwardfor
frontend web
  bind ${ip}:${options.port ?? HTTP_PORT}${tlsBind}
  use_backend sink if { path_beg /upload }
  default_backend members
backend members
  balance roundrobin
  cookie SERVERID insert indirect nocache
  option httpchk GET /
  server b1 ${member(MEMBER_PORTS[0])} check inter 2s cookie b1
  server b2 ${member(MEMBER_PORTS[1])} check inter 2s cookie b2
backend sink
  server sink ${member(SINK_PORT)}
`;
}

function _nginxProxyConfig(ws: Workspace): string {
  return `${_nginxPreamble(ws, "nginx-proxy")}
http {
  ${_nginxHttpPreamble(ws, "nginx-proxy")}
  upstream members {
    server ${member(MEMBER_PORTS[0])} max_fails=3 fail_timeout=10s;
    server ${member(MEMBER_PORTS[1])} max_fails=3 fail_timeout=10s;
    keepalive 128;
  }
  upstream sink {
    server ${member(SINK_PORT)};
    keepalive 8;
  }
  server {
    listen ${ipOf("nginx")}:${HTTP_PORT} backlog=8192;
    # Kept-alive member connections, as the other proxies have.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_buffers 16 8k;
    location / { proxy_pass http://members; }
    location /upload { client_max_body_size 0; proxy_request_buffering off; proxy_pass http://sink; }
  }
}
`;
}

/** The tandem config of the issue: one listener, no access log, round robin, insert, checks every 2 s. */
export function tandemConfig(host: Host, options: ProxyOptions): object {
  const listener = options.tls
    ? { address: `${ipOf(host)}:${TLS_PORT}`, tls: { certificates: [{ cert: "cert.pem", key: "key.pem" }] }, ...(options.h2 ? { protocols: ["http/1.1", "h2"] } : {}) }
    : { address: `${ipOf(host)}:${options.port ?? HTTP_PORT}` };
  return {
    listeners: [options.rules ? { ...listener, rules: BENCH_RULES.rules } : listener],
    ...(options.rules ? { rateLimits: BENCH_RULES.rateLimits } : {}),
    accessLog: false,
    workers: options.workers ?? 1,
    routes: [{ path: "/upload", pool: "sink" }],
    defaultPool: "members",
    pools: {
      members: {
        strategy: "roundrobin",
        sticky: { mode: "insert" },
        health: { check: { path: "/", interval: "2s" } },
        members: [
          { name: "b1", url: `http://${member(MEMBER_PORTS[0])}` },
          { name: "b2", url: `http://${member(MEMBER_PORTS[1])}` },
        ],
      },
      sink: { members: [{ name: "sink", url: `http://${member(SINK_PORT)}` }] },
    },
  };
}

export function tandemCommand(runtime: "bun" | "deno", config: string): string[] {
  return runtime === "bun"
    ? [BUN, "run", "runtimes/bun/main.ts", "serve", "--config", config]
    : [DENO, "run", "--unstable-net", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys", "--allow-run", "runtimes/deno/main.ts", "serve", "--config", config];
}

/** The web front-end entry (web-front-end.ts) on one runtime, given the tandem config file. */
export function webFrontEndCommand(runtime: "bun" | "deno", config: string): string[] {
  return runtime === "bun"
    ? [BUN, "run", "test/bench/web-front-end.ts", "--config", config]
    : [DENO, "run", "-A", "test/bench/web-front-end.ts", "--config", config];
}

export function proxyLabel(ws: Workspace, id: ProxyId | "stunnel", options: ProxyOptions = {}): string {
  const v = ws.versions;
  const workers = (options.workers === undefined ? "" : `, ${id === "haproxy" ? "nbthread" : "workers"} ${options.workers}`) +
    (options.rules ? ", 6 rules + 1 rate limit" : "");
  switch (id) {
    case "haproxy":
      return `HAProxy ${v.haproxy}${options.tls ? " ssl" : ""}${options.h2 ? " h2" : ""}${workers}`;
    case "nginx":
      return `nginx ${v.nginx} ¹`;
    case "bun":
      return `tandem on Bun ${v.bun}${options.h2 ? " h2 (Bun.serve)" : ""}${workers}`;
    case "deno":
      return `tandem on Deno ${v.deno}${options.h2 ? " h2 (Deno's HTTP server)" : ""}${workers}`;
    case "node":
      return `@fastify/reply-from ${v.replyFrom} on Node ${v.node} ²`;
    case "bun-relay":
      return `raw relay on Bun ${v.bun} (floor) ³`;
    case "deno-relay":
      return `raw relay on Deno ${v.deno} (floor) ³`;
    case "bun-web":
      return `tandem web front end on Bun ${v.bun} (Bun.serve + balancer.fetch) ⁴`;
    case "deno-web":
      return `tandem web front end on Deno ${v.deno} (Deno.serve + balancer.fetch) ⁴`;
    case "stunnel":
      return `stunnel ${v.stunnel} → HAProxy`;
  }
}

/** Starts one proxy in its namespace and waits until it serves both members. */
export async function startProxy(ws: Workspace, id: ProxyId, options: ProxyOptions = {}): Promise<Target> {
  const suffix = `${options.tls ? "-tls" : ""}${options.h2 ? "-h2" : ""}${options.workers === undefined ? "" : `-w${options.workers}`}${options.rules ? "-rules" : ""}`;
  const name = `${id}${suffix}`;
  const port = options.tls ? TLS_PORT : (options.port ?? HTTP_PORT);
  let started: Started[];
  switch (id) {
    case "haproxy": {
      const file = join(ws.dir, `${name}.cfg`);
      writeFileSync(file, _haproxyConfig(ws, options));
      started = [ws.supervisor.start(name, id, ["haproxy", "-f", file, "-db"])];
      break;
    }
    case "nginx": {
      const file = join(ws.dir, `${name}.nginx.conf`);
      writeFileSync(file, _nginxProxyConfig(ws));
      started = [ws.supervisor.start(name, id, ["nginx", "-c", file, "-p", join(ws.dir, "nginx-proxy")])];
      break;
    }
    case "bun":
    case "deno": {
      // JSON is YAML; relative certificate paths resolve from the config's directory (ws.dir).
      const file = join(ws.dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(tandemConfig(id, options), null, 2));
      started = [ws.supervisor.start(name, id, tandemCommand(id, file), { env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" } })];
      break;
    }
    case "node": {
      started = [
        ws.supervisor.start(name, id, ["node", "test/bench/node-peer/proxy.mjs"], {
          env: {
            LISTEN: `${ipOf(id)}:${HTTP_PORT}`,
            MEMBERS: MEMBER_PORTS.map((p) => `http://${member(p)}`).join(","),
            SINK: `http://${member(SINK_PORT)}`,
            NODE_ENV: "production",
          },
        }),
      ];
      break;
    }
    case "bun-relay":
    case "deno-relay": {
      if (options.tls || options.workers !== undefined) throw new Error(`${id} has neither TLS nor workers`);
      const relayArgs = ["test/bench/raw-relay.ts", `${ipOf(id)}:${port}`, MEMBER_PORTS.map(member).join(","), member(SINK_PORT)];
      const command = id === "bun-relay" ? [BUN, "run", ...relayArgs] : [DENO, "run", "-A", ...relayArgs];
      started = [ws.supervisor.start(name, id, command, { env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" } })];
      break;
    }
    case "bun-web":
    case "deno-web": {
      if (options.tls || options.workers !== undefined) throw new Error(`${id} serves plain HTTP on one thread: neither TLS nor workers`);
      // The tandem rows' config, written and passed the same way (`--config FILE`).
      const file = join(ws.dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(tandemConfig(id, options), null, 2));
      started = [ws.supervisor.start(name, id, webFrontEndCommand(id === "bun-web" ? "bun" : "deno", file), { env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" } })];
      break;
    }
  }
  const target = _target(ws, id, name, proxyLabel(ws, id, options), id, port, options.tls ?? false, started);
  try {
    await _waitReady(target.url, started, true);
  } catch (error) {
    await target.stop();
    throw error;
  }
  return target;
}

/** stunnel in its own namespace, terminating TLS in front of HAProxy's plain port (the seeds' setup). */
export async function startStunnel(ws: Workspace, haproxy: Target): Promise<Target> {
  const file = join(ws.dir, "stunnel.conf");
  writeFileSync(
    file,
    `foreground = yes
pid =
[https]
accept = ${ipOf("stunnel")}:${TLS_PORT}
connect = ${ipOf("haproxy")}:${HTTP_PORT}
cert = ${ws.dir}/cert.pem
key = ${ws.dir}/key.pem
sslVersionMin = TLSv1.2
# errors only: the other proxies do not log per connection either
debug = 3
`,
  );
  const stunnel = ws.supervisor.start("stunnel", "stunnel", ["stunnel", file]);
  const target: Target = {
    id: "stunnel",
    label: proxyLabel(ws, "stunnel"),
    host: "stunnel",
    port: TLS_PORT,
    url: targetUrl("stunnel", TLS_PORT, "/", true),
    // Both processes do the work of this path, so both are measured.
    roots: [stunnel.pid, ...haproxy.roots],
    stop: () => ws.supervisor.stop(stunnel),
  };
  try {
    await _waitReady(target.url, [stunnel], true);
  } catch (error) {
    await target.stop();
    throw error;
  }
  return target;
}
