/**
 * Failback in network namespaces, end to end with the real program on the runtime that runs the
 * test: a master that was SIGKILLed comes back and preempts, and must not break the sessions the
 * survivor served meanwhile (`vrrp.syncTimeout`: it waits for a peer's full resync before it may
 * preempt); and a dead unicast peer costs the live nodes no advertisement (a send error is a lost
 * datagram, counted, that never skips the other copies or peers).
 * Root and Linux only (CI runs as root); skipped with the reason otherwise.
 *
 *   n1  lb1: tandem, priority 200, replication node lb1     10.88.0.11
 *   n2  lb2: tandem, priority 100, replication node lb2     10.88.0.12
 *   n3  the application host: members m1 (:8081) and m2 (:8082), which hand out JSESSIONID
 *       (in the three-node test: the third tandem node)     10.88.0.13
 *   c   the client, talking HTTP to the VIP with curl      10.88.0.100
 *
 * Each balancer also routes /whoami to a backend in its own namespace that answers with the
 * node's name (the lab's startBackend), so the answer on the VIP says who holds it, as in
 * vrrp.test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtime, tandemCommand } from "../support/tandem.ts";
import { ADMIN_PORT, BACKEND_PORT, HTTP_PORT, labUnavailable, type LabProcess, sh, VIP, VrrpLab, waitUntil } from "../support/vrrp-lab.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("failback.test.ts", labUnavailable());

const VRRP_KEY = "the lab's shared vrrp key";
const CLUSTER_KEY = "the lab cluster's shared key, 32+ characters";
const ADVERT_MS = 100;
const SESSIONS = 50;
const APP_HOST = "n3";
const MEMBER_PORTS: Record<string, number> = { m1: 8081, m2: 8082 };
/** curl exit codes of a request refused or lost at the TCP level while the address moves. */
const TCP_LEVEL = new Map([[7, "refused"], [28, "timed out"], [52, "empty reply"], [56, "reset"]]);
/** How long the killed master stays dead (a process restarted by its supervisor a few seconds later). */
const LB1_DOWN_MS = 8_000;
/** Between two rounds of requests: keeps the client from hammering a dead address. */
const ROUND_PAUSE_MS = 100;

