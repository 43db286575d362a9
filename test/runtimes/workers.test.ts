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
function getOnNewConnection(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, headers: { connection: "close" } }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
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
      const after = tandem.lines.slice(tandem.lines.findLastIndex((line) => line.event === "reloaded"));
      assert.ok(after.filter((line) => line.status === 200).every((line) => line.member === "b"), "every worker uses the reloaded pool");
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
});
