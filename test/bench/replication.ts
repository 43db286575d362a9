/**
 * Replication benchmark: `bun test/bench/replication.ts [--entries=1000000]`.
 *
 * Two processes on loopback, each a core {@link ReplicationNode} over Bun's real TCP listener and
 * connect (runtimes/bun), with the HMAC key set: this process is the sender "s", a child process
 * is the receiver "r". It drives the replication peer directly rather than through HTTP, so the
 * figures are the peer's, not the proxy's. Prints a markdown table:
 *
 * - full resync: the receiver joins while the sender holds N learned entries; time from the
 *   sender's start to the receiver's `resync-end` applied;
 * - throughput: 200,000 new sessions learned on the sender in bursts, until all are acknowledged;
 * - latency p99: one session at a time, from `set` on the sender to the receiver's acknowledgement
 *   coming back (a round trip: the one-way figure is lower);
 * - RSS of each process holding the N entries.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createBalancer } from "../../core/balancer/balancer.ts";
import { ReplicaStore } from "../../core/cluster/replication/replica-store.ts";
import { ReplicationNode } from "../../core/cluster/replication/replication-node.ts";
import { splitAddress } from "../../core/config/fields.ts";
import { ClusterSchema } from "../../core/cluster/replication/schema.ts";
import { systemClock } from "../../core/clock.ts";
import { validateConfig } from "../../core/config/load.ts";
import { connect } from "../../runtimes/bun/connect.ts";
import { listenStream } from "../../runtimes/bun/listen.ts";
import * as v from "valibot";

const KEY = "benchmark key, at least 32 characters long";
const ENTRIES = Number(process.argv.find((arg) => arg.startsWith("--entries="))?.split("=")[1] ?? 1_000_000);
const THROUGHPUT_UPDATES = 200_000;
const LATENCY_SAMPLES = 2000;
const MEMBERS = ["m1", "m2", "m3"];

function _node(name: string, peer: string, port: number) {
  const result = validateConfig({
    listeners: [{ address: "127.0.0.1:0" }],
    pools: { app: { sticky: { mode: "learn", tableSize: 4_000_000 }, members: MEMBERS.map((m, i) => ({ name: m, url: `http://127.0.0.1:${9001 + i}` })) } },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const balancer = createBalancer(result.config, { clock: systemClock, upstream: () => Promise.reject(new Error("unused")), log: () => {} });
  const store = new ReplicaStore({ node: name, pools: () => balancer.pools, clock: systemClock });
  const cluster = v.parse(ClusterSchema, {
    name: "bench",
    node: name,
    listen: `127.0.0.1:${port}`,
    peers: [{ name: peer, address: `127.0.0.1:${port}` }],
    key: KEY,
    sendQueue: 1_000_000,
  });
  return { balancer, store, cluster, table: balancer.pools.get("app")!.sticky!.table! };
}

/** After a full collection: what the entries hold, not the garbage of building them. */
const rssMiB = () => {
  Bun.gc(true);
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
};
const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

async function receiver(port: number): Promise<void> {
  const { store, cluster, table } = _node("r", "s", port);
  const node = await ReplicationNode.create({
    cluster: { ...cluster, peers: [{ name: "s", address: "127.0.0.1:1" }] },
    key: KEY,
    store,
    ports: { clock: systemClock, connect: () => Promise.reject(new Error("the receiver does not ship")), log: () => {} },
  });
  const listener = await listenStream({ hostname: "127.0.0.1", port }, (connection) => node.accept(connection));
  console.log(JSON.stringify({ event: "listening", port: listener.port }));
  store.attach();
  let reported = false;
  setInterval(() => {
    const peer = node.status().peers[0];
    if (!reported && peer.resyncsReceived >= 1) {
      reported = true;
      console.log(JSON.stringify({ event: "resynced", at: performance.timeOrigin + performance.now(), size: table.size, rssMiB: rssMiB() }));
    }
  }, 2);
}

async function sender(): Promise<void> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--receiver", `--entries=${ENTRIES}`], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: Record<string, unknown>) => void)[] = [];
  lines.on("line", (text) => waiting.shift()?.(JSON.parse(text)));
  const next = () => new Promise<Record<string, unknown>>((resolve) => waiting.push(resolve));
  try {
    const { port } = (await next()) as { port: number };
    const { store, cluster, table } = _node("s", "r", port);
    store.attach();
    console.error(`filling ${ENTRIES} entries…`);
    // Learn mode stores the member's own name string; so does this.
    for (let i = 0; i < ENTRIES; i++) table.set(`session-${i.toString(36)}-${i}`, MEMBERS[i % 3]);
    const senderRss = rssMiB();
    const node = await ReplicationNode.create({
      cluster,
      key: KEY,
      store,
      ports: {
        clock: systemClock,
        log: () => {},
        connect: (address, signal) => connect({ ...splitAddress(address), signal }),
      },
    });
    const resynced = next();
    const started = performance.timeOrigin + performance.now();
    node.start();
    const done = (await resynced) as { at: number; size: number; rssMiB: number };
    const resyncSeconds = (done.at - started) / 1000;
    console.error(`resync: ${done.size} entries in ${resyncSeconds.toFixed(2)} s`);

    const lag = () => node.status().peers[0].lag;
    const throughputStart = performance.now();
    for (let i = 0; i < THROUGHPUT_UPDATES; i++) {
      table.set(`burst-${i}`, MEMBERS[i % 3]);
      if (i % 5000 === 4999) await yieldNow();
    }
    while (lag() > 0) await yieldNow();
    const throughput = THROUGHPUT_UPDATES / ((performance.now() - throughputStart) / 1000);
    console.error(`throughput: ${Math.round(throughput)} updates/s`);

    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const t0 = performance.now();
      table.set(`latency-${i}`, "m1");
      while (lag() > 0) await yieldNow();
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length * 0.5)];
    const p99 = latencies[Math.floor(latencies.length * 0.99)];
    node.stop();

    const row = (what: string, measured: string, target: string, ok: boolean) => `| ${what} | ${measured} | ${target} | ${ok ? "yes" : "**no**"} |`;
    console.log(`Replication on ${process.platform}, Bun ${Bun.version}, two processes on loopback, HMAC-SHA256 per frame (${new Date().toISOString()})\n`);
    console.log("| measure | measured | target | met |");
    console.log("|---|---|---|---|");
    console.log(row(`full resync of ${ENTRIES.toLocaleString("en")} entries`, `${resyncSeconds.toFixed(2)} s`, "≤ 10 s", resyncSeconds <= 10));
    console.log(row("update throughput", `${Math.round(throughput).toLocaleString("en")} updates/s`, "≥ 50,000 updates/s", throughput >= 50_000));
    console.log(row("replication latency p99 (round trip to the ack)", `${p99.toFixed(2)} ms (p50 ${p50.toFixed(2)} ms)`, "≤ 10 ms", p99 <= 10));
    console.log(row(`RSS, receiver holding ${done.size.toLocaleString("en")} learned entries`, `${done.rssMiB} MiB`, "≤ 300 MiB", done.rssMiB <= 300));
    console.log(row(`RSS, sender holding ${ENTRIES.toLocaleString("en")} learned entries`, `${senderRss} MiB`, "≤ 300 MiB", senderRss <= 300));
  } finally {
    child.kill();
  }
  process.exit(0);
}

if (process.argv.includes("--receiver")) await receiver(0);
else await sender();
