/**
 * tandem with `tls.acme` end to end on the test's runtime, against a real CA: Debian's pebble,
 * whose DNS (pebble-challtestsrv) answers every name with 127.0.0.1, so pebble's http-01
 * validation reaches tandem's plain listener on pebble's `httpPort`. The placeholder serves and
 * /readyz says 503 until the first certificate; openssl s_client then sees the CA's chain; a
 * short-lived certificate is renewed early; a CA refusal backs off and is shown; EAB; a restart
 * reuses the stored account and certificate; `check` refuses what cannot work.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCertificates, servedCertificate } from "../support/certs.ts";
import { startBackend } from "../support/backends.ts";
import { type Pebble, pebbleMissing, startPebble } from "../support/pebble.ts";
import { runTandem, startTandem, type TandemProcess, writeConfig } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";
import { eventually } from "../support/waiting.ts";

const skip = requireTool("acme.test.ts", pebbleMissing);
const LIMIT = { skip, timeout: 180_000 };
const DOMAIN = "shop.test";
const EAB_KEY_ID = "kid-tandem";
const EAB_HMAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

/** A plain listener on pebble's httpPort (http-01, else a redirect), an ACME TLS listener, admin, one backend. */
function acmeConfig(pebble: Pebble, storage: string, acme: Record<string, unknown> = {}, backendUrl = "http://127.0.0.1:9") {
  return {
    listeners: [
      { address: "127.0.0.1:0", tls: { acme: { directory: pebble.directory, trustedCa: pebble.tlsCertFile, domains: [DOMAIN], storage, ...acme } } },
      { address: `127.0.0.1:${pebble.httpPort}`, redirectToHttps: 443 },
    ],
    admin: { address: "127.0.0.1:0" },
    pools: { app: { members: [{ name: "a", url: backendUrl }] } },
    stateFile: false,
  };
}

async function adminUrl(tandem: TandemProcess): Promise<string> {
  const line = await tandem.waitForLine((l) => l.event === "admin-listening");
  return `http://${line.address}`;
}

async function readyz(admin: string): Promise<number> {
  const response = await fetch(`${admin}/readyz`);
  await response.body?.cancel();
  return response.status;
}

async function metric(admin: string, name: string): Promise<string[]> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith(`${name}{`));
}

/** s_client's view of the TLS listener, verified against pebble's issuing root. */
async function served(tandem: TandemProcess, pebble: Pebble) {
  const dir = mkdtempSync(join(tmpdir(), "tandem-acme-root-"));
  const caFile = join(dir, "root.pem");
  writeFileSync(caFile, await pebble.issuingRootPem());
  return await servedCertificate(tandem.ports[0], { servername: DOMAIN, caFile, extra: ["-verify_hostname", DOMAIN] });
}

const storageDir = () => mkdtempSync(join(tmpdir(), "tandem-acme-storage-"));
const ordersOk = (tandem: TandemProcess) => tandem.lines.filter((line) => line.event === "acme-certificate-obtained").length;

