/**
 * The process-level metrics end to end (README "Admin plane", metrics): `process_*` read from
 * /proc, the per-listener connection counters present at 0 from the start, the exposition checked
 * by Debian's promtool and scraped by a real Prometheus that then answers queries; and a health
 * transition logged once per process with `workers: 2`, although every worker follows it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { startBackend } from "../support/backends.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { rawExchange } from "../support/raw-http.ts";
import { runtime, startTandem } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const LIMIT = { timeout: 120_000 };
/** Debian's `prometheus` package (in .ci/run) has both programs. */
const prometheus = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].find((path) => existsSync(path));
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((path) => existsSync(path));
const skipPrometheus = requireTool("metrics.test.ts: Prometheus scrape", prometheus && promtool ? false : "prometheus/promtool are not installed (Debian package prometheus)");

/** `name{labels} value` lines of an exposition, as [labels text, value] of the family `name`. */
function samplesOf(text: string, name: string): [string, number][] {
  return text.split("\n").flatMap((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    return match && match[1] === name ? [[match[2] ?? "", Number(match[3])] as [string, number]] : [];
  });
}

function valueOf(text: string, name: string, labels = ""): number {
  const found = samplesOf(text, name).filter(([set]) => set.includes(labels));
  assert.equal(found.length, 1, `one ${name} series with ${labels}: ${JSON.stringify(samplesOf(text, name))}`);
  return found[0][1];
}

async function scrape(base: string): Promise<string> {
  const reply = await fetch(`${base}/metrics`);
  assert.equal(reply.status, 200);
  return reply.text();
}

