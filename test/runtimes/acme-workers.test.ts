/**
 * `tls.acme` with `workers: 2` end to end on the test's runtime, against a real CA (Debian's
 * pebble, validating for real: its DNS answers every name with 127.0.0.1, so each http-01 check
 * is a new connection to the plain listener the two workers share with SO_REUSEPORT). Worker 0
 * orders; each challenge is answered by whichever worker the kernel hands the CA's connection to
 * (several domains per order, no reuse of authorizations, so both are asked); both workers serve
 * the certificate and its renewal; a restart serves the stored certificate on both.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBackend } from "../support/backends.ts";
import { describeCertificate } from "../support/certs.ts";
import type { Line } from "../support/json-lines.ts";
import { type Pebble, pebbleMissing, startPebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { startTandem, type TandemProcess } from "../support/tandem.ts";
import { tlsGetSerial } from "../support/tls-get.ts";
import { requireTool } from "../support/tools.ts";
import { eventually } from "../support/waiting.ts";

const skip = requireTool("acme-workers.test.ts", pebbleMissing);
const LIMIT = { skip, timeout: 240_000 };
const DOMAINS = ["a.shop.test", "b.shop.test", "c.shop.test", "d.shop.test", "e.shop.test", "f.shop.test"];
const WORKERS = [0, 1];

function acmeConfig(pebble: Pebble, tlsPort: number, storage: string, backendUrl: string, renewBefore: string) {
  return {
    workers: 2,
    listeners: [
      { address: `127.0.0.1:${tlsPort}`, tls: { acme: { directory: pebble.directory, trustedCa: pebble.tlsCertFile, domains: DOMAINS, storage, renewBefore } } },
      { address: `127.0.0.1:${pebble.httpPort}`, redirectToHttps: 443 },
    ],
    admin: { address: "127.0.0.1:0" },
    pools: { app: { members: [{ name: "a", url: backendUrl }] } },
    stateFile: false,
  };
}

const linesOf = (tandem: TandemProcess, event: string, worker?: number) =>
  tandem.lines.filter((line) => line.event === event && (worker === undefined || line.worker === worker));

/** Waits until every worker logged `count` lines of `event`. */
async function onEveryWorker(tandem: TandemProcess, event: string, count = 1, timeoutMs = 60_000): Promise<void> {
  await tandem.waitForLine(() => WORKERS.every((worker) => linesOf(tandem, event, worker).length >= count), timeoutMs);
}

let requestCount = 0;

/**
 * 16 GETs, each on a new TLS connection with SNI of the first domain and a path of its own: the
 * serial each was shown, with the worker whose access line has that path. The chain is checked by
 * acme.test.ts (s_client); here the serial tells the CA's certificate from the placeholder.
 */
async function tlsRound(tandem: TandemProcess, port: number): Promise<{ serial: string; worker: unknown }[]> {
  const serials = new Map<string, string>();
  for (let i = 0; i < 16; i++) {
    const path = `/acme-workers-${++requestCount}`;
    serials.set(path, _serial(await tlsGetSerial(port, { servername: DOMAINS[0], path })));
  }
  const accessLines = () => tandem.lines.filter((line) => typeof line.status === "number" && serials.has(String(line.path)));
  await tandem.waitForLine(() => accessLines().length >= serials.size);
  return accessLines().map((line: Line) => ({ serial: serials.get(String(line.path))!, worker: line.worker }));
}

/** Serials compared without leading zeros: openssl and node:tls spell them differently. */
const _serial = (serial: string) => serial.toUpperCase().replace(/^0+/, "");

async function storedSerial(obtained: Record<string, unknown>): Promise<string> {
  return _serial((await describeCertificate(readFileSync(String(obtained.file), "utf8"))).serial);
}

/** Every one of 16 new connections saw `serial`, and both workers answered some of them. */
async function bothServe(tandem: TandemProcess, port: number, serial: string, what: string): Promise<void> {
  const round = await tlsRound(tandem, port);
  assert.deepEqual([...new Set(round.map((seen) => seen.serial))], [serial], `${what}: ${JSON.stringify(round)}`);
  assert.deepEqual(new Set(round.map((seen) => seen.worker)), new Set(WORKERS), `${what}: both workers answered`);
}

