/**
 * `workers: N` for real: N threads of one process share the port, reload together (SIGHUP, the
 * admin API, certificate files), share state (sessions, health, drains), count together in the
 * admin plane and drain together on SIGTERM. Each check spreads its requests over new connections
 * so that the kernel hands some to every worker, and tells the workers apart by the `worker` field
 * of the access line of each request (its path is its own).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { request, type ServerResponse } from "node:http";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call } from "../support/admin-call.ts";
import { type Backend, farmConfig, startBackend } from "../support/backends.ts";
import { type Leaf, makeCertificates } from "../support/certs.ts";
import type { Line } from "../support/json-lines.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { parseRawResponse, type RawResponse } from "../support/raw-http.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";
import { tlsGetSerial } from "../support/tls-get.ts";

const LIMIT = { timeout: 60_000 };
const WORKERS = new Set([0, 1]);

/** One GET on a connection of its own, so that the kernel picks a worker for each. */
function getOnNewConnection(port: number, headers: Record<string, string> = {}, path = "/"): Promise<{ status: number; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, headers: { connection: "close", ...headers } }, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode ?? 0, setCookie: response.headers["set-cookie"] ?? [] }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Makes each request's path its own, so that its access line can be found. */
let requestCount = 0;
const nextPath = (what: string) => `/${what}-${++requestCount}`;

/** The access lines of the requests to `paths`, once all of them are logged (they may trail the answers). */
async function accessLinesOf(tandem: TandemProcess, paths: Set<string>): Promise<Line[]> {
  const lines = () => tandem.lines.filter((line) => typeof line.status === "number" && paths.has(String(line.path)));
  await tandem.waitForLine(() => lines().length >= paths.size);
  return lines();
}

/** `count` GETs answered 200, each on a new connection with a path of its own: their access lines. */
async function round(tandem: TandemProcess, port: number, count = 20, headers: Record<string, string> = {}): Promise<Line[]> {
  const paths = new Set<string>();
  for (let i = 0; i < count; i++) {
    const path = nextPath("round");
    paths.add(path);
    assert.equal((await getOnNewConnection(port, headers, path)).status, 200);
  }
  return accessLinesOf(tandem, paths);
}

const workersOf = (lines: Line[]) => new Set(lines.map((line) => line.worker));
const membersOf = (lines: Line[]) => new Set(lines.map((line) => line.member));

/**
 * Rounds until, in one of them, every worker sent to `members` and only to them: what worker 0
 * decided (the admin API, its health checks) reaches the others as a message, with no line of
 * theirs to wait for.
 */