describe(`process and listener metrics (${runtime})`, () => {
  test("process_* and listener counters from the start at 0; promtool passes; a real Prometheus scrapes tandem and answers queries", { ...LIMIT, skip: skipPrometheus }, async () => {
    const backend = await startBackend("m1");
    const adminPort = await freePort();
    const base = `http://127.0.0.1:${adminPort}`;
    const startedAt = Date.now() / 1000;
    const tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      pools: { app: { members: [{ name: "m1", url: backend.url }] } },
      admin: { address: `127.0.0.1:${adminPort}`, auth: { secret: "metrics-test-secret-0123456789-abcdefgh" }, publicMetrics: true },
    });
    const dir = mkdtempSync(join(tmpdir(), "tandem-prometheus-"));
    let server: ReturnType<typeof spawn> | undefined;
    const held = new Set<net.Socket>();
    try {
      await tandem.waitForLine((line) => line.event === "admin-listening");
      const listener = '{listener="127.0.0.1:0"}';
      const fresh = await scrape(base);
      assert.equal(valueOf(fresh, "tandem_client_connections_total", listener), 0, "accepted connections: present at 0 before the first");
      assert.equal(valueOf(fresh, "tandem_client_refused_total", 'listener="127.0.0.1:0",code="400"'), 0, "refusals: present at 0");
      assert.equal(valueOf(fresh, "tandem_client_timeouts_total", 'listener="127.0.0.1:0",kind="keepAlive"'), 0, "timeouts: present at 0");

      const rss = valueOf(fresh, "process_resident_memory_bytes");
      assert.ok(rss > 8 * 2 ** 20 && rss < 4 * 2 ** 30, `resident memory of a runtime: ${rss}`);
      if (runtime === "bun") {
        assert.ok(valueOf(fresh, "process_virtual_memory_bytes") >= rss);
        const fds = valueOf(fresh, "process_open_fds");
        assert.ok(fds >= 3 && fds <= valueOf(fresh, "process_max_fds"), `open fds ${fds}`);
      } else {
        // Known: Deno grants /proc/self only with --allow-all (README Runtime support). A Deno that
        // lets --allow-read read it makes this fail: then report the figures there too.
        for (const name of ["process_virtual_memory_bytes", "process_open_fds", "process_max_fds"]) assert.deepEqual(samplesOf(fresh, name), [], name);
      }
      const start = valueOf(fresh, "process_start_time_seconds");
      assert.ok(start > startedAt - 60 && start <= Date.now() / 1000 + 1, `start time ${start}, test began ${startedAt}`);
      assert.ok(valueOf(fresh, "process_cpu_seconds_total") > 0, "starting a runtime costs CPU time");

      // Two answered connections and one refused request (400): three accepted.
      const request = "GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n";
      for (let i = 0; i < 2; i++) assert.equal((await rawExchange(tandem.ports[0], request)).response?.status, 200);
      assert.equal((await rawExchange(tandem.ports[0], "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")).response?.status, 400);
      // One more connection held open: the gauge counts it while it is open.
      const socket = net.connect({ host: "127.0.0.1", port: tandem.ports[0] });
      held.add(socket);
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      await waitFor(async () => valueOf(await scrape(base), "tandem_client_connections", listener) === 1, 10_000, "the held connection counted as open");
      const counted = await scrape(base);
      assert.equal(valueOf(counted, "tandem_client_connections_total", listener), 4);
      assert.equal(valueOf(counted, "tandem_client_refused_total", 'listener="127.0.0.1:0",code="400"'), 1);
      socket.destroy();
      await waitFor(async () => valueOf(await scrape(base), "tandem_client_connections", listener) === 0, 10_000, "the closed connection no longer open");
      // Control: the CPU figure is live, not read once: serving took some.
      assert.ok(valueOf(await scrape(base), "process_cpu_seconds_total") > valueOf(fresh, "process_cpu_seconds_total"));

      const checked = spawnSync(promtool!, ["check", "metrics"], { input: await scrape(base), encoding: "utf8" });
      assert.equal(checked.status, 0, `promtool: ${checked.stdout}${checked.stderr}`);

      // A real Prometheus scraping every second, then asked through its query API.
      const promPort = await freePort();
      const configFile = join(dir, "prometheus.yml");
      writeFileSync(configFile, [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: tandem",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${adminPort}"]`,
        "",
      ].join("\n"));
      let output = "";
      server = spawn(prometheus!, [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ], { stdio: ["ignore", "pipe", "pipe"] });
      server.stdout!.on("data", (chunk) => (output += chunk));
      server.stderr!.on("data", (chunk) => (output += chunk));
      const query = async (promql: string) => {
        const reply = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`);
        const body = await reply.json() as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        assert.equal(body.status, "success", JSON.stringify(body));
        return body.data.result;
      };
      const answered = async (promql: string, accept: (result: Awaited<ReturnType<typeof query>>) => boolean) => {
        try {
          await waitFor(async () => accept(await query(promql)), 60_000, `Prometheus answering ${promql}`);
        } catch (error) {
          throw new Error(`${(error as Error).message}\nprometheus output:\n${output.slice(-3000)}`);
        }
      };
      await answered('up{job="tandem"}', (result) => result.length === 1 && result[0].value[1] === "1");
      await answered("tandem_build_info", (result) => result.length === 1 && result[0].metric.runtime.startsWith(`${runtime} `));
      await answered('tandem_client_connections_total{listener="127.0.0.1:0"}', (result) => result.length === 1 && result[0].value[1] === "4");
      await answered("process_resident_memory_bytes > 0", (result) => result.length === 1);
      // Control: a series tandem does not export gives nothing, so the answers above are tandem's.
      assert.deepEqual(await query("tandem_no_such_metric"), []);
    } finally {
      for (const socket of held) socket.destroy();
      server?.kill("SIGTERM");
      await tandem.stop();
      await backend.close();
    }
  });

  test("workers: 2: a health transition is logged once, by worker 0, and every worker follows it", LIMIT, async () => {
    let healthy = true;
    const backend = await startBackend("h1", (request, response) => {
      if (request.url === "/health") response.statusCode = healthy ? 200 : 503;
      response.end("ok");
    });
    const port = await freePort();
    const tandem = await startTandem({
      listeners: [{ address: `127.0.0.1:${port}` }],
      workers: 2,
      pools: { app: { members: [{ name: "h1", url: backend.url }], health: { check: { path: "/health", interval: "200ms", fall: 1, rise: 1 } } } },
    });
    try {
      await tandem.waitForLine((line) => line.event === "listening" && line.worker === 1);
      healthy = false;
      const down = await tandem.waitForLine((line) => line.event === "health" && line.up === false, 20_000);
      assert.equal(down.worker, 0, "worker 0 runs the checks and logs the verdict");
      // Every worker answers 503 (no usable member): each follows the verdict. New connections
      // until both workers have answered one (SO_REUSEPORT spreads them by source port).
      const refusedBy = () => new Set(tandem.lines.filter((line) => line.path === "/x" && line.status === 503).map((line) => line.worker));
      for (let i = 0; i < 200 && refusedBy().size < 2; i++) {
        await rawExchange(port, "GET /x HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n");
      }
      await waitFor(async () => refusedBy().size === 2, 10_000, "access lines of both workers");
      assert.deepEqual([...refusedBy()].sort(), [0, 1], "both workers refused for lack of a usable member");
      healthy = true;
      await tandem.waitForLine((line) => line.event === "health" && line.up === true, 20_000);
      const transitions = tandem.lines.filter((line) => line.event === "health").map((line) => [line.up, line.worker]);
      assert.deepEqual(transitions, [[false, 0], [true, 0]], "one line per transition in the process");
    } finally {
      await tandem.stop();
      await backend.close();
    }
  });
});