const runtimeArgv = (script: string) => (runtime === "bun" ? [process.execPath, script] : [process.execPath, "run", "-A", script]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `vrrp` section: unicast to `peers` (in that order), and preempt, preemptDelay and syncTimeout left at their defaults. */
function vrrpSection(lab: VrrpLab, node: string, priority: number, peers: string[]) {
  return {
    key: VRRP_KEY,
    address: lab.ipOf(node),
    peers: peers.map((peer) => lab.ipOf(peer)),
    instances: [{
      name: "web",
      vrid: 51,
      priority,
      advertInterval: `${ADVERT_MS}ms`,
      interface: "eth0",
      virtualAddresses: [`${VIP}/24`],
    }],
  };
}

/** lb1 or lb2 of the failback test: learn-mode sessions on the application host, replicated to the other. */
function failbackConfig(lab: VrrpLab, node: "n1" | "n2", priority: number) {
  const other = node === "n1" ? "n2" : "n1";
  const lbName = (host: string) => (host === "n1" ? "lb1" : "lb2");
  return {
    listeners: [{ address: `0.0.0.0:${HTTP_PORT}` }],
    routes: [{ path: "/whoami", pool: "who" }],
    defaultPool: "app",
    pools: {
      app: {
        sticky: { mode: "learn" },
        members: Object.entries(MEMBER_PORTS).map(([name, port]) => ({ name, url: `http://${lab.ipOf(APP_HOST)}:${port}` })),
      },
      who: { members: [{ name: "local", url: `http://127.0.0.1:${BACKEND_PORT}` }] },
    },
    drainTimeout: "1s",
    admin: { address: `127.0.0.1:${ADMIN_PORT}` },
    cluster: {
      name: "lab",
      node: lbName(node),
      listen: `${lab.ipOf(node)}:7400`,
      peers: [{ name: lbName(other), address: `${lab.ipOf(other)}:7400` }],
      key: CLUSTER_KEY,
    },
    vrrp: vrrpSection(lab, node, priority, [other]),
  };
}

/** A node of the three-node test: no replication, its own backend. */
function plainConfig(lab: VrrpLab, node: string, priority: number, peers: string[]) {
  return {
    listeners: [{ address: `0.0.0.0:${HTTP_PORT}` }],
    pools: { app: { members: [{ name: node, url: `http://127.0.0.1:${BACKEND_PORT}` }] } },
    accessLog: false,
    drainTimeout: "1s",
    admin: { address: `127.0.0.1:${ADMIN_PORT}` },
    vrrp: vrrpSection(lab, node, priority, peers),
  };
}

/** Starts tandem in `node`'s namespace with `config` (the same file on a restart). */
function spawnTandem(lab: VrrpLab, node: string, config: unknown): LabProcess {
  const path = join(lab.dir, `${node}.json`);
  writeFileSync(path, JSON.stringify(config));
  return lab.spawn(node, tandemCommand(["serve", "--config", path]));
}

const stateOf = (lab: VrrpLab, node: string): string | undefined => lab.admin(node, "/api/v1/vrrp")?.instances?.[0]?.state;
const masters = (lab: VrrpLab, nodes: string[]) => nodes.filter((node) => stateOf(lab, node) === "master");
const vrrpLines = (process: LabProcess) => JSON.stringify(process.lines.filter((line) => /^(vrrp|replication)/.test(String(line.event))));

function metrics(lab: VrrpLab, node: string): string {
  return sh(["ip", "netns", "exec", lab.ns(node), "curl", "-s", "--max-time", "2", `http://127.0.0.1:${ADMIN_PORT}/metrics`]).stdout;
}

/** The sum of a metric's series (every label set), or undefined when it is not exposed. */
function metricValue(text: string, name: string): number | undefined {
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].map((match) => Number(match[1]));
  return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0);
}

/** The session id → member table of a node's pool "app". */
function sessionsOf(lab: VrrpLab, node: string): Record<string, string> {
  const body = lab.admin(node, `/api/v1/pools/app/sessions?limit=${SESSIONS * 4}`);
  return Object.fromEntries((body?.entries ?? []).map((entry: { key: string; member: string }) => [entry.key, entry.member]));
}

/** Members m1 and m2 on the application host: a JSESSIONID named after the member for a request without one. */
async function startMembers(lab: VrrpLab): Promise<void> {
  const script = join(lab.dir, "members.mjs");
  writeFileSync(script, `import http from "node:http";
const members = ${JSON.stringify(MEMBER_PORTS)};
let listening = 0;
for (const [name, port] of Object.entries(members)) {
  let sessions = 0;
  http.createServer((request, response) => {
    if (!(request.headers.cookie ?? "").includes("JSESSIONID=")) response.setHeader("set-cookie", "JSESSIONID=" + name + "-" + ++sessions + "; Path=/");
    response.setHeader("x-backend", name);
    response.end(name);
  }).listen(port, ${JSON.stringify(lab.ipOf(APP_HOST))}, () => {
    if (++listening === Object.keys(members).length) console.log("ready");
  });
}
`);
  const members = lab.spawn(APP_HOST, runtimeArgv(script));
  await members.waitForLine((line) => line.text === "ready");
}

interface Outcome {
  /** curl's exit code (0: a response came); -1: curl was stopped before this request. */
  exit: number;
  status: number;
  backend: string;
  setCookie: string;
}

/** The URL first: an answer is matched to its request by it, not by its position. */
const WRITE_OUT = "%{url}|%{exitcode}|%{http_code}|%header{x-backend}|%header{set-cookie}\\n";

/**
 * One curl from the client namespace doing `requests` one after the other through the VIP, each
 * on its own connection (as separate users would), each bounded (0.5 s to connect, 1 s in all).
 */