async function roundUntil(tandem: TandemProcess, port: number, members: string[], what: string, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = await round(tandem, port, 20, headers);
    const byWorker = [...WORKERS].map((worker) => membersOf(lines.filter((line) => line.worker === worker)));
    if (byWorker.every((sent) => _same(sent, new Set(members)))) return;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(lines.map((line) => [line.worker, line.member]))} after 10 s`);
  }
}

const _same = (a: Set<unknown>, b: Set<unknown>) => a.size === b.size && [...a].every((item) => b.has(item));

/** Waits until every worker has logged a line matching `match` since `from`; returns them, worker 0's first. */
async function fromEveryWorker(tandem: TandemProcess, from: number, match: (line: Line) => boolean, timeoutMs?: number): Promise<Line[]> {
  const byWorker = () => [...WORKERS].map((worker) => tandem.lines.slice(from).find((line) => line.worker === worker && match(line)));
  await tandem.waitForLine(() => byWorker().every((line) => line !== undefined), timeoutMs);
  return byWorker() as Line[];
}

/** Starts tandem with `config` (`workers: 2`, fixed ports) and waits until both workers listen, and the admin plane if any. */
async function startWorkers(config: { workers?: unknown; listeners: { address: string }[]; admin?: unknown }): Promise<TandemProcess> {
  assert.equal(config.workers, WORKERS.size);
  const tandem = await startTandem(config);
  try {
    for (const { address } of config.listeners) await fromEveryWorker(tandem, 0, (line) => line.event === "listening" && line.address === address);
    if (config.admin) await tandem.waitForLine((line) => line.event === "admin-listening");
  } catch (error) {
    await tandem.stop();
    throw error;
  }
  return tandem;
}

/**
 * `count` new TLS connections with SNI a.test, each verified against `ca` and asked one GET: the
 * serial of the certificate each was shown, with the worker that answered it.
 */
async function tlsRound(tandem: TandemProcess, port: number, ca: string, count = 16): Promise<{ serial: string; worker: unknown }[]> {
  const caPem = readFileSync(ca);
  const serials = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const path = nextPath("tls");
    serials.set(path, await tlsGetSerial(port, { ca: caPem, servername: "a.test", path }));
  }
  const lines = await accessLinesOf(tandem, new Set(serials.keys()));
  return lines.map((line) => ({ serial: serials.get(String(line.path))!, worker: line.worker }));
}

interface KeptConnection {
  socket: net.Socket;
  closed: boolean;
  /** Sends one GET and resolves with its whole answer (20 s at most); one at a time. */
  get(path: string): Promise<RawResponse>;
}

/** A keep-alive connection to 127.0.0.1:`port`. */
function keptConnection(port: number): Promise<KeptConnection> {
  return new Promise((resolveConnection, rejectConnection) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = Buffer.alloc(0);
    let changed = () => {};
    const connection: KeptConnection = {
      socket,
      closed: false,
      get(path) {
        received = Buffer.alloc(0);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${path}: no answer within 20 s`)), 20_000);
          changed = () => {
            try {
              const response = parseRawResponse(received);
              if (response) resolve(response);
              else if (connection.closed) reject(new Error(`${path}: closed before a whole answer`));
              else return;
            } catch (error) {
              reject(error);
            }
            clearTimeout(timer);
          };
        });
      },
    };
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      changed();
    });
    socket.on("close", () => {
      connection.closed = true;
      changed();
    });
    socket.on("error", rejectConnection);
    socket.once("connect", () => resolveConnection(connection));
  });
}

