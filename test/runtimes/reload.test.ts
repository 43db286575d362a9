/** Hot reload of the real process: SIGHUP, invalid files, listeners, file watching, reload under load. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { type Backend, farmConfig, startBackend } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { runtime, startTandem } from "../support/tandem.ts";
import { eventually } from "../support/waiting.ts";

const LIMIT = { timeout: 30_000 };
const REQUESTS_BETWEEN_RELOADS = 20;

async function servedBy(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  return (await response.json() as { backend: string }).backend;
}

describe(`reload on ${runtime}`, () => {
  test("SIGHUP swaps the config; an invalid file is reported and the old config keeps serving", LIMIT, async () => {
    const backends: Backend[] = [await startBackend("old"), await startBackend("new")];
    const tandem = await startTandem(farmConfig([backends[0]]));
    try {
      assert.equal(await servedBy(tandem.url), "old");
      writeFileSync(tandem.configPath!, JSON.stringify(farmConfig([backends[1]], {}, { listeners: [{ address: `127.0.0.1:${tandem.ports[0]}` }] })));
      tandem.signal("SIGHUP");
      await tandem.waitForLine((line) => line.event === "reloaded");
      assert.equal(await servedBy(tandem.url), "new");

      writeFileSync(tandem.configPath!, "listeners: []\npools: {app: {strategy: fastest, members: []}}\n");
      tandem.signal("SIGHUP");
      const failed = await tandem.waitForLine((line) => line.event === "reload-failed");
      const problems = (failed.problems as string[]).join("\n");
      assert.match(problems, /listeners: .*at least one listener/);
      assert.match(problems, /pools\.app\.strategy: one of/);
      assert.equal(await servedBy(tandem.url), "new", "the running config is untouched");
    } finally {
      assert.equal(await tandem.stop(), 0);
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });

  test("a reload opens new listeners and closes removed ones", LIMIT, async () => {
    const backend = await startBackend("b");
    const tandem = await startTandem(farmConfig([backend]));
    try {
      const first = `127.0.0.1:${tandem.ports[0]}`;
      const second = `127.0.0.1:${await freePort()}`;
      writeFileSync(tandem.configPath!, JSON.stringify(farmConfig([backend], {}, { listeners: [{ address: second }] })));
      tandem.signal("SIGHUP");
      await tandem.waitForLine((line) => line.event === "reloaded");
      assert.equal(await servedBy(`http://${second}/`), "b");
      await assert.rejects(fetch(`http://${first}/`, { headers: { connection: "close" } }));
    } finally {
      await tandem.stop();
      await backend.close();
    }
  });

  test("watchConfig reloads when the file changes", LIMIT, async () => {
    const backends = [await startBackend("one"), await startBackend("two")];
    const tandem = await startTandem(farmConfig([backends[0]], {}, { watchConfig: true }));
    try {
      const listeners = [{ address: `127.0.0.1:${tandem.ports[0]}` }];
      writeFileSync(tandem.configPath!, JSON.stringify(farmConfig([backends[1]], {}, { watchConfig: true, listeners })));
      const reloaded = await tandem.waitForLine((line) => line.event === "reloaded");
      assert.equal(reloaded.trigger, "file change");
      assert.equal(await servedBy(tandem.url), "two");
    } finally {
      await tandem.stop();
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });

  test("reloading under load fails no request", { timeout: 90_000 }, async () => {
    const backends = [await startBackend("x"), await startBackend("y")];
    // A fixed address from the start: the reloads must keep this very listener open.
    const listeners = [{ address: `127.0.0.1:${await freePort()}` }];
    const tandem = await startTandem(farmConfig([backends[0]], {}, { accessLog: false, listeners }));
    try {
      let stop = false;
      let completed = 0;
      const statuses = new Map<number | string, number>();
      const deadline = Date.now() + 60_000;
      const worker = async () => {
        for (let i = 0; i < 400 && !stop && Date.now() < deadline; i++) {
          let key: number | string;
          try {
            const response = await fetch(tandem.url);
            await response.arrayBuffer();
            key = response.status;
          } catch (error) {
            key = String((error as Error).message);
          }
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          completed++;
        }
      };
      const load = Promise.all(Array.from({ length: 16 }, worker));
      for (let i = 0; i < 6; i++) {
        // Requests answered since the last reload, however slowly: the load straddles every reload.
        const before = completed;
        await eventually(() => (completed >= before + REQUESTS_BETWEEN_RELOADS ? true : undefined), 30_000, `${REQUESTS_BETWEEN_RELOADS} requests before reload ${i + 1}`);
        writeFileSync(tandem.configPath!, JSON.stringify(farmConfig([backends[(i + 1) % 2]], {}, { accessLog: false, listeners })));
        tandem.signal("SIGHUP");
        await tandem.waitForLine((line) => line.event === "reloaded" && line.reloads === i + 1);
      }
      const afterLast = completed;
      await eventually(() => (completed >= afterLast + REQUESTS_BETWEEN_RELOADS ? true : undefined), 30_000, "requests after the last reload");
      stop = true;
      await load;
      assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
    } finally {
      await tandem.stop();
      await Promise.all(backends.map((backend) => backend.close()));
    }
  });
});
