/**
 * ACME in an HA pair, end to end on the test's runtime against pebble: two tandem processes
 * replicating over mutual TLS. lb1 (the lowest name, no VRRP) orders; pebble's DNS sends every
 * name to 127.0.0.2, where only lb2's plain listener is, so the http-01 request can only be
 * answered from the token lb1 replicated (lb2's pool is down: the answer comes before routing);
 * lb2 then serves the certificate lb1 obtained, and again after a restart without lb1. With VRRP
 * (unicast on loopback, no virtual address) the master orders, and the backup renews once it
 * takes over.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCertificates, servedCertificate } from "../support/certs.ts";
import { type Pebble, pebbleMissing, startPebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { startTandem, type TandemProcess } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("acme-cluster.test.ts", pebbleMissing);
const DOMAIN = "shop.test";

interface PairNodeOptions {
  pebble: Pebble;
  caCert: string;
  root: string;
  name: string;
  /** This node's cluster port, and its peer's name and port. */
  own: number;
  peer: string;
  peerPort: number;
  leaf: { cert: string; key: string };
  /** Where its plain listener answers http-01, on pebble's httpPort. */
  httpAddress: string;
  acme?: Record<string, unknown>;
  vrrp?: Record<string, unknown>;
}

/** One node of the pair: an ACME listener, a plain listener, admin, replication over mutual TLS; its pool is down. */
function pairNode({ pebble, caCert, root, name, own, peer, peerPort, leaf, httpAddress, acme, vrrp }: PairNodeOptions) {
  const storage = join(root, name);
  mkdirSync(storage);
  return {
    storage,
    config: {
      listeners: [
        { address: "127.0.0.1:0", tls: { acme: { directory: pebble.directory, trustedCa: pebble.tlsCertFile, domains: [DOMAIN], storage, retryMin: "1s", retryMax: "2s", ...acme } } },
        { address: `${httpAddress}:${pebble.httpPort}`, redirectToHttps: 443 },
      ],
      admin: { address: "127.0.0.1:0" },
      pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } },
      stateFile: false,
      cluster: {
        name: "pair",
        node: name,
        listen: `127.0.0.1:${own}`,
        peers: [{ name: peer, address: `127.0.0.1:${peerPort}` }],
        tls: { cert: leaf.cert, key: leaf.key, ca: caCert },
        heartbeat: "500ms",
        deadAfter: "2s",
      },
      ...(vrrp ? { vrrp } : {}),
    },
  };
}

test("HA pair: lb1 orders, lb2 answers the CA's http-01 from the replicated token and serves the same certificate", { skip, timeout: 180_000 }, async () => {
  const pebble = await startPebble({ answerAddress: "127.0.0.2" });
  const certs = await makeCertificates();
  const [portA, portB] = [await freePort(), await freePort()];
  const root = mkdtempSync(join(tmpdir(), "tandem-acme-pair-"));
  const node = (name: string, own: number, peer: string, peerPort: number, leaf: { cert: string; key: string }, httpAddress: string) =>
    pairNode({ pebble, caCert: certs.ca.cert, root, name, own, peer, peerPort, leaf, httpAddress });
  const lb1 = node("lb1", portA, "lb2", portB, certs.peer1, "127.0.0.1");
  const lb2 = node("lb2", portB, "lb1", portA, certs.peer2, "127.0.0.2");
  let first: TandemProcess | undefined;
  let second: TandemProcess | undefined;
  try {
    second = await startTandem(lb2.config);
    first = await startTandem(lb1.config);
    const obtained = await first.waitForLine((l) => l.event === "acme-certificate-obtained", 90_000);
    await second.waitForLine((l) => l.event === "acme-certificate-replicated", 30_000);

    assert.equal(second.lines.some((l) => l.event === "acme-order"), false, "lb2 never orders");
    assert.ok(first.lines.some((l) => l.event === "acme-order"));
    // The control for "answered by lb2": pebble validated at 127.0.0.2, where lb1 does not listen.
    assert.match(pebble.output(), /127\.0\.0\.2/);

    const rootFile = join(root, "pebble-root.pem");
    writeFileSync(rootFile, await pebble.issuingRootPem());
    const options = { servername: DOMAIN, caFile: rootFile, extra: ["-verify_hostname", DOMAIN] };
    const [fromFirst, fromSecond] = [await servedCertificate(first.ports[0], options), await servedCertificate(second.ports[0], options)];
    assert.equal(fromSecond.verify, "0 (ok)", fromSecond.output);
    assert.equal(fromSecond.serial, fromFirst.serial, "the same certificate on both nodes");
    assert.equal(String(obtained.file).startsWith(lb1.storage), true);

    const readyz = async (process: TandemProcess) => {
      const line = await process.waitForLine((l) => l.event === "admin-listening");
      const response = await fetch(`http://${line.address}/readyz`);
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await readyz(second), 200, "lb2 is ready with lb1's certificate");
    const caFolder = `${new URL(pebble.directory).host.replace(":", "_")}_dir`;
    assert.equal(existsSync(join(lb2.storage, caFolder, "account.json")), true, "the account reached lb2 too (it takes over renewals with it)");
    assert.equal(existsSync(join(lb2.storage, caFolder, DOMAIN, "cert.pem")), true, "and the certificate, for its next start");

    // lb2 alone again (lb1 gone): it starts with that certificate from its own storage.
    assert.equal(await first.stop(), 0);
    first = undefined;
    assert.equal(await second.stop(), 0);
    second = await startTandem(lb2.config);
    await second.waitForLine((l) => l.event === "acme-certificate-loaded");
    const afterRestart = await servedCertificate(second.ports[0], options);
    assert.equal(afterRestart.serial, fromFirst.serial);
    assert.equal(await readyz(second), 200);
  } finally {
    await first?.stop();
    await second?.stop();
    await pebble.stop();
  }
});

