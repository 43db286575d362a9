/**
 * Replication between real tandem processes on loopback. Every node reaches every peer through a
 * small TCP relay run by the test (one per direction and pair), so a test can cut a node off the
 * others and heal it again without touching the processes. Backends hand out JSESSIONID cookies
 * that the nodes learn (`learn` mode).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { type Backend, startBackend } from "../support/backends.ts";
import { makeCertificates } from "../support/certs.ts";
import { freePort, waitFor } from "../support/ports.ts";
import { startTandem, type TandemProcess } from "../support/tandem.ts";
import { deriveSessionKey, FROM_INITIATOR, importClusterKey } from "../../core/cluster/replication/frame-auth.ts";
import { FramedConnection } from "../../core/cluster/replication/framed-connection.ts";
import { type Frame, PROTOCOL_VERSION } from "../../core/cluster/replication/frames.ts";
import type { StreamConnection } from "../../core/ports.ts";

const KEY = "the cluster's shared key, 32+ characters long";

/** A TCP relay to `port()` that can refuse and cut its connections. */
async function relay(port: () => number) {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = tcpConnect(port(), "127.0.0.1");
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    heal() {
      open = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

type Relay = Awaited<ReturnType<typeof relay>>;

interface Node {
  name: string;
  process: TandemProcess;
  admin: string;
  config: Record<string, unknown>;
  clusterPort: number;
}

/** Requests to /held wait at their member until the test releases them: an answer in flight on demand. */
class HeldAnswers {
  readonly #waiting: (() => void)[] = [];

  get waiting(): number {
    return this.#waiting.length;
  }

  hold(answer: () => void): void {
    this.#waiting.push(answer);
  }

  releaseAll(): void {
    for (const answer of this.#waiting.splice(0)) answer();
  }
}

/** Sets a session cookie on the first request of each client, naming the backend. */
async function sessionBackend(name: string, held: HeldAnswers): Promise<Backend> {
  let sessions = 0;
  return await startBackend(name, (request, response) => {
    if (!/JSESSIONID=/.test(request.headers.cookie ?? "")) response.setHeader("set-cookie", `JSESSIONID=${name}-${++sessions}; Path=/`);
    response.setHeader("x-backend", name);
    if (request.url === "/held") held.hold(() => response.end(name));
    else response.end(name);
  });
}

interface LabOptions {
  tls?: Record<string, { cert: string; key: string; ca: string }>;
  drainTimeout?: string;
  /** Worker threads per node; above 1 the listeners take fixed ports. */
  workers?: number;
}

class Lab {
  readonly nodes = new Map<string, Node>();
  readonly relays = new Map<string, Relay>();
  readonly held = new HeldAnswers();
  backends: Backend[] = [];

  static async start(names: string[], { tls, drainTimeout = "1s", workers }: LabOptions = {}) {
    const lab = new Lab();
    try {
      lab.backends = await Promise.all(["m1", "m2", "m3"].map((name) => sessionBackend(name, lab.held)));
      const clusterPorts = new Map<string, number>();
      // Relays first: a port freePort hands out could otherwise be taken by a relay meanwhile.
      for (const from of names) {
        for (const to of names) if (from !== to) lab.relays.set(`${from}>${to}`, await relay(() => clusterPorts.get(to)!));
      }
      // With workers the HTTP listeners need fixed ports too, chosen here with the cluster ports.
      const fixedPorts: number[] = [];
      while (fixedPorts.length < names.length * (workers === undefined ? 1 : 2)) {
        const port = await freePort();
        if (!fixedPorts.includes(port)) fixedPorts.push(port);
      }
      names.forEach((name, index) => clusterPorts.set(name, fixedPorts[index]));
      await Promise.all(names.map((name, index) => {
        const config = {
          listeners: [{ address: `127.0.0.1:${workers === undefined ? 0 : fixedPorts[names.length + index]}` }],
          ...(workers === undefined ? {} : { workers }),
          accessLog: false,
          drainTimeout,
          admin: { address: "127.0.0.1:0" },
          pools: { app: { sticky: { mode: "learn" }, members: lab.backends.map((b) => ({ name: b.name, url: b.url })) } },
          cluster: {
            name: "lab",
            node: name,
            listen: `127.0.0.1:${clusterPorts.get(name)}`,
            peers: names.filter((peer) => peer !== name).map((peer) => ({ name: peer, address: `127.0.0.1:${lab.relays.get(`${name}>${peer}`)!.port}` })),
            heartbeat: "500ms",
            deadAfter: "2s",
            ...(tls ? { tls: tls[name] } : { key: KEY }),
          },
        };
        return lab.startNode(name, config, clusterPorts.get(name)!);
      }));
      await lab.converged();
      return lab;
    } catch (error) {
      await lab.stop();
      throw error;
    }
  }

  async startNode(name: string, config: Record<string, unknown>, clusterPort: number): Promise<Node> {
    const process = await startTandem(config);
    const line = await process.waitForLine((l) => l.event === "admin-listening");
    const node = { name, process, admin: `http://${line.address}`, config, clusterPort };
    this.nodes.set(name, node);
    return node;
  }

  /** Rewrites `name`'s config file with `change` applied, sends SIGHUP and waits for the reload. */
  async reload(name: string, change: (config: any) => void): Promise<void> {
    const node = this.nodes.get(name)!;
    change(node.config);
    writeFileSync(node.process.configPath!, JSON.stringify(node.config));
    const reloads = node.process.lines.filter((line) => line.event === "reloaded").length;
    node.process.signal("SIGHUP");
    await node.process.waitForLine((line) => line.event === "reloaded" && line.reloads === reloads + 1);
  }

  async restart(name: string): Promise<void> {
    const node = this.nodes.get(name)!;
    await node.process.stop("SIGKILL");
    await this.startNode(name, node.config, node.clusterPort);
  }

  /** Every node's connection to every peer is up and acknowledged. */
  async converged(what = "all peers up with nothing unacknowledged"): Promise<void> {
    await waitFor(async () => {
      for (const node of this.nodes.values()) {
        const status = await (await fetch(`${node.admin}/api/v1/cluster`)).json();
        if (!status.peers.every((peer: { state: string; lag: number; inbound: boolean }) => peer.state === "up" && peer.inbound && peer.lag === 0)) return false;
      }
      return true;
    }, 20_000, what);
  }

  isolate(name: string, cut: boolean): void {
    for (const [pair, link] of this.relays) if (pair.split(">").includes(name)) cut ? link.cut() : link.heal();
  }

  async get(name: string, cookie?: string, path = "/"): Promise<{ backend: string; session?: string }> {
    const response = await fetch(`${this.url(name)}${path}`, { headers: cookie ? { cookie: `JSESSIONID=${cookie}` } : {} });
    await response.text();
    const set = response.headers.get("set-cookie")?.match(/JSESSIONID=([^;]+)/)?.[1];
    return { backend: response.headers.get("x-backend")!, session: set };
  }

  /**
   * `get` on a connection of its own: fetch may pick a pooled keep-alive connection of a process
   * that since stopped (a restarted A) or that SIGTERM is closing as idle, and fail for it.
   */
  getOnNewConnection(name: string, path: string): Promise<{ backend: string; session?: string }> {
    return new Promise((resolve, reject) => {
      httpGet(`${this.url(name)}${path}`, { agent: false }, (response) => {
        response.resume();
        response.on("error", reject);
        response.on("end", () => {
          const set = String(response.headers["set-cookie"] ?? "").match(/JSESSIONID=([^;]+)/)?.[1];
          resolve({ backend: String(response.headers["x-backend"]), session: set });
        });
      }).on("error", reject);
    });
  }

  url(name: string): string {
    return this.nodes.get(name)!.process.url;
  }

  async sessions(name: string, pool = "app"): Promise<Record<string, string>> {
    const body = await (await fetch(`${this.nodes.get(name)!.admin}/api/v1/pools/${pool}/sessions?limit=1000`)).json();
    return Object.fromEntries(body.entries.map((entry: { key: string; member: string }) => [entry.key, entry.member]));
  }

  async member(name: string, member: string): Promise<{ activation: string; weight: number }> {
    const status = await (await fetch(`${this.nodes.get(name)!.admin}/api/v1/status`)).json();
    return status.pools[0].members.find((m: { name: string }) => m.name === member);
  }

  async change(name: string, member: string, change: Record<string, unknown>): Promise<void> {
    const response = await fetch(`${this.nodes.get(name)!.admin}/api/v1/pools/app/members/${member}`, { method: "PATCH", body: JSON.stringify(change) });
    assert.equal(response.status, 200, await response.text());
  }

  async cluster(name: string) {
    return await (await fetch(`${this.nodes.get(name)!.admin}/api/v1/cluster`)).json();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => node.process.stop("SIGKILL")));
    for (const link of this.relays.values()) link.close();
    await Promise.all(this.backends.map((backend) => backend.close()));
  }
}

async function withLab(names: string[], run: (lab: Lab) => Promise<void>, options?: LabOptions) {
  const lab = await Lab.start(names, options);
  try {
    await run(lab);
  } finally {
    await lab.stop();
  }
}

describe("replication between three tandem processes", () => {
  test("a session learned through A is routed the same by B and C; a drain on A shows on both; a restarted A gets it all back", async () => {
    await withLab(["A", "B", "C"], async (lab) => {
      const first = await lab.get("A");
      assert.ok(first.session, "the backend handed out a session");
      await waitFor(async () => (await lab.sessions("B"))[first.session!] === first.backend && (await lab.sessions("C"))[first.session!] === first.backend, 10_000, "B and C learned it");
      for (const name of ["B", "C", "B", "C"]) assert.equal((await lab.get(name, first.session)).backend, first.backend, name);

      const other = lab.backends.find((backend) => backend.name !== first.backend)!.name;
      await lab.change("A", other, { activation: "disabled" });
      await waitFor(async () => (await lab.member("B", other)).activation === "disabled" && (await lab.member("C", other)).activation === "disabled", 10_000, "the drain on B and C");

      await lab.restart("A");
      await waitFor(async () => (await lab.sessions("A"))[first.session!] === first.backend, 15_000, "A got the table back");
      assert.equal((await lab.member("A", other)).activation, "disabled", "and the drain");
      assert.equal((await lab.get("A", first.session)).backend, first.backend);
    });
  });

  test("a partitioned node and the others change state meanwhile; after healing every node converges", async () => {
    await withLab(["A", "B", "C"], async (lab) => {
      lab.isolate("A", true);
      await waitFor(async () => (await lab.cluster("A")).peers.every((peer: { state: string }) => peer.state !== "up"), 10_000, "A cut off");
      const onA = await lab.get("A");
      const onB = await lab.get("B");
      await lab.change("A", "m1", { weight: 2 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await lab.change("B", "m1", { weight: 7 });
      await lab.change("C", "m2", { activation: "disabled" });
      assert.equal((await lab.sessions("B"))[onA.session!], undefined, "A's session stayed on A while cut");
      lab.isolate("A", false);
      await lab.converged("healed");
      for (const name of ["A", "B", "C"]) {
        const sessions = await lab.sessions(name);
        assert.equal(sessions[onA.session!], onA.backend, `${name} has A's session`);
        assert.equal(sessions[onB.session!], onB.backend, `${name} has B's session`);
        assert.equal((await lab.member(name, "m1")).weight, 7, `${name}: the later weight wins`);
        assert.equal((await lab.member(name, "m2")).activation, "disabled", name);
      }
    });
  });

  test("garbage, truncated, oversized, replayed and wrongly signed frames are refused and counted; the node keeps serving", async () => {
    await withLab(["A", "B"], async (lab) => {
      const port = lab.nodes.get("A")!.clusterPort;
      /** Sends `chunks` on a fresh connection to A's cluster port and waits for A to close it. */
      const refused = (chunks: Uint8Array[], end = false) =>
        new Promise<void>((resolve, reject) => {
          const socket = tcpConnect(port, "127.0.0.1", () => {
            for (const chunk of chunks) socket.write(chunk);
            if (end) socket.end();
          });
          const timer = setTimeout(() => reject(new Error("A did not close the connection")), 15_000);
          socket.on("data", () => {});
          socket.on("close", () => (clearTimeout(timer), resolve()));
          socket.on("error", () => {});
        });
      const before = await (await fetch(`${lab.nodes.get("A")!.admin}/api/v1/pools/app/sessions`)).json();
      // Garbage: too short to carry a MAC, and long enough to carry a wrong one.
      await refused([new Uint8Array([0, 0, 0, 5, 1, 2, 3, 4, 5])]);
      await refused([new Uint8Array([0, 0, 0, 40, ...new Uint8Array(40).fill(0x41)])]);
      await refused([new Uint8Array([0, 0, 0, 200, 1, 2, 3])], true);
      await refused([new Uint8Array([0x10, 0, 0, 0])]);
      // A hello signed with another key.
      const nonce = crypto.getRandomValues(new Uint8Array(16));
      const hello: Frame = { type: "hello", version: PROTOCOL_VERSION, cluster: "lab", node: "B", nonce, bootId: "x", resumeBootId: "", resumeId: 0 };
      await refused([await framedBytes(hello, "another key that is 32 characters or more")]);
      // A real session recorded, then replayed on a new connection: the session key differs.
      const recorded = await recordSession(port, hello, nonce);
      await refused(recorded);
      const status = await lab.cluster("A");
      assert.ok(status.droppedFrames["bad-mac"] >= 3, JSON.stringify(status.droppedFrames));
      assert.ok(status.droppedFrames.malformed >= 1, JSON.stringify(status.droppedFrames));
      assert.ok(status.droppedFrames.truncated >= 1, JSON.stringify(status.droppedFrames));
      assert.ok(status.droppedFrames.oversized >= 1, JSON.stringify(status.droppedFrames));
      const after = await (await fetch(`${lab.nodes.get("A")!.admin}/api/v1/pools/app/sessions`)).json();
      assert.equal(after.total, before.total + 1, "only the recorded session's own update applied, once");
      assert.equal((await lab.get("A")).backend !== undefined, true, "A still serves");
      await lab.converged("B still connected");
    });
  });
});

describe("replication across a reload and a shutdown", () => {
  /** What shows replication restarting: its listening line, a peer going down or coming up, a resync. */
  const restartSigns = (lab: Lab, name: string, fromLine: number) =>
    lab.nodes.get(name)!.process.lines.slice(fromLine).filter((line) => /^replication-(listening|peer-down|peer-up)$/.test(String(line.event))).map((line) => line.event);
  const resyncCounters = async (lab: Lab) =>
    Object.fromEntries(await Promise.all(["A", "B"].map(async (name) => [name, (await lab.cluster(name)).peers.map((peer: { resyncsSent: number; resyncsReceived: number }) => [peer.resyncsSent, peer.resyncsReceived])])));

  test("a reload with the cluster section unchanged keeps the peer connected and replicates the reloaded pools; a changed section restarts it", async () => {
    await withLab(["A", "B"], async (lab) => {
      const linesAt = () => ({ A: lab.nodes.get("A")!.process.lines.length, B: lab.nodes.get("B")!.process.lines.length });
      const replicated = async (what: string, pool = "app") => {
        const answer = await lab.get("A", undefined, `/${pool}`);
        assert.ok(answer.session, "the backend handed out a session");
        await waitFor(async () => (await lab.sessions("B", pool))[answer.session!] === answer.backend, 10_000, `B learned the session in ${pool} ${what}`);
      };
      await replicated("before the reloads");
      const countersBefore = await resyncCounters(lab);
      const before = linesAt();

      // The pools change (a member's weight, a new learn-mode pool "shop" on both nodes), the cluster section does not.
      const addShop = (config: any) => {
        config.pools.shop = structuredClone(config.pools.app);
        config.routes = [{ path: "/shop", pool: "shop" }];
        config.defaultPool = "app";
      };
      await lab.reload("A", (config) => {
        addShop(config);
        config.pools.app.members[0].weight = 3;
      });
      await lab.reload("B", addShop);
      assert.equal((await lab.member("A", "m1")).weight, 3, "the reload took effect");
      await replicated("after a reload that left the cluster section alone");
      await replicated("after the reload that added it", "shop");
      assert.deepEqual(restartSigns(lab, "A", before.A), [], "A's replication kept running");
      assert.deepEqual(restartSigns(lab, "B", before.B), [], "B's connections to A stayed up");
      assert.deepEqual(await resyncCounters(lab), countersBefore, "no resync either way");

      // The control: a changed cluster section restarts replication, which the same checks see.
      const changed = linesAt();
      await lab.reload("A", (config) => (config.cluster.heartbeat = "400ms"));
      await lab.converged("A's restarted replication reconnected");
      assert.ok(restartSigns(lab, "A", changed.A).includes("replication-listening"), `A restarted replication: ${JSON.stringify(restartSigns(lab, "A", changed.A))}`);
      assert.ok(restartSigns(lab, "B", changed.B).includes("replication-peer-down"), `B saw A's replication go: ${JSON.stringify(restartSigns(lab, "B", changed.B))}`);
      const [sentBefore] = countersBefore.B[0];
      const [sentAfter] = (await resyncCounters(lab)).B[0];
      assert.equal(sentAfter, sentBefore + 1, "B sent the restarted A one full resync");
      await replicated("after a reload that changed the cluster section");
    });
  });

  test("SIGTERM while a member's answer is in flight: the session it creates still reaches the peer before replication stops", async () => {
    await withLab(["A", "B"], async (lab) => {
      const a = lab.nodes.get("A")!.process;
      const answer = lab.getOnNewConnection("A", "/held");
      await waitFor(() => Promise.resolve(lab.held.waiting === 1), 10_000, "the request held at its member");
      a.signal("SIGTERM");
      await a.waitForLine((line) => line.event === "shutdown");
      lab.held.releaseAll();
      const { session, backend } = await answer;
      assert.ok(session, "the member's answer, sent after the SIGTERM, created a session");
      const stopped = await a.waitForLine((line) => line.event === "stopped");
      assert.equal(stopped.drained, true, "the request finished within the drain");
      await waitFor(async () => (await lab.sessions("B"))[session] === backend, 10_000, `B learned the last session from the stopped A: ${JSON.stringify(a.lines)}`);
    }, { drainTimeout: "30s" });
  });

  test("workers: 2, SIGTERM while only worker 1 has a member's answer in flight: its session still reaches the peer (worker 0, which replicates, waits for worker 1's drain)", async () => {
    await withLab(["A", "B"], async (lab) => {
      // The kernel picks the worker of each connection (SO_REUSEPORT): A restarts until one lands on worker 1.
      for (let attempt = 1; ; attempt++) {
        const a = lab.nodes.get("A")!;
        const answer = lab.getOnNewConnection("A", "/held");
        await waitFor(() => Promise.resolve(lab.held.waiting === 1), 10_000, "the request held at its member");
        a.process.signal("SIGTERM");
        const inFlight = await Promise.all([0, 1].map(async (worker) => (await a.process.waitForLine((line) => line.event === "shutdown" && line.worker === worker)).inFlight));
        lab.held.releaseAll();
        const { session, backend } = await answer;
        assert.ok(session, "the member's answer, sent after the SIGTERM, created a session");
        await a.process.waitForLine((line) => line.event === "workers-stopped");
        await waitFor(async () => (await lab.sessions("B"))[session] === backend, 10_000, `B learned the session from worker ${inFlight[1] === 1 ? 1 : 0} of the stopped A`);
        if (inFlight[0] === 0 && inFlight[1] === 1) return;
        assert.ok(attempt < 20, `${attempt} connections in a row went to worker 0`);
        await lab.startNode("A", a.config, a.clusterPort);
        await lab.converged("the restarted A reconnected");
      }
    }, { drainTimeout: "30s", workers: 2 });
  });
});

describe("replication over mutual TLS", () => {
  test("peers with certificates from the private CA replicate; a client certificate from another CA is refused", async () => {
    const certs = await makeCertificates();
    const files = (leaf: { cert: string; key: string }) => ({ cert: leaf.cert, key: leaf.key, ca: certs.ca.cert });
    await withLab(["A", "B"], async (lab) => {
      const first = await lab.get("A");
      await waitFor(async () => (await lab.sessions("B"))[first.session!] === first.backend, 10_000, "B learned it over TLS");
      const port = lab.nodes.get("A")!.clusterPort;
      // A valid hello from "B" (no key: TLS is the authentication), sent with the foreign certificate.
      const nonce = crypto.getRandomValues(new Uint8Array(16));
      const hello = await framedBytes({ type: "hello", version: PROTOCOL_VERSION, cluster: "lab", node: "B", nonce, bootId: "x", resumeBootId: "", resumeId: 0 });
      const helloWith = (leaf: { cert: string; key: string }) =>
        new Promise<string>((resolve) => {
          const socket = tlsConnect({
            host: "127.0.0.1",
            port,
            ca: readFileSync(certs.ca.cert),
            cert: readFileSync(leaf.cert),
            key: readFileSync(leaf.key),
            servername: "localhost",
          });
          const timer = setTimeout(() => (socket.destroy(), resolve("still open")), 10_000);
          socket.on("data", () => (clearTimeout(timer), socket.destroy(), resolve("answered")));
          socket.on("error", () => (clearTimeout(timer), resolve("refused")));
          socket.on("close", () => (clearTimeout(timer), resolve("refused")));
          // TLS 1.3 reports a refused client certificate after the handshake, at the first read.
          socket.on("secureConnect", () => socket.write(hello));
        });
      // The control: the same hello over the same kind of connection, with B's own certificate, is answered.
      assert.equal(await helloWith(certs.peer2), "answered");
      assert.equal(await helloWith(certs.foreignPeer), "refused");
      assert.equal((await lab.cluster("A")).peers[0].state, "up");
    }, { tls: { A: files(certs.peer1), B: files(certs.peer2) } });
  });
});

/** The wire bytes of `frame` as the initiator's first frame, signed with `key` when given. */
async function framedBytes(frame: Frame, key?: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const sink: StreamConnection = { read: () => Promise.resolve(null), write: (data) => void chunks.push(data.slice()), close: () => {} };
  await new FramedConnection(sink, FROM_INITIATOR, key === undefined ? undefined : await importClusterKey(key)).send(frame);
  return chunks[0];
}

/**
 * Speaks the protocol to A as node B would for one update, recording every byte sent; A's answers
 * are read over node:net.
 */
async function recordSession(port: number, hello: Frame, nonce: Uint8Array): Promise<Uint8Array[]> {
  const socket = tcpConnect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  const incoming: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  socket.on("data", (data) => (incoming.push(new Uint8Array(data as Uint8Array)), wake?.()));
  socket.on("close", () => ((ended = true), wake?.()));
  const sent: Uint8Array[] = [];
  const connection: StreamConnection = {
    async read() {
      while (incoming.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
      return incoming.shift() ?? null;
    },
    write(data) {
      sent.push(data.slice());
      socket.write(data);
      return undefined;
    },
    close: () => socket.destroy(),
  };
  const key = await importClusterKey(KEY);
  const framed = new FramedConnection(connection, FROM_INITIATOR, key);
  await framed.send(hello);
  framed.bind(nonce);
  const reply = (await framed.read()) as Extract<Frame, { type: "hello" }>;
  assert.equal(reply.type, "hello");
  framed.useKey(await deriveSessionKey(key, nonce, reply.nonce));
  await framed.send({ type: "resync-chunk", records: [{ kind: "stick", pool: "app", key: "recorded", member: "m1", expiresAt: Date.now() + 600_000, origin: "B" }] });
  await framed.send({ type: "resync-end", id: 0 });
  assert.deepEqual(await framed.read(), { type: "ack", id: 0 });
  framed.close();
  return sent;
}
