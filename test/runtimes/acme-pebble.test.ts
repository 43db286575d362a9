/**
 * The ACME client (core/acme) in the test's own runtime (Bun under `bun test`, Deno under
 * `deno test`) against a real CA: Debian's pebble, which validates challenges against this file's
 * own servers on loopback (pebble-challtestsrv answers every name with 127.0.0.1). Obtains with
 * http-01 and tls-alpn-01 (answered by openssl s_server, which speaks acme-tls/1), checks the
 * chain with openssl verify, reuses an account, requires External Account Binding, and surfaces
 * the CA's refusals with their detail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AcmeClient, AcmeError, type ChallengeResponder, generateKeyPem } from "../../core/acme/client.ts";
import { systemClock } from "../../core/clock.ts";
import { checkKeyPair, parseCertificate, pemBlocks } from "../../core/tls/certificate.ts";
import { run } from "../support/certs.ts";
import { type Pebble, pebbleMissing, startPebble } from "../support/pebble.ts";
import { requireTool } from "../support/tools.ts";

const skip = requireTool("acme-pebble.test.ts", pebbleMissing);
const LIMIT = { skip, timeout: 120_000 };
const EAB_KEY_ID = "kid-tandem";
const EAB_HMAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

/** An http-01 responder on pebble's httpPort that records what it answered and what is withdrawn. */
async function http01Responder(port: number) {
  const published = new Map<string, string>();
  const served: string[] = [];
  const withdrawn: string[] = [];
  const server: Server = createServer((request, response) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(request.url ?? "")?.[1];
    const answer = token ? published.get(token) : undefined;
    if (token && answer) served.push(token);
    response.writeHead(answer ? 200 : 404, { "content-type": "text/plain" }).end(answer ?? "no such token");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const responder: ChallengeResponder = {
    publishHttp01: async (token, keyAuthorization) => void published.set(token, keyAuthorization),
    withdraw: async (_domain, token) => {
      published.delete(token);
      withdrawn.push(token);
    },
  };
  return { responder, published, served, withdrawn, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Certificates in a PEM chain. */
const chainOf = (pem: string) => pemBlocks(pem).filter((block) => block.label === "CERTIFICATE");

/** openssl verify of the leaf against pebble's root, with the rest of the chain as untrusted intermediates. */
async function verifyChain(pebble: Pebble, certPem: string, name: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-acme-verify-"));
  try {
    const blocks = certPem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((part) => part.includes("BEGIN CERTIFICATE"));
    writeFileSync(join(dir, "leaf.pem"), blocks[0]);
    writeFileSync(join(dir, "chain.pem"), blocks.slice(1).join(""));
    writeFileSync(join(dir, "root.pem"), await pebble.issuingRootPem());
    const result = await run("openssl", [
      "verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "chain.pem"), "-verify_hostname", name, join(dir, "leaf.pem"),
    ]);
    return result.stdout + result.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("http-01: a certificate for two names, its chain verified, the challenge withdrawn, despite rejected nonces", LIMIT, async () => {
  // Pebble refuses this share of good nonces with badNonce: the client must retry with the fresh one.
  const pebble = await startPebble({ validitySeconds: 600, env: { PEBBLE_WFE_NONCEREJECT: "30" } });
  const http = await http01Responder(pebble.httpPort);
  let badNonces = 0;
  const counting = async (url: string, init?: RequestInit) => {
    const response = await pebble.fetch(url, init);
    if (response.status === 400 && (await response.clone().text()).includes("badNonce")) badNonces++;
    return response;
  };
  try {
    const client = await AcmeClient.open({ fetch: counting, clock: systemClock }, { directory: pebble.directory, email: "ops@a.test" });
    assert.match(client.account.url, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    const issued = await client.obtain({ domains: ["a.test", "www.a.test"], challenge: "http-01", keyType: "ec-p256" }, http.responder);

    assert.equal(chainOf(issued.certPem).length, 2, "leaf and pebble's intermediate");
    const leaf = parseCertificate(chainOf(issued.certPem)[0].der);
    assert.deepEqual(leaf.dnsNames.sort(), ["a.test", "www.a.test"]);
    assert.equal(issued.notAfter, leaf.notAfter);
    assert.equal(Math.round((issued.notAfter - issued.notBefore) / 1000), 600 - 1, "pebble's certificateValidityPeriod (its notAfter is inclusive)");
    const pair = await checkKeyPair(issued.certPem, issued.keyPem, { cert: "issued.pem", key: "issued.key" });
    assert.ok(pair.ok, `the key belongs to the certificate: ${JSON.stringify(pair)}`);
    assert.match(await verifyChain(pebble, issued.certPem, "www.a.test"), /leaf\.pem: OK/);
    assert.doesNotMatch(await verifyChain(pebble, issued.certPem, "b.test"), /leaf\.pem: OK/, "control: a name not in the certificate fails");
    assert.ok(issued.ariId, "the leaf has an authority key identifier");
    // Debian's pebble 2.4.0 has no renewalInfo in its directory; a later one would answer a window.
    const offersAri = "renewalInfo" in await (await pebble.fetch(pebble.directory)).json();
    const window = await client.renewalInfo(issued.certPem);
    if (offersAri) assert.ok(window && window.end > window.start && window.end <= issued.notAfter, JSON.stringify(window));
    else assert.equal(window, null, "no ARI, no window");

    assert.ok(http.served.length >= 1, "pebble fetched the key authorization from the responder");
    assert.deepEqual(http.published.size, 0, "every published token was withdrawn");
    assert.ok(http.withdrawn.length >= 1);
    assert.ok(badNonces > 0, `pebble rejected some nonces (control for the retry): ${badNonces}`);
  } finally {
    await http.close();
    await pebble.stop();
  }
});

test("an RSA 2048 certificate key; the account found again by its stored key", LIMIT, async () => {
  const pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_VA_ALWAYS_VALID: "1" } });
  const http = await http01Responder(pebble.httpPort);
  try {
    const ports = { fetch: pebble.fetch, clock: systemClock };
    const first = await AcmeClient.open(ports, { directory: pebble.directory });
    const again = await AcmeClient.open(ports, { directory: pebble.directory, accountKeyPem: first.account.keyPem });
    assert.equal(again.account.url, first.account.url);
    assert.equal(again.account.keyPem, first.account.keyPem);
    const other = await AcmeClient.open(ports, { directory: pebble.directory, accountKeyPem: await generateKeyPem("ec-p256") });
    assert.notEqual(other.account.url, first.account.url, "control: another key is another account");

    const issued = await again.obtain({ domains: ["rsa.test"], challenge: "http-01", keyType: "rsa-2048" }, http.responder);
    const key = await run("openssl", ["pkey", "-noout", "-text"], { input: issued.keyPem });
    assert.match(key.stdout, /Private-Key: \(2048 bit/);
    assert.match(await verifyChain(pebble, issued.certPem, "rsa.test"), /leaf\.pem: OK/);
  } finally {
    await http.close();
    await pebble.stop();
  }
});

test("tls-alpn-01: the validation certificate served with acme-tls/1 by openssl s_server", LIMIT, async () => {
  const pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: "0" } });
  const dir = mkdtempSync(join(tmpdir(), "tandem-alpn-"));
  const servers: { kill(): void; exited: Promise<void> }[] = [];
  const withdrawn: string[] = [];
  // s_server -state logs each handshake it completes.
  let serverOutput = "";
  let probes = 0;
  const responder: ChallengeResponder = {
    publishHttp01: () => Promise.reject(new Error("this responder answers tls-alpn-01 only")),
    async publishTlsAlpn01(domain, certPem, keyPem) {
      writeFileSync(join(dir, "cert.pem"), certPem);
      writeFileSync(join(dir, "key.pem"), keyPem);
      const child = spawn("openssl", [
        "s_server", "-quiet", "-state", "-accept", `127.0.0.1:${pebble.tlsPort}`, "-cert", join(dir, "cert.pem"), "-key", join(dir, "key.pem"),
        "-alpn", "acme-tls/1",
      ], { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.on("data", (chunk) => (serverOutput += chunk));
      child.stderr!.on("data", (chunk) => (serverOutput += chunk));
      servers.push({ kill: () => child.kill("SIGTERM"), exited: new Promise((resolve) => child.on("exit", () => resolve())) });
      // s_server accepts once its port is bound: wait for that before pebble is told to connect.
      for (let attempt = 0; attempt < 100; attempt++) {
        const probe = await run("openssl", ["s_client", "-connect", `127.0.0.1:${pebble.tlsPort}`, "-servername", domain, "-alpn", "acme-tls/1"], { timeoutMs: 5_000 });
        if (/ALPN protocol: acme-tls\/1/.test(probe.stdout)) return void probes++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error("openssl s_server did not come up");
    },
    async withdraw(_domain, token) {
      withdrawn.push(token);
      for (const server of servers.splice(0)) {
        server.kill();
        await server.exited;
      }
    },
  };
  try {
    const client = await AcmeClient.open({ fetch: pebble.fetch, clock: systemClock }, { directory: pebble.directory });
    const issued = await client.obtain({ domains: ["alpn.test"], challenge: "tls-alpn-01", keyType: "ec-p256" }, responder);
    assert.match(await verifyChain(pebble, issued.certPem, "alpn.test"), /leaf\.pem: OK/);
    assert.equal(withdrawn.length, 1);
    assert.ok(probes >= 1);
    const handshakes = serverOutput.split("SSL_accept:SSLv3/TLS read finished").length - 1;
    assert.ok(handshakes > probes, `pebble completed handshakes with the responder (${handshakes} handshakes, ${probes} of them the test's own probes)`);
  } finally {
    for (const server of servers) server.kill();
    rmSync(dir, { recursive: true, force: true });
    await pebble.stop();
  }
});

test("External Account Binding: refused without it or with a wrong key, accepted with the CA's", LIMIT, async () => {
  const pebble = await startPebble({ eabRequired: true, eabKeys: { [EAB_KEY_ID]: EAB_HMAC }, env: { PEBBLE_WFE_NONCEREJECT: "0" } });
  try {
    const ports = { fetch: pebble.fetch, clock: systemClock };
    await assert.rejects(AcmeClient.open(ports, { directory: pebble.directory }), (error: AcmeError) => {
      assert.equal(error.code, "eab-required");
      return true;
    });
    const wrongKey = EAB_HMAC.replace(/^./, (c) => (c === "A" ? "B" : "A"));
    await assert.rejects(AcmeClient.open(ports, { directory: pebble.directory, eab: { keyId: EAB_KEY_ID, hmacKey: wrongKey } }), (error: AcmeError) => {
      assert.ok(error instanceof AcmeError);
      assert.equal(error.code, "unauthorized");
      assert.match(error.detail ?? "", /external account binding/i);
      return true;
    });
    const client = await AcmeClient.open(ports, { directory: pebble.directory, eab: { keyId: EAB_KEY_ID, hmacKey: EAB_HMAC } });
    assert.match(client.account.url, /\/my-account\//);
  } finally {
    await pebble.stop();
  }
});

test("the CA's refusals surface with their type and detail; a failed challenge is withdrawn", LIMIT, async () => {
  const pebble = await startPebble({ blockedDomains: ["blocked.test"], env: { PEBBLE_WFE_NONCEREJECT: "0" } });
  const http = await http01Responder(pebble.httpPort);
  try {
    const client = await AcmeClient.open({ fetch: pebble.fetch, clock: systemClock }, { directory: pebble.directory });
    await assert.rejects(client.obtain({ domains: ["www.blocked.test"], challenge: "http-01", keyType: "ec-p256" }, http.responder), (error: AcmeError) => {
      assert.equal(error.code, "rejected-identifier");
      assert.equal(error.type, "urn:ietf:params:acme:error:rejectedIdentifier");
      assert.match(error.detail ?? "", /blocked\.test/, "the CA's detail is kept");
      return true;
    });
    // A responder that publishes nothing: pebble finds no key authorization.
    const silent: ChallengeResponder = { publishHttp01: async () => {}, withdraw: http.responder.withdraw };
    await assert.rejects(client.obtain({ domains: ["unanswered.test"], challenge: "http-01", keyType: "ec-p256" }, silent), (error: AcmeError) => {
      assert.equal(error.code, "challenge-failed");
      assert.match(error.message, /unanswered\.test/);
      assert.ok(error.detail, `pebble's reason is kept: ${error.message}`);
      return true;
    });
    assert.equal(http.withdrawn.length, 1, "the failed challenge was withdrawn");
  } finally {
    await http.close();
    await pebble.stop();
  }
});