test("HA pair with VRRP: the master orders; when it leaves, the new master renews with the shared account", { skip, timeout: 180_000 }, async () => {
  // 75 s certificates renewed 60 s before their end: a renewal falls due about 15 s after each order.
  // Names resolve to 127.0.0.1, lb1's: the backup answers the master's challenge, then its own.
  const pebble = await startPebble({ validitySeconds: 75 });
  const certs = await makeCertificates();
  const [portA, portB, vrrpPort] = [await freePort(), await freePort(), await freePort()];
  const root = mkdtempSync(join(tmpdir(), "tandem-acme-vrrp-"));
  // Unicast VRRP between 127.0.0.1 and 127.0.0.2 without a virtual address: no `ip addr` runs.
  const vrrp = (address: string, peer: string, priority: number) => ({
    key: "the acme pair's vrrp key",
    address,
    port: vrrpPort,
    peers: [peer],
    instances: [{ name: "web", vrid: 52, priority, interface: "lo", advertInterval: "100ms", virtualAddresses: [] }],
  });
  const common = { pebble, caCert: certs.ca.cert, root, acme: { renewBefore: "60s" } };
  const lb1 = pairNode({ ...common, name: "lb1", own: portA, peer: "lb2", peerPort: portB, leaf: certs.peer1, httpAddress: "127.0.0.1", vrrp: vrrp("127.0.0.1", "127.0.0.2", 100) });
  // lb2 has the higher priority: the master is not simply the lowest name.
  const lb2 = pairNode({ ...common, name: "lb2", own: portB, peer: "lb1", peerPort: portA, leaf: certs.peer2, httpAddress: "127.0.0.2", vrrp: vrrp("127.0.0.2", "127.0.0.1", 150) });
  let first: TandemProcess | undefined;
  let second: TandemProcess | undefined;
  try {
    first = await startTandem(lb1.config);
    second = await startTandem(lb2.config);
    await second.waitForLine((l) => l.event === "acme-certificate-obtained", 90_000);
    await first.waitForLine((l) => l.event === "acme-certificate-replicated", 30_000);
    assert.equal(first.lines.some((l) => l.event === "acme-order"), false, "the backup (lb1, the lowest name) does not order");

    // lb2 resigns (priority 0 on SIGTERM): lb1 becomes master and renews when the renewal falls due.
    assert.equal(await second.stop(), 0);
    second = undefined;
    await first.waitForLine((l) => l.event === "vrrp-transition" && l.to === "master", 30_000);
    const renewed = await first.waitForLine((l) => l.event === "acme-certificate-obtained", 90_000);
    assert.equal(String(renewed.file).startsWith(lb1.storage), true);
    assert.equal(first.lines.some((l) => l.event === "acme-account" && l.created === true), false, "lb2's account, shared, not a new one");
    const rootFile = join(root, "pebble-root.pem");
    writeFileSync(rootFile, await pebble.issuingRootPem());
    const served = await servedCertificate(first.ports[0], { servername: DOMAIN, caFile: rootFile, extra: ["-verify_hostname", DOMAIN] });
    assert.equal(served.verify, "0 (ok)", served.output);
  } finally {
    await first?.stop();
    await second?.stop();
    await pebble.stop();
  }
});