test("obtains over http-01, serves the CA's chain, renews a short-lived certificate early, and a restart reuses account and certificate", LIMIT, async () => {
  const pebble = await startPebble({ validitySeconds: 75 });
  const backend = await startBackend("a");
  const storage = storageDir();
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem(acmeConfig(pebble, storage, { renewBefore: "60s" }, backend.url));
    const admin = await adminUrl(tandem);
    const obtained = await tandem.waitForLine((l) => l.event === "acme-certificate-obtained", 60_000);
    await tandem.waitForLine((l) => l.event === "tls-updated", 30_000);
    assert.equal(tandem.lines.find((l) => l.event === "acme-account")?.created, true);

    const first = await served(tandem, pebble);
    assert.equal(first.connected, true, first.output);
    assert.equal(first.verify, "0 (ok)", first.output);
    assert.ok(first.chainLength >= 2, `leaf and intermediate: ${first.chainLength}`);
    assert.equal(await readyz(admin), 200);
    assert.match((await metric(admin, "tandem_acme_certificate_ready")).join(), / 1$/);
    assert.equal((await metric(admin, "tandem_acme_orders_total")).find((line) => line.includes('outcome="ok"'))?.endsWith(" 1"), true);
    const [status] = await (await fetch(`${admin}/api/v1/acme`)).json();
    assert.equal(status.state, "valid");
    assert.deepEqual(status.domains, [DOMAIN]);
    assert.ok(status.notAfter > Date.now() && status.nextAttempt < status.notAfter, JSON.stringify(status));

    // The plain listener answered pebble's http-01 and still redirects everything else.
    const redirect = await fetch(`http://127.0.0.1:${pebble.httpPort}/cart`, { redirect: "manual" });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get("location"), "https://127.0.0.1/cart");
    const stored = String(obtained.file);
    assert.equal(statSync(stored).mode & 0o777, 0o600);
    assert.equal(statSync(stored.replace(/cert\.pem$/, "key.pem")).mode & 0o777, 0o600);
    assert.match(readFileSync(stored, "utf8"), /BEGIN CERTIFICATE[\s\S]*BEGIN CERTIFICATE/);

    // 75 s of validity, renewBefore 60 s: the renewal comes about 15 s later.
    await eventually(() => (ordersOk(tandem!) >= 2 ? true : undefined), 90_000, "the early renewal");
    await eventually(() => (tandem!.lines.filter((l) => l.event === "tls-updated").length >= 2 ? true : undefined), 30_000, "the renewed certificate installed");
    const renewed = await served(tandem, pebble);
    assert.equal(renewed.verify, "0 (ok)", renewed.output);
    assert.notEqual(renewed.serial, first.serial, "a new certificate");
    assert.equal(await tandem.stop(), 0);

    // The default renewBefore (a third of 75 s) puts the next renewal well after the checks below.
    tandem = await startTandem(acmeConfig(pebble, storage, {}, backend.url));
    const restartedAdmin = await adminUrl(tandem);
    await tandem.waitForLine((l) => l.event === "acme-certificate-loaded");
    assert.equal(await readyz(restartedAdmin), 200, "ready at once with the stored certificate");
    const afterRestart = await served(tandem, pebble);
    assert.equal(afterRestart.serial, renewed.serial, "the stored certificate, not a new order");
    assert.equal(tandem.lines.some((l) => l.event === "acme-order" || l.event === "acme-account"), false, "no order and no new account yet");
  } finally {
    await tandem?.stop();
    await backend.close();
    await pebble.stop();
  }
});

test("until the first certificate the placeholder serves and /readyz is 503; a CA refusal backs off, shown in log and metrics, until a reload fixes it", LIMIT, async () => {
  const pebble = await startPebble({ blockedDomains: [DOMAIN] });
  const storage = storageDir();
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem(acmeConfig(pebble, storage, { retryMin: "1s", retryMax: "2s" }));
    const admin = await adminUrl(tandem);
    const failures = () => tandem!.lines.filter((l) => l.event === "acme-failed");
    await eventually(() => (failures().length >= 3 ? true : undefined), 60_000, "three failed orders");
    assert.equal(failures()[0].code, "rejected-identifier");
    assert.match(String(failures()[0].message), /shop\.test/);
    assert.deepEqual(failures().slice(0, 3).map((l) => l.retryInMs), [1000, 2000, 2000], "doubling, capped at retryMax");
    assert.equal(await readyz(admin), 503);
    const placeholder = await servedCertificate(tandem.ports[0], { servername: DOMAIN });
    assert.equal(placeholder.connected, true, placeholder.output);
    assert.equal(placeholder.issuer, placeholder.subject, "self-signed");
    assert.equal(placeholder.cn, DOMAIN);
    const failing = await metric(admin, "tandem_acme_consecutive_failures");
    assert.ok(Number(failing[0]?.split(" ").pop()) >= 3, failing.join());
    assert.match((await metric(admin, "tandem_acme_certificate_ready")).join(), / 0$/);
    const [status] = await (await fetch(`${admin}/api/v1/acme`)).json();
    assert.equal(status.state, "placeholder");
    assert.equal(status.lastError.code, "rejected-identifier");

    // A name the CA accepts (its blocklist covers subdomains too): the reload starts over with it.
    writeFileSync(tandem.configPath!, JSON.stringify(acmeConfig(pebble, storage, { domains: ["other.test"], retryMin: "1s", retryMax: "2s" })));
    tandem.signal("SIGHUP");
    await tandem.waitForLine((l) => l.event === "acme-certificate-obtained", 60_000);
    await eventually(async () => (await readyz(admin)) === 200 ? true : undefined, 30_000, "/readyz 200");
    const real = await servedCertificate(tandem.ports[0], { servername: "other.test" });
    assert.notEqual(real.issuer, real.subject, "the CA's certificate");
  } finally {
    await tandem?.stop();
    await pebble.stop();
  }
});