async function readyz(admin: string): Promise<number> {
  const response = await fetch(`${admin}/readyz`);
  await response.body?.cancel();
  return response.status;
}

async function adminUrl(tandem: TandemProcess): Promise<string> {
  const line = await tandem.waitForLine((l) => l.event === "admin-listening");
  return `http://${line.address}`;
}

test("workers: 2 with tls.acme: worker 0 orders, both workers answer the CA's http-01 and serve the certificate and its renewal; a restart serves the stored one on both", LIMIT, async () => {
  // No reuse of valid authorizations: the renewal is validated again, and asks the workers again.
  const pebble = await startPebble({ validitySeconds: 180, env: { PEBBLE_AUTHZREUSE: "0" } });
  const backend = await startBackend("a");
  const storage = mkdtempSync(join(tmpdir(), "tandem-acme-workers-"));
  const tlsPort = await freePort();
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem(acmeConfig(pebble, tlsPort, storage, backend.url, "165s"));
    const admin = await adminUrl(tandem);
    const obtained = await tandem.waitForLine((l) => l.event === "acme-certificate-obtained", 90_000);
    assert.equal(obtained.worker, 0, "worker 0 orders");
    await onEveryWorker(tandem, "tls-updated");
    // Logged once it serves (after its tls-updated): worker 1 installed worker 0's certificate.
    await tandem.waitForLine((l) => l.event === "acme-certificate-replicated" && l.worker === 1);
    const first = await storedSerial(obtained);
    await bothServe(tandem, tlsPort, first, "the first certificate");
    assert.equal(await readyz(admin), 200);
    const [status] = await (await fetch(`${admin}/api/v1/acme`)).json();
    assert.equal(status.state, "valid");
    const orders = (await (await fetch(`${admin}/metrics`)).text()).split("\n").filter((line) => line.startsWith("tandem_acme_orders_total{") && line.includes('outcome="ok"'));
    assert.equal(orders.length, 1, `worker 0's series alone: ${orders.join()}`);
    assert.match(orders[0], / 1$/);

    // 180 s of validity, renewBefore 165 s: worker 0 renews 6 to 15 s later.
    await eventually(() => (linesOf(tandem!, "acme-certificate-obtained", 0).length >= 2 ? true : undefined), 90_000, "the renewal");
    await onEveryWorker(tandem, "tls-updated", 2);
    const renewed = await storedSerial(linesOf(tandem, "acme-certificate-obtained", 0)[1]);
    assert.notEqual(renewed, first, "control: a new certificate");
    await bothServe(tandem, tlsPort, renewed, "the renewed certificate");

    assert.deepEqual(linesOf(tandem, "acme-failed"), [], "no challenge went unanswered");
    for (const line of ["acme-order", "acme-account", "acme-certificate-obtained"]) assert.deepEqual(linesOf(tandem, line, 1), [], `worker 1 logs no ${line}`);
    // Pebble asks for each token several times (as from several vantage points), each on a new connection.
    const tokens = new Set(linesOf(tandem, "acme-challenge-answered").map((line) => line.token));
    assert.equal(tokens.size, 2 * DOMAINS.length, "every domain's token answered, in both orders");
    const answered = WORKERS.map((worker) => linesOf(tandem!, "acme-challenge-answered", worker).length);
    assert.ok(answered.every((count) => count >= 1), `the CA reached both workers: ${answered}`);
    assert.equal(await tandem.stop(), 0);

    // A renewal is due 60 s before the end only: the restart serves what is stored.
    tandem = await startTandem(acmeConfig(pebble, tlsPort, storage, backend.url, "60s"));
    const restartedAdmin = await adminUrl(tandem);
    await onEveryWorker(tandem, "acme-certificate-loaded");
    await tandem.waitForLine(() => WORKERS.every((worker) => linesOf(tandem!, "listening", worker).some((line) => line.address === `127.0.0.1:${tlsPort}`)));
    await bothServe(tandem, tlsPort, renewed, "after the restart");
    assert.equal(await readyz(restartedAdmin), 200);
    assert.deepEqual(linesOf(tandem, "acme-order"), [], "no order");
  } finally {
    await tandem?.stop();
    await backend.close();
    await pebble.stop();
  }
});
