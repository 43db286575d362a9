/** `workers: N` for real: N threads of one process share the port, reload together and drain together. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { writeFileSync } from "node:fs";
import { type Backend, farmConfig, startBackend } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { runtime, startTandem } from "../support/tandem.ts";

const LIMIT = { timeout: 60_000 };

/** One GET on a connection of its own, so that the kernel picks a worker for each. */
function getOnNewConnection(port: number, headers: Record<string, string> = {}): Promise<number> {
  return getWithCookie(port, headers).then((result) => result.status);
}

function getWithCookie(port: number, headers: Record<string, string> = {}): Promise<{ status: number; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, headers: { connection: "close", ...headers } }, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode ?? 0, setCookie: response.headers["set-cookie"] ?? [] }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Access lines logged since `from` (an index into tandem.lines). */
function accessLines(tandem: { lines: Record<string, unknown>[] }, from: number) {
  return tandem.lines.slice(from).filter((line) => typeof line.status === "number" && line.method === "GET");
}

describe(`workers on ${runtime}`, () => {
  test("two workers share the port and both serve; SIGHUP reloads both; SIGTERM drains both and exits 0", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("a"), await startBackend("b")];
    const port = await freePort();
    const config = farmConfig(backends, {}, { workers: 2, listeners: [{ address: `127.0.0.1:${port}` }] });
    const tandem = await startTandem(config);
    try {
      await tandem.waitForLine((line) => line.event === "listening" && line.worker === 1);
      await tandem.waitForLine((line) => line.event === "listening" && line.worker === 0);
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push(await getOnNewConnection(port));
      assert.deepEqual(new Set(statuses), new Set([200]));
      const servedBy = new Set(tandem.lines.filter((line) => line.status === 200).map((line) => line.worker));
      assert.deepEqual(servedBy, new Set([0, 1]), "60 connections spread over both workers by SO_REUSEPORT");

      writeFileSync(tandem.configPath!, JSON.stringify({ ...config, pools: { app: { members: [{ name: "b", url: backends[1].url }] } } }));
      tandem.signal("SIGHUP");
      await tandem.waitForLine((line) => line.event === "reloaded" && tandem.lines.filter((l) => l.event === "reloaded").length === 2);
      for (let i = 0; i < 20; i++) assert.equal(await getOnNewConnection(port), 200);
      const reloadedAt = tandem.lines.findLastIndex((line) => line.event === "reloaded");
      const servedAfter = () => tandem.lines.slice(reloadedAt).filter((line) => line.status === 200);
      // Access lines may trail the answers: wait for all 20, so the check below is not over fewer.
      await tandem.waitForLine(() => servedAfter().length >= 20);
      assert.ok(servedAfter().every((line) => line.member === "b"), "every worker uses the reloaded pool");

      // Without `workers` a port-0 listener passes the file's own check; the running workers refuse it.
      writeFileSync(tandem.configPath!, JSON.stringify(farmConfig(backends, {}, { listeners: [...config.listeners, { address: "127.0.0.1:0" }] })));
      tandem.signal("SIGHUP");
      await tandem.waitForLine((line) => line.event === "reload-failed" && tandem.lines.filter((l) => l.event === "reload-failed").length === 2);
      const refusals = tandem.lines.filter((line) => line.event === "reload-failed");
      assert.deepEqual(new Set(refusals.map((line) => line.worker)), new Set([0, 1]));
      assert.match(String(refusals[0].problems), /^listeners\[1\]\.address: a fixed port: 2 workers are running/);
      assert.equal(await getOnNewConnection(port), 200, "the running config keeps serving");
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

  test("workers share state: a session learned by one is routed the same by the other; health and drains on worker 0 reach every worker", LIMIT, async () => {
    let bHealthy = true;
    let issued = 0;
    const handler = (name: string) => (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
      if (req.url === "/health") {
        res.statusCode = name === "b" && !bHealthy ? 503 : 200;
        return res.end();
      }
      if (!req.headers.cookie) res.setHeader("set-cookie", `JSESSIONID=${name}-${++issued}; Path=/`);
      res.end(name);
    };
    const backends: Backend[] = [await startBackend("a", handler("a")), await startBackend("b", handler("b"))];
    const [port, adminPort] = [await freePort(), await freePort()];
    const tandem = await startTandem(farmConfig(backends, {
      sticky: { mode: "learn" },
      health: { check: { path: "/health", interval: "200ms", timeout: "150ms", rise: 1, fall: 1 } },
    }, { workers: 2, listeners: [{ address: `127.0.0.1:${port}` }], admin: { address: `127.0.0.1:${adminPort}` } }));
    try {
      await tandem.waitForLine((line) => line.event === "listening" && line.worker === 1);
      await tandem.waitForLine((line) => line.event === "admin-listening");

      // A session learned through whichever worker took the first connection…
      const first = await getWithCookie(port);
      const cookie = first.setCookie[0].split(";")[0];
      const owner = cookie.split("=")[1].split("-")[0];
      await new Promise((resolve) => setTimeout(resolve, 100));
      // …goes to its member from every worker.
      let mark = tandem.lines.length;
      for (let i = 0; i < 30; i++) assert.equal(await getOnNewConnection(port, { cookie }), 200);
      const sticky = accessLines(tandem, mark);
      assert.deepEqual(new Set(sticky.map((line) => line.member)), new Set([owner]), `every request of ${cookie} went to ${owner}`);
      assert.deepEqual(new Set(sticky.map((line) => line.worker)), new Set([0, 1]), "both workers routed the session");

      // Worker 0's checks take b down; worker 1 follows.
      bHealthy = false;
      await tandem.waitForLine((line) => line.event === "health" && line.member === "b" && line.up === false && line.worker === 1, 10_000);
      mark = tandem.lines.length;
      for (let i = 0; i < 30; i++) assert.equal(await getOnNewConnection(port), 200);
      assert.deepEqual(new Set(accessLines(tandem, mark).map((line) => line.member)), new Set(["a"]));
      bHealthy = true;
      await tandem.waitForLine((line) => line.event === "health" && line.member === "b" && line.up === true && line.worker === 1, 10_000);

      // A drain through the admin API (worker 0) holds in worker 1 too.
      const patched = await fetch(`http://127.0.0.1:${adminPort}/api/v1/pools/app/members/a`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ activation: "stopped" }),
      });
      assert.equal(patched.status, 200, await patched.text());
      await new Promise((resolve) => setTimeout(resolve, 100));
      mark = tandem.lines.length;
      for (let i = 0; i < 30; i++) assert.equal(await getOnNewConnection(port), 200);
      const drained = accessLines(tandem, mark);
      assert.deepEqual(new Set(drained.map((line) => line.member)), new Set(["b"]), "no worker sends to the stopped member");
      assert.deepEqual(new Set(drained.map((line) => line.worker)), new Set([0, 1]));
    } finally {
      assert.equal(await tandem.stop(), 0);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });

  test("the admin plane counts the whole process: /metrics and the status API add up every worker's requests", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("a"), await startBackend("b")];
    const [port, adminPort] = [await freePort(), await freePort()];
    const tandem = await startTandem(farmConfig(backends, {}, {
      workers: 2,
      listeners: [{ address: `127.0.0.1:${port}` }],
      admin: { address: `127.0.0.1:${adminPort}` },
    }));
    try {
      await tandem.waitForLine((line) => line.event === "listening" && line.worker === 1);
      await tandem.waitForLine((line) => line.event === "admin-listening");
      const sent = 200;
      for (let i = 0; i < sent; i++) assert.equal(await getOnNewConnection(port), 200);
      // The last access lines may still be on their way through the pipe.
      await tandem.waitForLine(() => accessLines(tandem, 0).length >= sent);
      const served = accessLines(tandem, 0);
      assert.equal(served.length, sent);
      assert.deepEqual(new Set(served.map((line) => line.worker)), new Set([0, 1]), "both workers served some");

      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const total = [...metrics.matchAll(/^tandem_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      assert.equal(total, sent, metrics);
      assert.match(metrics, /^tandem_request_duration_seconds_count\{pool="app"\} 200$/m);
      assert.match(metrics, /^tandem_workers 2$/m);
      assert.match(metrics, /^tandem_workers_reporting 2$/m);

      const status = await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/status`)).json();
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
});