/** A new connection to 127.0.0.1:`port` is refused (no worker listens there any more). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

describe(`workers on ${runtime}`, () => {
  test("two workers share the port and both serve; SIGHUP reloads both; SIGTERM drains both and exits 0", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("a"), await startBackend("b")];
    const port = await freePort();
    const config = farmConfig(backends, {}, { workers: 2, listeners: [{ address: `127.0.0.1:${port}` }] });
    const tandem = await startWorkers(config);
    try {
      const first = await round(tandem, port, 60);
      assert.deepEqual(workersOf(first), WORKERS, "60 connections spread over both workers by SO_REUSEPORT");
      assert.deepEqual(membersOf(first), new Set(["a", "b"]), "the control: before the reload both members serve");

      let mark = tandem.lines.length;
      writeFileSync(tandem.configPath!, JSON.stringify({ ...config, pools: { app: { members: [{ name: "b", url: backends[1].url }] } } }));
      tandem.signal("SIGHUP");
      await fromEveryWorker(tandem, mark, (line) => line.event === "reloaded");
      let after = await round(tandem, port);
      assert.deepEqual(workersOf(after), WORKERS);
      assert.deepEqual(membersOf(after), new Set(["b"]), "every worker uses the reloaded pool");

      // Without `workers` a port-0 listener passes the file's own check; the running workers refuse it.
      mark = tandem.lines.length;
      writeFileSync(tandem.configPath!, JSON.stringify(farmConfig(backends, {}, { listeners: [...config.listeners, { address: "127.0.0.1:0" }] })));
      tandem.signal("SIGHUP");
      const refusals = await fromEveryWorker(tandem, mark, (line) => line.event === "reload-failed");
      for (const refusal of refusals) assert.match(String(refusal.problems), /^listeners\[1\]\.address: a fixed port: 2 workers are running/);
      after = await round(tandem, port);
      assert.deepEqual(workersOf(after), WORKERS);
      assert.deepEqual(membersOf(after), new Set(["b"]), "every worker keeps the running config");
    } finally {
      assert.equal(await tandem.stop(), 0);
      await Promise.all(backends.map((backend) => backend.close()));
    }
    assert.equal(tandem.lines.filter((line) => line.event === "stopped").length, 2);
    assert.equal(tandem.lines.at(-1)?.event, "workers-stopped");
  });

  test("a config a worker cannot start with is refused once by the main thread, not in a restart loop", LIMIT, async () => {
    const port = await freePort();
    const { runTandem, writeConfig } = await import("../support/tandem.ts");
    const path = writeConfig({
      workers: 2,
      listeners: [{ address: `127.0.0.1:${port}`, tls: { certificates: [{ cert: "missing.pem", key: "missing.key" }] } }],
      pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } },
    });
    const result = await runTandem(["serve", "--config", path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /missing\.pem/);
    assert.doesNotMatch(result.stdout, /workers-started/);
  });

  test("a port in use or an admin address that cannot be bound stops the whole process: exit 1 within 5 s, one fatal line", LIMIT, async () => {
    const { runTandem, writeConfig } = await import("../support/tandem.ts");
    const { createServer } = await import("node:net");
    // Held without SO_REUSEPORT: the workers' listeners cannot share it.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const busy = (holder.address() as { port: number }).port;
    try {
      const members = { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } };
      const free = await freePort();
      for (
        const [what, config, named] of [
          ["a listener port in use", { workers: 2, listeners: [{ address: `127.0.0.1:${busy}` }], pools: members }, `127.0.0.1:${busy}`],
          ["the admin address in use", { workers: 2, listeners: [{ address: `127.0.0.1:${free}` }], admin: { address: `127.0.0.1:${busy}` }, pools: members }, "admin.address"],
        ] as const
      ) {
        const started = Date.now();
        const result = await runTandem(["serve", "--config", writeConfig(config)]);
        const lines = result.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
        assert.equal(result.code, 1, what);
        assert.ok(Date.now() - started < 5_000, `${what}: exited after ${Date.now() - started} ms`);
        const fatal = lines.filter((line) => line.event === "fatal");
        assert.equal(fatal.length, 1, `${what}: one fatal line: ${result.stdout}`);
        assert.ok(String(fatal[0].reason).includes(named), `${what}: ${fatal[0].reason}`);
        assert.equal(lines.filter((line) => line.event === "worker-exited").length, 0, `${what}: no restart`);
      }
    } finally {
      holder.close();
    }
  });

  test("workers share state: a session learned by one is routed the same by the other; health and drains (disabled, stopped) on worker 0 reach every worker", LIMIT, async () => {
    let bHealthy = true;
    let issued = 0;
    const handler = (name: string) => (req: import("node:http").IncomingMessage, res: ServerResponse) => {
      if (req.url === "/health") {
        res.statusCode = name === "b" && !bHealthy ? 503 : 200;
        return res.end();
      }
      if (!req.headers.cookie) res.setHeader("set-cookie", `JSESSIONID=${name}-${++issued}; Path=/`);
      res.end(name);
    };
    const backends: Backend[] = [await startBackend("a", handler("a")), await startBackend("b", handler("b"))];
    const [port, adminPort] = [await freePort(), await freePort()];
    const tandem = await startWorkers(farmConfig(backends, {
      sticky: { mode: "learn" },
      // A check times out only far beyond what a loaded machine takes: b goes down by its 503 alone.
      health: { check: { path: "/health", interval: "200ms", timeout: "2s", rise: 1, fall: 1 } },
    }, { workers: 2, listeners: [{ address: `127.0.0.1:${port}` }], admin: { address: `127.0.0.1:${adminPort}` } }));
    try {
      // A session learned through whichever worker took the first connection…
      const first = await getOnNewConnection(port);
      const cookie = first.setCookie[0].split(";")[0];
      const owner = cookie.split("=")[1].split("-")[0];
      const other = owner === "a" ? "b" : "a";
      // …goes to its member from every worker once the others have it.
      await roundUntil(tandem, port, [owner], `every request of ${cookie} going to ${owner}`, { cookie });
      const newClients = await round(tandem, port);
      assert.deepEqual(membersOf(newClients), new Set(["a", "b"]), "the control: new clients go to both members");
      assert.deepEqual(workersOf(newClients), WORKERS);

      // Worker 0's checks take b down; worker 1 follows.
      bHealthy = false;
      await tandem.waitForLine((line) => line.event === "health" && line.member === "b" && line.up === false && line.worker === 0, 10_000);
      await roundUntil(tandem, port, ["a"], "every worker avoiding b while it is down");
      bHealthy = true;
      await tandem.waitForLine((line) => line.event === "health" && line.member === "b" && line.up === true && line.worker === 0, 10_000);
      await roundUntil(tandem, port, ["a", "b"], "every worker using b again once it is up");

      // A drain through the admin API (worker 0) holds in worker 1 too: no new sessions on the
      // drained member from any worker, while its session still goes there from every worker…
      const drain = (activation: string) => call(`http://127.0.0.1:${adminPort}/api/v1/pools/app/members/${owner}`, { method: "PATCH", body: { activation } });
      let patched = await drain("disabled");
      assert.equal(patched.status, 200, patched.text);
      await roundUntil(tandem, port, [other], `new clients avoiding the disabled ${owner}`);
      const session = await round(tandem, port, 20, { cookie });
      assert.deepEqual(membersOf(session), new Set([owner]), `the session of the disabled ${owner} stays on it`);
      assert.deepEqual(workersOf(session), WORKERS);

      // …and a stopped member takes nothing, its session included.
      patched = await drain("stopped");
      assert.equal(patched.status, 200, patched.text);
      await roundUntil(tandem, port, [other], `the session moving off the stopped ${owner}`, { cookie });
      const stopped = await round(tandem, port);
      assert.deepEqual(membersOf(stopped), new Set([other]), "no worker sends to the stopped member");
      assert.deepEqual(workersOf(stopped), WORKERS);
    } finally {
      assert.equal(await tandem.stop(), 0);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });

  test("the admin plane counts the whole process: /metrics and the status API add up every worker's requests", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("a"), await startBackend("b")];
    const [port, adminPort] = [await freePort(), await freePort()];
    const tandem = await startWorkers(farmConfig(backends, {}, { workers: 2, listeners: [{ address: `127.0.0.1:${port}` }], admin: { address: `127.0.0.1:${adminPort}` } }));
    try {
      const sent = 200;
      const served = await round(tandem, port, sent);
      assert.equal(served.length, sent);
      assert.deepEqual(workersOf(served), WORKERS, "both workers served some");

      // A worker that misses the 250 ms to answer is left out and the scrape says so (a busy
      // machine); the next scrape asks again. Counted once every worker is in.
      let metrics = "";
      await waitFor(async () => /^tandem_workers_reporting 2$/m.test(metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()), 20_000, "a scrape every worker answered");
      const total = [...metrics.matchAll(/^tandem_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      assert.equal(total, sent, metrics);
      assert.match(metrics, /^tandem_request_duration_seconds_count\{pool="app"\} 200$/m);
      assert.match(metrics, /^tandem_workers 2$/m);
      assert.match(metrics, /^tandem_workers_reporting 2$/m);

      let status = { workers: {} } as { workers: { reporting?: number }; pools: { members: never[] }[] };
      await waitFor(async () => (status = await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/status`)).json()).workers.reporting === 2, 20_000, "a status every worker answered");
      assert.deepEqual(status.workers, { count: 2, reporting: 2, missing: [] });
      const members: { requests: number; responses: { "2xx": number }; p50Ms: number | null }[] = status.pools[0].members;
      assert.equal(members.reduce((sum, member) => sum + member.requests, 0), sent);
      assert.equal(members.reduce((sum, member) => sum + member.responses["2xx"], 0), sent);
      assert.ok(members.every((member) => member.p50Ms !== null));
    } finally {
      assert.equal(await tandem.stop(), 0);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });

  test("a reload through the admin API reaches every worker; an invalid file, through the API or SIGHUP, is refused and every worker keeps the running config", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("old"), await startBackend("new")];
    const [port, adminPort] = [await freePort(), await freePort()];
    const top = { workers: 2, listeners: [{ address: `127.0.0.1:${port}` }], admin: { address: `127.0.0.1:${adminPort}` } };
    const tandem = await startWorkers(farmConfig([backends[0]], {}, top));
    const reload = () => call(`http://127.0.0.1:${adminPort}/api/v1/reload`, { method: "POST" });
    try {
      const before = await round(tandem, port);
      assert.deepEqual(membersOf(before), new Set(["old"]));
      assert.deepEqual(workersOf(before), WORKERS);

      let mark = tandem.lines.length;
      writeFileSync(tandem.configPath!, JSON.stringify(farmConfig([backends[1]], {}, top)));
      const reloaded = await reload();
      assert.equal(reloaded.status, 200, reloaded.text);
      // Worker 0 answers for itself; the others reload when its message reaches them.
      await fromEveryWorker(tandem, mark, (line) => line.event === "reloaded");
      const after = await round(tandem, port);
      assert.deepEqual(membersOf(after), new Set(["new"]), "every worker uses the reloaded pool");
      assert.deepEqual(workersOf(after), WORKERS);

      // Were it applied anywhere, "old" would serve again.
      writeFileSync(tandem.configPath!, JSON.stringify({ ...top, pools: { app: { strategy: "fastest", members: [{ name: "old", url: backends[0].url }] } } }));
      mark = tandem.lines.length;
      const refused = await reload();
      assert.equal(refused.status, 422, refused.text);
      assert.match((refused.json.problems as string[]).join("\n"), /pools\.app\.strategy: one of/);
      await tandem.waitForLine((line) => line.event === "reload-failed" && line.worker === 0 && tandem.lines.indexOf(line) >= mark);
      const afterApi = await round(tandem, port);
      assert.deepEqual(membersOf(afterApi), new Set(["new"]), "every worker keeps the running config after the API refused the file");
      assert.deepEqual(workersOf(afterApi), WORKERS);

      mark = tandem.lines.length;
      tandem.signal("SIGHUP");
      const refusals = await fromEveryWorker(tandem, mark, (line) => line.event === "reload-failed");
      for (const refusal of refusals) assert.match((refusal.problems as string[]).join("\n"), /pools\.app\.strategy: one of/);
      const afterSignal = await round(tandem, port);
      assert.deepEqual(membersOf(afterSignal), new Set(["new"]), "every worker keeps the running config after refusing the file on SIGHUP");
      assert.deepEqual(workersOf(afterSignal), WORKERS);
    } finally {
      assert.equal(await tandem.stop(), 0);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });

  test("certificate rotation reaches every worker: after a file change, SIGHUP or the reload API both show the new certificate; a broken pair leaves both on the old", LIMIT, async () => {
    const certs = await makeCertificates();
    const backend = await startBackend("echo");
    const dir = mkdtempSync(join(tmpdir(), "tandem-workers-tls-"));
    /** Copies `leaf` to `<name>.pem` and `<name>.key` in `dir` (over what is there, as `cp` would). */
    const install = (name: string, leaf: Leaf) => {
      const pair = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
      copyFileSync(leaf.cert, pair.cert);
      copyFileSync(leaf.key, pair.key);
      return pair;
    };
    const [port, adminPort] = [await freePort(), await freePort()];
    const configWith = (pair: { cert: string; key: string }) => ({
      workers: 2,
      listeners: [{ address: `127.0.0.1:${port}`, tls: { certificates: [pair] } }],
      admin: { address: `127.0.0.1:${adminPort}` },
      pools: { app: { members: [{ name: "echo", url: backend.url }] } },
    });
    const tandem = await startWorkers(configWith(install("live", certs.a)));
    const names = new Map([certs.a, certs.a2, certs.a3, certs.a4].map((leaf, i) => [leaf.serial, `a${i ? i + 1 : ""}`]));
    /** New connections to every worker are shown `leaf`, and nothing else. */
    const presented = async (leaf: Leaf, when: string) => {
      const shown = await tlsRound(tandem, port, certs.ca.cert);
      assert.deepEqual(new Set(shown.map((one) => one.worker)), WORKERS, when);
      assert.deepEqual(new Set(shown.map((one) => names.get(one.serial) ?? one.serial)), new Set([names.get(leaf.serial)]), when);
    };
    try {
      await presented(certs.a, "at start");

      let mark = tandem.lines.length;
      install("live", certs.a2);
      await fromEveryWorker(tandem, mark, (line) => line.event === "certificates-reloaded");
      await presented(certs.a2, "after the files changed");

      mark = tandem.lines.length;
      writeFileSync(tandem.configPath!, JSON.stringify(configWith(install("other", certs.a3))));
      tandem.signal("SIGHUP");
      await fromEveryWorker(tandem, mark, (line) => line.event === "reloaded");
      await presented(certs.a3, "after SIGHUP");

      mark = tandem.lines.length;
      writeFileSync(tandem.configPath!, JSON.stringify(configWith({ cert: certs.a4.cert, key: certs.b.key })));
      tandem.signal("SIGHUP");
      const refusals = await fromEveryWorker(tandem, mark, (line) => line.event === "reload-failed");
      for (const refusal of refusals) assert.match((refusal.problems as string[]).join("\n"), /does not match/);
      await presented(certs.a3, "after a key that does not match its certificate");

      mark = tandem.lines.length;
      writeFileSync(tandem.configPath!, JSON.stringify(configWith(install("third", certs.a4))));
      const reloaded = await call(`http://127.0.0.1:${adminPort}/api/v1/reload`, { method: "POST" });
      assert.equal(reloaded.status, 200, reloaded.text);
      await fromEveryWorker(tandem, mark, (line) => line.event === "reloaded");
      await presented(certs.a4, "after the reload API");
    } finally {
      assert.equal(await tandem.stop(), 0);
      await backend.close();
    }
  });

  test("SIGTERM with a request in flight in each worker: both complete, idle connections close, new connections are refused, exit 0", LIMIT, async () => {
    const held: ServerResponse[] = [];
    const backend = await startBackend("slow", (request, response) => {
      if (request.url?.startsWith("/held")) held.push(response);
      else response.end("quick");
    });
    const port = await freePort();
    const tandem = await startWorkers(farmConfig([backend], {}, { workers: 2, drainTimeout: "30s", listeners: [{ address: `127.0.0.1:${port}` }] }));
    const connections: KeptConnection[] = [];
    try {
      // Kept-alive connections, each asked once which worker it is on, until each worker has two.
      const onWorker = new Map<unknown, KeptConnection[]>([...WORKERS].map((worker) => [worker, []]));
      for (let i = 0; i < 40 && [...onWorker.values()].some((some) => some.length < 2); i++) {
        const connection = await keptConnection(port);
        connections.push(connection);
        const path = nextPath("probe");
        assert.equal((await connection.get(path)).status, 200);
        const [line] = await accessLinesOf(tandem, new Set([path]));
        onWorker.get(line.worker)!.push(connection);
      }
      assert.deepEqual([...onWorker.values()].map((some) => some.length >= 2), [true, true], "40 connections reached both workers twice");
      const busy = [...onWorker.values()].map((some) => some[0]);
      const idle = [...onWorker.values()].map((some) => some[1]);
      const answers = busy.map((connection) => connection.get(nextPath("held")));
      await waitFor(async () => held.length === busy.length, 10_000, "the member to hold a request from each worker");

      const mark = tandem.lines.length;
      const exited = tandem.stop("SIGTERM");
      const shutdowns = await fromEveryWorker(tandem, mark, (line) => line.event === "shutdown");
      assert.deepEqual(shutdowns.map((line) => line.inFlight), [1, 1], "each worker has its request in flight");
      // One worker still listening would take every new connection: a refusal means both stopped.
      await waitFor(() => refused(port), 10_000, "new connections to be refused");
      await waitFor(async () => idle.every((connection) => connection.closed), 10_000, "the idle keep-alive connections to be closed");
      assert.deepEqual(busy.map((connection) => connection.closed), [false, false], "the connections with a request in flight stay open");

      for (const response of held) response.end("held done");
      for (const answer of await Promise.all(answers)) {
        assert.equal(answer.status, 200);
        assert.equal(answer.body.toString(), "held done");
      }
      assert.equal(await exited, 0, tandem.stderr());
      const stopped = await fromEveryWorker(tandem, mark, (line) => line.event === "stopped");
      assert.deepEqual(stopped.map((line) => line.drained), [true, true]);
      const last = tandem.lines.at(-1);
      assert.equal(last?.event, "workers-stopped");
      assert.equal(last?.terminated, false, "the main thread waited for both workers' drains");
    } finally {
      for (const connection of connections) connection.socket.destroy();
      await tandem.stop();
      await backend.close();
    }
  });
});
