/**
 * The edge worker for real: `runtimes/edge/build.ts` bundles it, **workerd** (Cloudflare's
 * runtime, npm `workerd`) and `deno serve` run the bundle against node:http backends on loopback.
 * Both runners run every test; each spawns bun (the build), workerd and deno as processes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBackend } from "../support/backends.ts";
import { runTandem, runtime } from "../support/tandem.ts";

const root = new URL("../../", import.meta.url).pathname;
const bin = (name: string) => join(root, "node_modules/.bin", name);
const INSERT_KEY = "edge-test-key-0123456789";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function _run(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, NO_COLOR: "1", ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Builds the worker into a fresh directory; `config` undefined builds one that reads TANDEM_CONFIG. */
async function build(config?: unknown): Promise<{ dir: string; result: Run }> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-edge-"));
  const args = ["run", join(root, "runtimes/edge/build.ts"), "--out", dir];
  if (config !== undefined) {
    const path = join(dir, "tandem.json");
    writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config));
    args.push("--config", path);
  }
  return { dir, result: await _run(bin("bun"), args) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Server {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/** Spawns a server process and waits (bounded) until it answers HTTP on `port`. */
async function startServer(command: string, args: string[], port: number, env: Record<string, string> = {}): Promise<Server> {
  const child: ChildProcess = spawn(command, args, { cwd: root, env: { ...process.env, NO_COLOR: "1", ...env } });
  let output = "";
  let exited = false;
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  child.on("exit", () => (exited = true));
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const server = {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    async stop() {
      if (!exited) child.kill("SIGKILL");
      await closed;
    },
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !exited) {
    try {
      // A GET would reach the balancer and its members; any answer means the socket is served.
      await (await fetch(`${server.url}/__ready`, { signal: AbortSignal.timeout(2000) })).body?.cancel();
      return server;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await server.stop();
  throw new Error(`${command} did not answer on port ${port}:\n${output}`);
}

async function startWorkerd(dir: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  return await startServer(bin("workerd"), ["serve", join(dir, "workerd.capnp"), "--socket-addr", `http=127.0.0.1:${port}`], port, env);
}

async function startDenoServe(module: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const args = ["serve", "--allow-net", "--allow-env", "--host", "127.0.0.1", "--port", String(port), module];
  return await startServer(bin("deno"), args, port, { DENO_NO_UPDATE_CHECK: "1", ...env });
}

/** The farm: pool app (insert cookie, one member dead), pool java (jvmRoute) on /java, pool checked on /checked. */
async function startFarm() {
  const a = await startBackend("a");
  const b = await startBackend("b");
  const dead = await startBackend("dead");
  await dead.close();
  // Serves traffic but fails its health check: only active checks can take it out.
  const sick = await startBackend("sick", (request, response, backend) => {
    response.statusCode = request.url === "/health" ? 503 : 200;
    response.end(JSON.stringify({ backend: backend.name }));
  });
  // Accepts the request and never answers: the pool's timeouts must end it.
  const silent = await startBackend("silent", () => {});
  const backends = [a, b, sick, silent];
  const config = {
    listeners: [{ address: "127.0.0.1:0" }],
    routes: [{ path: "/java", pool: "java" }, { path: "/checked", pool: "checked" }, { path: "/slow", pool: "slow" }],
    defaultPool: "app",
    pools: {
      app: {
        sticky: { mode: "insert", key: INSERT_KEY },
        health: { passive: { errorLimit: 1, on: ["connect"] } },
        members: [{ name: "a", url: a.url }, { name: "b", url: b.url }, { name: "dead", url: dead.url }],
      },
      java: {
        sticky: { mode: "route" },
        members: [{ name: "tc1", url: a.url, route: "tc1" }, { name: "tc2", url: b.url, route: "tc2" }],
      },
      checked: {
        health: { check: { path: "/health", interval: "50ms", fall: 1, rise: 1, timeout: "1s" } },
        members: [{ name: "a", url: a.url }, { name: "sick", url: sick.url }],
      },
      slow: {
        timeouts: { connect: "200ms", response: "300ms" },
        members: [{ name: "silent", url: silent.url }],
      },
    },
  };
  return { config, close: () => Promise.all(backends.map((backend) => backend.close())) };
}

async function get(url: string, cookie?: string): Promise<{ status: number; backend: string; setCookie: string | undefined; headers: Record<string, string> }> {
  const response = await fetch(url, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: { backend?: string; headers?: Record<string, string> } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // A balancer error page: status and text tell.
  }
  return { status: response.status, backend: body.backend ?? text, setCookie: response.headers.get("set-cookie")?.split(";")[0], headers: body.headers ?? {} };
}

/** What every platform must show: balanced, sticky by insert and by route, a dead member skipped, lazy checks. */
async function assertBalances(server: Server): Promise<void> {
  const seen = new Map<string, number>();
  let cookie: string | undefined;
  for (let i = 0; i < 12; i++) {
    const answer = await get(`${server.url}/`);
    assert.equal(answer.status, 200, `request ${i}: ${answer.backend}\n${server.output()}`);
    assert.ok(answer.backend === "a" || answer.backend === "b", `the dead member is never answered from: ${answer.backend}`);
    assert.match(answer.setCookie ?? "", /^SERVERID=/);
    seen.set(answer.backend, (seen.get(answer.backend) ?? 0) + 1);
    cookie ??= answer.setCookie;
  }
  assert.equal(seen.size, 2, `new sessions go to both live members: ${JSON.stringify([...seen])}`);

  const first = await get(`${server.url}/`, cookie);
  for (let i = 0; i < 6; i++) {
    const answer = await get(`${server.url}/`, cookie);
    assert.equal(answer.backend, first.backend, "an insert-cookie session stays on its member");
  }
  assert.equal(first.headers["cookie"], undefined, "the insert cookie is stripped before forwarding");
  // fetch sets Host from the URL on both platforms: the client's host travels in X-Forwarded-Host.
  assert.equal(first.headers["x-forwarded-host"], new URL(server.url).host);
  assert.equal(first.headers["x-forwarded-proto"], "http");

  for (const [route, backend] of [["tc1", "a"], ["tc2", "b"]]) {
    for (let i = 0; i < 3; i++) {
      const answer = await get(`${server.url}/java/x`, `JSESSIONID=ABC123.${route}`);
      assert.equal(answer.backend, backend, `JSESSIONID=….${route} goes to ${backend}`);
    }
  }

  // Checks run only when traffic arrives; the sick member must be found out and left alone.
  const deadline = Date.now() + 20_000;
  let sickOut = false;
  while (!sickOut && Date.now() < deadline) {
    await get(`${server.url}/checked`);
    await new Promise((resolve) => setTimeout(resolve, 60));
    sickOut = /"member":"sick","up":false/.test(server.output());
  }
  assert.ok(sickOut, `a health line took "sick" down:\n${server.output()}`);
  for (let i = 0; i < 6; i++) assert.equal((await get(`${server.url}/checked`)).backend, "a");

  // The member never answers: only the pool's 300 ms response timeout can end the wait, before get's 10 s.
  const slow = await get(`${server.url}/slow`);
  assert.equal(slow.status, 504, slow.backend);
}

describe(`edge worker (tests run on ${runtime})`, () => {
  test("the build refuses an invalid config with every problem, and warns about what the edge ignores", async () => {
    const invalid = await build({ listeners: [{ address: "nope" }], pools: { app: { strategy: "fastest", members: [{ name: "a", url: "http://127.0.0.1:9" }] } } });
    assert.equal(invalid.result.code, 1, invalid.result.stderr);
    assert.match(invalid.result.stderr, /2 problem\(s\)/);
    assert.match(invalid.result.stderr, /listeners\[0\]\.address: an address "host:port".*\(got "nope"\)/);
    assert.match(invalid.result.stderr, /pools\.app\.strategy: one of .*\(got "fastest"\)/);

    const server = { listeners: [{ address: "127.0.0.1:0" }], admin: {}, pools: { app: { sticky: { mode: "learn" }, members: [{ name: "a", url: "http://127.0.0.1:9" }] } } };
    const built = await build(server);
    assert.equal(built.result.code, 0, built.result.stderr);
    assert.match(built.result.stderr, /warning: admin: no admin listener on the edge/);
    assert.match(built.result.stderr, /warning: pools\.app\.sticky\.mode: learn keeps sessions in one isolate's memory/);
  });

  test("check --edge names every setting the edge ignores and still accepts the config", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-edge-check-"));
    const path = join(dir, "tandem.yaml");
    writeFileSync(path, [
      "listeners: [{address: '127.0.0.1:0', tls: {certificates: [{cert: missing.pem, key: missing.key}]}}]",
      "admin: {}",
      "pools:",
      "  app: {sticky: {mode: learn}, members: [{name: a, url: 'http://127.0.0.1:9'}]}",
      "  api: {sticky: {mode: insert, key: 0123456789abcdef}, members: [{name: b, url: 'http://127.0.0.1:10'}]}",
    ].join("\n"));
    const result = await runTandem(["check", "--edge", "--config", path]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /OK for the edge/);
    const warnings = result.stderr.trim().split("\n");
    assert.deepEqual(warnings.map((line) => line.split(":")[1].trim()), ["listeners[0].tls", "admin", "pools.app.sticky.mode"]);
  });

  test("workerd runs the built worker: balanced, sticky (insert and route), dead member skipped, lazy checks", async () => {
    const farm = await startFarm();
    let server: Server | undefined;
    try {
      const { dir, result } = await build(farm.config);
      assert.equal(result.code, 0, result.stderr);
      server = await startWorkerd(dir);
      await assertBalances(server);
      assert.match(server.output(), /"event":"started","runtime":"edge"/);
    } finally {
      await server?.stop();
      await farm.close();
    }
  });

  test("workerd with an invalid TANDEM_CONFIG binding answers 503 with the problems and logs them", async () => {
    const { dir, result } = await build();
    assert.equal(result.code, 0, result.stderr);
    const server = await startWorkerd(dir, { TANDEM_CONFIG: "listeners: []\npools: {app: {members: [{name: a, url: 'ftp://x'}]}}\n" });
    try {
      const response = await fetch(`${server.url}/`);
      assert.equal(response.status, 503);
      const text = await response.text();
      assert.match(text, /the config is invalid, 2 problem\(s\)/);
      assert.match(text, /listeners: .*at least one listener/);
      assert.match(text, /pools\.app\.members\[0\]\.url: an origin URL.*\(got "ftp:\/\/x"\)/);
      assert.match(server.output(), /"event":"config-invalid"/);
    } finally {
      await server.stop();
    }
  });

  test("deno serve runs the same built module", async () => {
    const farm = await startFarm();
    let server: Server | undefined;
    try {
      const { dir, result } = await build(farm.config);
      assert.equal(result.code, 0, result.stderr);
      server = await startDenoServe(join(dir, "worker.js"));
      await assertBalances(server);
    } finally {
      await server?.stop();
      await farm.close();
    }
  });

  test("deno serve runs the source module with the config from TANDEM_CONFIG, and refuses a missing one", async () => {
    const backend = await startBackend("only");
    let server: Server | undefined;
    try {
      const config = { listeners: [{ address: "127.0.0.1:0" }], pools: { app: { members: [{ name: "only", url: backend.url }] } } };
      server = await startDenoServe("runtimes/edge/worker.ts", { TANDEM_CONFIG: JSON.stringify(config) });
      const answer = await get(`${server.url}/x`);
      assert.equal(answer.status, 200);
      assert.equal(answer.backend, "only");
      assert.equal(answer.headers["x-forwarded-for"], "127.0.0.1", "the client address comes from deno serve's info");
      await server.stop();

      server = await startDenoServe("runtimes/edge/worker.ts", { TANDEM_CONFIG: "" });
      const missing = await fetch(`${server.url}/`);
      assert.equal(missing.status, 503);
      assert.match(await missing.text(), /no config: bundle one .* or set the TANDEM_CONFIG binding or environment variable/);
    } finally {
      await server?.stop();
      await backend.close();
    }
  });
});