test("External Account Binding: refused without it (the CA's words shown), obtained with it", LIMIT, async () => {
  const pebble = await startPebble({ eabRequired: true, eabKeys: { [EAB_KEY_ID]: EAB_HMAC } });
  const storage = storageDir();
  let tandem: TandemProcess | undefined;
  try {
    tandem = await startTandem(acmeConfig(pebble, storage));
    const failed = await tandem.waitForLine((l) => l.event === "acme-failed", 60_000);
    assert.equal(failed.code, "eab-required", JSON.stringify(failed));
    writeFileSync(tandem.configPath!, JSON.stringify(acmeConfig(pebble, storage, { eab: { keyId: EAB_KEY_ID, hmacKey: EAB_HMAC } })));
    tandem.signal("SIGHUP");
    await tandem.waitForLine((l) => l.event === "acme-certificate-obtained", 60_000);
    const [caFolder] = readdirSync(storage);
    const account = JSON.parse(readFileSync(join(storage, caFolder, "account.json"), "utf8"));
    assert.equal(account.url, tandem.lines.find((l) => l.event === "acme-account")?.url, "the bound account stored");
    assert.match(account.keyPem, /BEGIN PRIVATE KEY/);
  } finally {
    await tandem?.stop();
    await pebble.stop();
  }
});

test("check refuses tls-alpn-01 (no runtime can choose a certificate by ALPN), a wildcard, EAB without its key and a cluster without TLS; several workers pass", { skip }, async () => {
  const config = {
    listeners: [{ address: "127.0.0.1:8443", tls: { acme: { domains: ["a.test", "*.b.test"], challenge: "tls-alpn-01", eab: { keyId: "k" } } } }],
    pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } },
    workers: 2,
    cluster: { name: "pair", node: "lb1", listen: "127.0.0.1:7400", peers: [{ name: "lb2", address: "127.0.0.2:7400" }], key: "a cluster key of at least 32 characters" },
  };
  const schema = await runTandem(["check", "--config", writeConfig(config)]);
  assert.equal(schema.code, 1);
  assert.match(schema.stderr + schema.stdout, /listeners\[0\]\.tls\.acme\.domains\[1\].*wildcard/);

  config.listeners[0].tls.acme.domains = ["a.test"];
  const files = await runTandem(["check", "--config", writeConfig(config)]);
  const output = files.stderr + files.stdout;
  assert.equal(files.code, 1, output);
  assert.match(output, /listeners\[0\]\.tls\.acme\.challenge: "tls-alpn-01" cannot be answered on (bun|deno).*ALPN/);
  assert.match(output, /listeners\[0\]\.tls\.acme\.eab\.hmacKey/);
  assert.doesNotMatch(output, /workers/, "worker 0 orders, the others follow (acme-workers.test.ts)");
  assert.match(output, /cluster\.tls: listeners\[0\]\.tls\.acme shares the certificate's private key/);

  const fine = await runTandem(["check", "--config", writeConfig({ ...config, workers: undefined, cluster: undefined, listeners: [{ address: "127.0.0.1:8443", tls: { acme: { domains: ["a.test"] } } }] })]);
  assert.equal(fine.code, 0, `control: a plain acme listener passes: ${fine.stderr}${fine.stdout}`);

  // Without domains, the names come from the listener's certificate files: there must be some, and none a wildcard.
  const certs = await makeCertificates();
  const withFiles = (tls: Record<string, unknown>) => writeConfig({ ...config, workers: undefined, cluster: undefined, listeners: [{ address: "127.0.0.1:8443", tls }] });
  const noNames = await runTandem(["check", "--config", withFiles({ acme: {} })]);
  assert.match(noNames.stderr + noNames.stdout, /listeners\[0\]\.tls\.acme\.domains: the names to put on the certificate \(or tls\.certificates/);
  const wildcard = await runTandem(["check", "--config", withFiles({ acme: {}, certificates: [{ cert: certs.b.cert, key: certs.b.key }] })]);
  assert.match(wildcard.stderr + wildcard.stdout, /listeners\[0\]\.tls\.acme\.domains: the names of tls\.certificates include \*\.b\.test/);
  const fromFiles = await runTandem(["check", "--config", withFiles({ acme: {}, certificates: [{ cert: certs.a.cert, key: certs.a.key }] })]);
  assert.equal(fromFiles.code, 0, `control: a.test from the file: ${fromFiles.stderr}${fromFiles.stdout}`);
});
