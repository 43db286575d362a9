/**
 * ACME with `workers: N`, core side: two workers wired as serve.ts wires them (replica store,
 * worker sync over an in-memory BroadcastChannel, acmeReplication, AcmeCertificates) on one
 * in-memory file system, with a fake clock and an in-memory CA. Worker 0 alone orders and writes
 * the files; the other answers the CA's http-01 request while worker 0's order waits for it, and
 * installs the certificate and its renewal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { AcmeCertificates, type AcmePlatform } from "../../../core/acme/acme-certificates.ts";
import { generateKeyPem, selfSignedPem } from "../../../core/acme/client.ts";
import { acmeReplication } from "../../../core/acme/cluster.ts";
import type { AcmeIssuer } from "../../../core/acme/managed-certificate.ts";
import { createBalancer } from "../../../core/balancer/balancer.ts";
import { ReplicaStore } from "../../../core/cluster/replication/replica-store.ts";
import { ListenerSchema } from "../../../core/config/schema.ts";
import type { ListenerTls } from "../../../core/tls/certificate.ts";
import { createWorkerSync, type SyncMessage } from "../../../core/worker-sync.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { fakeFarm, poolConfig } from "../../support/fake-upstream.ts";
import { MemoryBroadcastHub } from "../../support/memory-broadcast.ts";
import { eventually } from "../../support/waiting.ts";

const START = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const LIFETIME = 24 * HOUR;
const DIRECTORY = "https://ca.test/dir";
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
const challengeTarget = (token: string) => `/.well-known/acme-challenge/${token}`;

/** One file system for the process; each write is noted with the worker that made it. */
function sharedFiles(clock: FakeClock) {
  const files = new Map<string, string>();
  const writes: { worker: number; path: string }[] = [];
  const platformOf = (worker: number): AcmePlatform => ({
    clock,
    env: () => undefined,
    fetch: () => Promise.reject(new Error("no network in this test")),
    fetchTrusting: () => () => Promise.reject(new Error("no network in this test")),
    readTextFile: async (path) => files.get(path) ?? Promise.reject(new Error(`${path}: no such file`)),
    writeTextFileAtomic: async (path, text) => void (files.set(path, text), writes.push({ worker, path })),
    makeDirectory: async () => {},
    exists: async (path) => files.has(path),
  });
  return { writes, platformOf };
}

/** The CA: for each order, publishes a token, asks `look` what the workers answer, withdraws it, and signs. */
class MemoryCa {
  opened = 0;
  orders = 0;
  constructor(readonly clock: FakeClock, readonly look: (token: string) => (number | undefined)[]) {}
  open = async (): Promise<AcmeIssuer> => {
    this.opened++;
    return {
      account: { url: "https://ca.test/acct/1", keyPem: "account key" },
      obtain: async (request, responder) => {
        const token = `token-${++this.orders}`;
        await responder.publishHttp01(token, `${token}.thumbprint`, request.domains[0]);
        this.seen.push(this.look(token));
        await responder.withdraw(request.domains[0], token);
        const keyPem = await generateKeyPem("ec-p256");
        return { keyPem, certPem: await selfSignedPem(request.domains, keyPem, LIFETIME, this.clock.now()), notBefore: this.clock.now(), notAfter: this.clock.now() + LIFETIME };
      },
      renewalInfo: async () => null,
    };
  };
  /** What each worker answered to the CA's look, per order. */
  readonly seen: (number | undefined)[][] = [];
}

function startWorker(hub: MemoryBroadcastHub<SyncMessage>, clock: FakeClock, platform: AcmePlatform, index: number, ca: MemoryCa) {
  const balancer = createBalancer(poolConfig([{ name: "a" }]), { clock, upstream: fakeFarm(["a"]).upstream, log: () => {} });
  const store = new ReplicaStore({ node: "local", pools: () => balancer.pools, clock });
  const sync = createWorkerSync({ worker: { index, count: 2 }, clock, store, balancer, reload: () => {}, channel: hub.open(), stats: () => ({}) });
  const events: Record<string, unknown>[] = [];
  let installs = 0;
  const certificates = new AcmeCertificates({
    platform,
    log: (record) => void events.push(record),
    changed: async () => void installs++,
    random: () => 0,
    replication: acmeReplication({ store, cluster: () => undefined, vrrp: () => undefined, clock, workers: { lead: index === 0, flushed: sync.flushed } }),
    openClient: ca.open,
  });
  return { certificates, sync, events, installs: () => installs };
}