function curlRound(lab: VrrpLab, requests: { path: string; session?: string }[]): Promise<Outcome[]> {
  const url = (path: string) => `http://${VIP}:${HTTP_PORT}${path}`;
  const args: string[] = [];
  requests.forEach((request, index) => {
    if (index > 0) args.push("--next");
    args.push("-s", "-o", "/dev/null", "--connect-timeout", "0.5", "--max-time", "1", "-H", "Connection: close");
    if (request.session) args.push("-H", `Cookie: JSESSIONID=${request.session}`);
    args.push("-w", WRITE_OUT, url(request.path));
  });
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", lab.ns("c"), "curl", ...args], { stdio: ["ignore", "pipe", "ignore"] });
    let text = "";
    child.stdout!.on("data", (chunk) => (text += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", () => {
      clearTimeout(timer);
      const answers = new Map(text.split("\n").filter(Boolean).map((line) => {
        const [url, ...fields] = line.split("|");
        return [url, fields] as const;
      }));
      resolve(requests.map((request) => {
        const [exit, status, backend, setCookie] = answers.get(url(request.path)) ?? ["-1", "0", "", ""];
        return { exit: Number(exit), status: Number(status), backend: backend ?? "", setCookie: setCookie ?? "" };
      }));
    });
  });
}

interface Round {
  index: number;
  /** performance.now() before and after the round. */
  started: number;
  ended: number;
  outcomes: Outcome[];
}

/** A lab with whoami backends on `backends`; `run` gets it, and the lab is torn down whatever happens. */
async function withLab(nodeCount: number, backends: string[], run: (lab: VrrpLab) => Promise<void>): Promise<void> {
  const lab = new VrrpLab(nodeCount);
  try {
    lab.setUp();
    for (const node of backends) await lab.startBackend(node, runtimeArgv);
    await run(lab);
  } finally {
    lab.tearDown();
  }
}