const listeners = [v.parse(ListenerSchema, { address: ":443", tls: { acme: { directory: DIRECTORY, domains: ["shop.test"], renewBefore: "8h" } } })];
const files = { acmeCa: new Map(), listenerTls: new Map<string, ListenerTls>([[":443", { certificates: [], minVersion: "1.2" }]]) };
const servedCert = (certificates: AcmeCertificates) => certificates.withCertificates(files.listenerTls).get(":443")!.certificates[0];

test("workers: worker 0 orders and keeps the files; the other answers the CA's http-01 while the order waits, and installs the certificate and its renewal", async () => {
  const clock = new FakeClock(START);
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const { writes, platformOf } = sharedFiles(clock);
  const workers: ReturnType<typeof startWorker>[] = [];
  const ca = new MemoryCa(clock, (token) => workers.map(({ certificates }) => certificates.answerChallenge({ method: "GET", target: challengeTarget(token) })?.status));
  workers.push(startWorker(hub, clock, platformOf(0), 0, ca), startWorker(hub, clock, platformOf(1), 1, ca));
  const [lead, other] = workers;
  for (const worker of workers) assert.deepEqual(await worker.certificates.apply(listeners, "/etc/tandem/tandem.yaml", files), []);
  assert.equal(other.certificates.ready(), false, "the placeholder at first");

  clock.advance(0);
  await eventually(() => (other.certificates.ready() ? true : undefined), 20_000, "the certificate on the other worker");
  assert.deepEqual(ca.seen, [[200, 200]], "both workers answered while the CA looked");
  assert.equal(ca.opened, 1, "one account, opened by worker 0");
  assert.equal(servedCert(other.certificates).cert, servedCert(lead.certificates).cert);
  assert.equal(other.installs(), 1);
  assert.equal(other.certificates.answerChallenge({ method: "GET", target: challengeTarget("token-1") })?.status, 404, "withdrawn on the other worker too");
  assert.ok(writes.length > 0);
  assert.deepEqual(writes.filter((write) => write.worker !== 0), [], "only worker 0 writes the account and the certificate");
  assert.equal(other.events.filter((line) => line.event === "acme-challenge-answered").length, 1, "the answer is logged by the worker that gave it");
  assert.equal(other.certificates.status()[0].nextAttempt, undefined, "the other worker plans no order");
  assert.equal(lead.certificates.status()[0].nextAttempt, START + LIFETIME - 8 * HOUR);

  clock.advance(LIFETIME - 8 * HOUR);
  await eventually(() => (servedCert(other.certificates).cert !== servedCert(lead.certificates).cert || ca.orders < 2 ? undefined : true), 20_000, "the renewal");
  await eventually(() => (other.installs() === 2 ? true : undefined), 20_000, "the renewal on the other worker");
  assert.equal(servedCert(other.certificates).cert, servedCert(lead.certificates).cert);
  assert.deepEqual(ca.seen, [[200, 200], [200, 200]]);
  assert.deepEqual(writes.filter((write) => write.worker !== 0), []);
  for (const worker of workers) worker.certificates.stop();
});

test("workers: a worker that starts after worker 0 obtained gets the certificate in the answer to its hello", async () => {
  const clock = new FakeClock(START);
  const hub = new MemoryBroadcastHub<SyncMessage>();
  const { platformOf } = sharedFiles(clock);
  const ca = new MemoryCa(clock, () => []);
  const lead = startWorker(hub, clock, platformOf(0), 0, ca);
  await lead.certificates.apply(listeners, undefined, files);
  clock.advance(0);
  await eventually(() => (lead.events.some((line) => line.event === "acme-order") ? true : undefined), 20_000, "the order");
  clock.advance(4999);
  await settled();
  assert.deepEqual(ca.seen, [], "the CA is not told to look while the flush waits for the other worker");
  clock.advance(1);
  await eventually(() => (lead.certificates.ready() ? true : undefined), 20_000, "the certificate on worker 0, after the bound");
  // Its files are elsewhere (no config path): the restarted worker can only have it from worker 0.
  const late = startWorker(hub, clock, sharedFiles(clock).platformOf(1), 1, ca);
  await late.certificates.apply(listeners, undefined, files);
  assert.equal(late.certificates.ready(), true);
  assert.equal(servedCert(late.certificates).cert, servedCert(lead.certificates).cert);
  assert.equal(ca.orders, 1, "no order of its own");

  const alone = startWorker(new MemoryBroadcastHub<SyncMessage>(), clock, sharedFiles(clock).platformOf(1), 1, ca);
  await alone.certificates.apply(listeners, undefined, files);
  assert.equal(alone.certificates.ready(), false, "control: without worker 0 on its channel, the placeholder");
  clock.advance(HOUR);
  assert.equal(ca.orders, 1, "and a follower never orders");
  for (const worker of [lead, late, alone]) worker.certificates.stop();
});