describe(`VRRP failback with replication in network namespaces (${runtime})`, { skip }, () => {
  test("a SIGKILLed master comes back, waits for the session table, then preempts: 50 sessions keep their member before, during and after", { timeout: 150_000 }, async () => {
    await withLab(3, ["n1", "n2"], async (lab) => {
      await startMembers(lab);
      const configs = { n1: failbackConfig(lab, "n1", 200), n2: failbackConfig(lab, "n2", 100) };
      let lb1 = spawnTandem(lab, "n1", configs.n1);
      const lb2 = spawnTandem(lab, "n2", configs.n2);
      await Promise.all([lb1, lb2].map((node) => node.waitForLine((line) => line.event === "vrrp-transition", 20_000)));
      const settledOn = (master: string, backup: string) =>
        lab.getVip("/whoami") === master && !lab.holdsVip(backup) && stateOf(lab, backup) === "backup";
      assert.ok(await waitUntil(() => settledOn("n1", "n2"), 20_000), `lb1 serves the VIP: lb1 ${vrrpLines(lb1)} lb2 ${vrrpLines(lb2)}`);
      const peersUp = () =>
        ["n1", "n2"].every((node) => lab.admin(node, "/api/v1/cluster")?.peers?.every((peer: { state: string; inbound: boolean }) => peer.state === "up" && peer.inbound));
      assert.ok(await waitUntil(peersUp, 15_000, 100), `replication up: ${JSON.stringify(lab.admin("n1", "/api/v1/cluster"))}`);

      // 50 sessions through lb1: the member names its sessions, so the id tells who created it.
      const created = await curlRound(lab, Array.from({ length: SESSIONS }, (_, index) => ({ path: `/s/${index}?round=create` })));
      const ids: string[] = [];
      const members: string[] = [];
      created.forEach((outcome, index) => {
        const id = outcome.setCookie.match(/JSESSIONID=([^;]+)/)?.[1];
        assert.ok(outcome.exit === 0 && outcome.status === 200 && id, `session ${index} was not created: ${JSON.stringify(outcome)}`);
        assert.equal(id.split("-")[0], outcome.backend);
        ids.push(id);
        members.push(outcome.backend);
      });
      assert.deepEqual([...new Set(members)].sort(), ["m1", "m2"], "the sessions are spread over both members");
      assert.ok(
        await waitUntil(() => {
          const table = sessionsOf(lab, "n2");
          return ids.every((id, index) => table[id] === members[index]);
        }, 10_000, 100),
        "lb2 learned every session from lb1",
      );

      // Every session, again and again, until the VIP has gone to lb2 and come back to lb1.
      const rounds: Round[] = [];
      let stop = false;
      const loop = (async () => {
        const deadline = performance.now() + 120_000;
        while (!stop && rounds.length < 1_000 && performance.now() < deadline) {
          const started = performance.now();
          const outcomes = await curlRound(lab, ids.map((session, index) => ({ path: `/s/${index}?round=${rounds.length}`, session })));
          rounds.push({ index: rounds.length, started, ended: performance.now(), outcomes });
          await sleep(ROUND_PAUSE_MS);
        }
      })();
      const roundsAfter = (time: number, count: number, what: string) =>
        waitUntil(() => rounds.filter((round) => round.started > time).length >= count, 30_000, 50).then((took) => assert.ok(took !== undefined, `${count} rounds ${what}`));

      let tKill = 0, tLb2Serves = 0, tRestart = 0, restartWall = 0, tSettled = 0;
      let synced: Record<string, unknown> = {}, master: Record<string, unknown> = {};
      try {
        await roundsAfter(0, 2, "before the kill");
        tKill = performance.now();
        lb1.kill("SIGKILL");
        await lb1.exited;
        assert.ok(await waitUntil(() => lab.getVip("/whoami") === "n2", 10_000), `lb2 took the VIP: ${vrrpLines(lb2)}`);
        tLb2Serves = performance.now();
        await roundsAfter(tLb2Serves, 3, "through lb2");
        // lb1 stays dead long enough for lb2's reconnect backoff towards it to have grown to seconds
        // (100 ms doubling to 5 s): only the reconnect on contact brings lb2's table to lb1 in time.
        await sleep(Math.max(0, LB1_DOWN_MS - (performance.now() - tKill)));

        // The same program, the same config: it finds lb2 master, waits for lb2's table, then preempts.
        restartWall = Date.now();
        tRestart = performance.now();
        lb1 = spawnTandem(lab, "n1", configs.n1);
        synced = await lb1.waitForLine((line) => line.event === "vrrp-sync", 20_000);
        master = await lb1.waitForLine((line) => line.event === "vrrp-transition" && line.to === "master", 20_000);
        assert.ok(await waitUntil(() => settledOn("n1", "n2"), 10_000), `the VIP settled on lb1: lb1 ${vrrpLines(lb1)} lb2 ${vrrpLines(lb2)}`);
        tSettled = performance.now();
        await roundsAfter(tSettled, 3, "through lb1 after it settled");
      } finally {
        stop = true;
        await loop;
      }

      // The restarted lb1: synced before it became master.
      const syncIndex = lb1.lines.findIndex((line) => line.event === "vrrp-sync");
      const masterIndex = lb1.lines.findIndex((line) => line.event === "vrrp-transition" && line.to === "master");
      assert.equal(synced.state, "synced", `lb1 had lb2's table before its wait ended: ${vrrpLines(lb1)}`);
      assert.ok(syncIndex < masterIndex, `vrrp-sync before the transition to master: ${vrrpLines(lb1)}`);
      const sinceRestart = (line: Record<string, unknown>) => Date.parse(String(line.time)) - restartWall;
      const tLb1Master = tRestart + sinceRestart(master);
      const sync = lab.admin("n1", "/api/v1/vrrp").sync;
      assert.equal(sync.state, "synced");
      assert.equal(sync.timeoutMs, 5_000, "syncTimeout defaults to 5s");
      assert.equal(typeof sync.waitedMs, "number");
      assert.equal(metricValue(metrics(lab, "n1"), "tandem_vrrp_sync_waiting"), 0);

      // Every request: the session's own member, or (only while the address moved) refused at the TCP level.
      const moves = [
        { name: "lb1 -> lb2", from: tKill, to: tLb2Serves, refused: 0 },
        { name: "lb2 -> lb1", from: tLb1Master - 250, to: tSettled, refused: 0 },
      ];
      const switched: string[] = [];
      const failed: string[] = [];
      const served = { before: new Set<number>(), during: new Set<number>(), after: new Set<number>() };
      for (const round of rounds) {
        round.outcomes.forEach((outcome, index) => {
          if (outcome.exit === 0 && outcome.status === 200) {
            if (outcome.backend !== members[index]) switched.push(`${ids[index]} (${members[index]}) answered by ${outcome.backend} in round ${round.index}`);
            if (round.ended < tKill) served.before.add(index);
            else if (round.started > tLb2Serves && round.ended < tLb1Master) served.during.add(index);
            else if (round.started > tSettled) served.after.add(index);
            return;
          }
          const move = moves.find((move) => round.started <= move.to && round.ended >= move.from);
          if (move && TCP_LEVEL.has(outcome.exit)) move.refused++;
          else failed.push(`${ids[index]} in round ${round.index} (${Math.round(round.started - tKill)} ms after the kill): curl exit ${outcome.exit}, HTTP ${outcome.status}`);
        });
      }
      assert.deepEqual(switched, [], "no session changed member");
      assert.deepEqual(failed, [], "no request failed outside the two moves of the address");
      for (const [phase, indices] of Object.entries(served)) assert.equal(indices.size, SESSIONS, `every session was served ${phase}`);
      const afterSettled = rounds.filter((round) => round.started > tSettled).flatMap((round) => round.outcomes);
      assert.ok(afterSettled.length >= 3 * SESSIONS && afterSettled.every((outcome) => outcome.exit === 0 && outcome.status === 200));

      // The access lines: lb2 and the returning lb1 found every session in their tables.
      const appLines = (lines: Record<string, unknown>[]) => lines.filter((line) => line.pool === "app" && typeof line.path === "string");
      const notHit = (lines: Record<string, unknown>[]) =>
        lines.filter((line) => line.sticky !== "hit" || line.member !== members[Number(String(line.path).match(/^\/s\/(\d+)/)?.[1])]);
      const lb1Lines = appLines(lb1.lines.slice(masterIndex));
      assert.deepEqual(notHit(lb1Lines), [], "lb1, once master, knew every session");
      assert.equal(new Set(lb1Lines.map((line) => String(line.path).match(/^\/s\/(\d+)/)?.[1])).size, SESSIONS);
      assert.deepEqual(notHit(appLines(lb2.lines)), [], "lb2 had every session from replication");

      const requests = rounds.reduce((sum, round) => sum + round.outcomes.length, 0);
      console.log(
        `[${runtime}] failback, ${SESSIONS} sessions: kill -> lb2 serves ${Math.round(tLb2Serves - tKill)} ms; ` +
          `restart -> vrrp-sync synced ${sinceRestart(synced)} ms (waited ${Math.round(Number(synced.waitedMs))} ms), -> master ${sinceRestart(master)} ms, ` +
          `-> VIP settled on lb1 ${Math.round(tSettled - tRestart)} ms; ${requests} requests in ${rounds.length} rounds, 0 switched, ` +
          `refused while the address moved: ${moves.map((move) => `${move.name} ${move.refused}`).join(", ")}; ` +
          `lb1 access lines after master: ${lb1Lines.length} hit`,
      );
    });
  });

  test("three nodes, one dead: every advertisement still reaches the live backup; send errors are counted, none skips a peer", { timeout: 120_000 }, async () => {
    await withLab(3, ["n1", "n2", "n3"], async (lab) => {
      // The dead node comes first in each list: a send error towards it must not cost the next peer its copy.
      const setup: Record<string, { priority: number; peers: string[] }> = {
        n1: { priority: 200, peers: ["n3", "n2"] },
        n2: { priority: 150, peers: ["n3", "n1"] },
        n3: { priority: 100, peers: ["n1", "n2"] },
      };
      const nodes = Object.fromEntries(lab.nodes.map((node) => [node, spawnTandem(lab, node, plainConfig(lab, node, setup[node].priority, setup[node].peers))]));
      await Promise.all(Object.values(nodes).map((node) => node.waitForLine((line) => line.event === "vrrp-transition", 20_000)));
      assert.ok(
        await waitUntil(() => masters(lab, lab.nodes).join() === "n1" && stateOf(lab, "n2") === "backup" && stateOf(lab, "n3") === "backup", 15_000),
        `n1 master, the others backup: ${lab.nodes.map((node) => vrrpLines(nodes[node])).join(" ")}`,
      );
      assert.equal(lab.admin("n1", "/api/v1/vrrp").sync.state, "off", "no replication, no wait");

      const errorsBefore = metricValue(metrics(lab, "n1"), "tandem_vrrp_send_errors_total");
      const killWall = Date.now();
      nodes.n3.kill("SIGKILL");
      await nodes.n3.exited;
      const linesAtKill = { n1: nodes.n1.lines.length, n2: nodes.n2.lines.length };
      // From the kill on, the master sends the same copies to both peers, the dead one first: its
      // kernel counts them as NoPorts, the backup's (whose only UDP traffic this is) as InDatagrams.
      // The window ends after 100 copies reached the dead node (5 s of advertisements), however
      // long the machine takes to send them.
      const atKill = { dead: lab.udpCounters("n3").NoPorts, backup: lab.udpCounters("n2").InDatagrams };
      const deadGot = () => lab.udpCounters("n3").NoPorts - atKill.dead;
      assert.ok(await waitUntil(() => deadGot() >= 100, 60_000, 100), `the master kept sending to the dead peer: ${deadGot()} copies`);
      const received = lab.udpCounters("n2").InDatagrams - atKill.backup;
      const sentToDead = deadGot();
      const errorsAfter = metricValue(metrics(lab, "n1"), "tandem_vrrp_send_errors_total");
      const backupErrors = metricValue(metrics(lab, "n2"), "tandem_vrrp_send_errors_total");

      const transitionsSinceKill = (node: "n1" | "n2") => nodes[node].lines.slice(linesAtKill[node]).filter((line) => line.event === "vrrp-transition");
      const backupTransitions = transitionsSinceKill("n2").map((line) => `${line.from}->${line.to} ${Date.parse(String(line.time)) - killWall} ms after the kill`);
      console.log(
        `[${runtime}] three nodes, one dead, ${((Date.now() - killWall) / 1000).toFixed(1)} s: the backup received ${received} advertisement copies, the dead peer ${sentToDead}; ` +
          `send errors on the master ${errorsBefore} -> ${errorsAfter}, on the backup ${backupErrors}; backup transitions since the kill: ${backupTransitions.join(", ") || "none"}`,
      );

      assert.deepEqual(backupTransitions, [], "the backup never became master");
      assert.deepEqual(transitionsSinceKill("n1"), [], "the master stayed master");
      assert.equal(stateOf(lab, "n1"), "master");
      assert.equal(stateOf(lab, "n2"), "backup");
      for (const node of ["n1", "n2"]) {
        assert.deepEqual(nodes[node].lines.filter((line) => line.event === "vrrp-send-failed"), [], `${node} logged no vrrp-send-failed`);
      }
      // The two counters are read a moment apart: a copy or two may be on its way.
      assert.ok(received >= sentToDead - 4, `the backup received ${received} advertisement copies, the dead peer ${sentToDead}: a send error cost the backup its copies`);
      assert.ok(errorsBefore !== undefined && errorsAfter !== undefined, "tandem_vrrp_send_errors_total is exposed");
      if (runtime === "bun") {
        // Bun throws ECONNREFUSED on the send after the dead peer's ICMP port unreachable came back.
        assert.ok(errorsAfter > errorsBefore, `send errors grew on the master: ${errorsBefore} -> ${errorsAfter}`);
      } else {
        // Deno does not report ICMP errors on a UDP send: the counter may stay 0 there.
        assert.ok(errorsAfter >= errorsBefore);
      }
    });
  });
});
