/**
 * The ACME client's protocol against an in-memory CA (test/support/fake-acme.ts) with a fake
 * clock: the order flow and what it sends, Retry-After, badNonce, the CA's problems as
 * AcmeErrors, accounts (reuse, EAB), replaces and renewalInfo (RFC 9773).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, calculateJwkThumbprint, flattenedVerify, type JWK } from "jose";
import { AcmeClient, AcmeError, type CertificateRequest, type ChallengeResponder, generateKeyPem } from "../../../core/acme/client.ts";
import { type Certificates, makeCertificates, run } from "../../support/certs.ts";
import { FakeAcme } from "../../support/fake-acme.ts";
import { FakeClock } from "../../support/fake-clock.ts";

/** The RFC 9773 Appendix A certificate, whose certID the RFC gives. */
const RFC_9773_CERT = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;
const RFC_9773_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
const REQUEST: CertificateRequest = { domains: ["shop.example", "www.shop.example"], challenge: "http-01", keyType: "ec-p256" };

let certificatesPromise: Promise<Certificates> | undefined;
const certificates = () => (certificatesPromise ??= makeCertificates());

/** What the fake CA issues: the CSR signed by the test intermediate with openssl, then the intermediate. */
async function signWithTestCa(csr: Uint8Array): Promise<string> {
  const { intermediate } = await certificates();
  const dir = mkdtempSync(join(tmpdir(), "tandem-fake-ca-"));
  try {
    writeFileSync(join(dir, "csr.der"), csr);
    writeFileSync(join(dir, "leaf.ext"), "basicConstraints=critical,CA:FALSE\nauthorityKeyIdentifier=keyid\n");
    const signed = await run("openssl", [
      "x509", "-req", "-inform", "DER", "-in", join(dir, "csr.der"), "-CA", intermediate.cert, "-CAkey", intermediate.key,
      "-copy_extensions", "copy", "-extfile", join(dir, "leaf.ext"), "-days", "30", "-out", join(dir, "leaf.pem"),
    ]);
    assert.equal(signed.code, 0, signed.stderr);
    return readFileSync(join(dir, "leaf.pem"), "utf8") + readFileSync(intermediate.cert, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function setUp(options: { ari?: boolean; externalAccountRequired?: boolean } = {}) {
  const ca = new FakeAcme({ issue: signWithTestCa, ...options });
  const clock = new FakeClock(1_000_000);
  const sleeps: number[] = [];
  const ports = {
    fetch: ca.fetch,
    clock,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
  };
  return { ca, clock, sleeps, ports };
}

function recordingResponder() {
  const published: { token: string; keyAuthorization: string; domain: string }[] = [];
  const withdrawn: string[] = [];
  const responder: ChallengeResponder = {
    publishHttp01: async (token, keyAuthorization, domain) => void published.push({ token, keyAuthorization, domain }),
    withdraw: async (_domain, token) => void withdrawn.push(token),
  };
  return { responder, published, withdrawn };
}

const rejectsWith = (code: string, check: (error: AcmeError) => void = () => {}) => (error: unknown) => {
  assert.ok(error instanceof AcmeError, `an AcmeError, not ${error}`);
  assert.equal(error.code, code, error.message);
  check(error);
  return true;
};

test("obtain: account by JWK then kid, the key authorization published and withdrawn, a CSR for the names, the chain", async () => {
  const { ca, ports } = await setUp();
  const { responder, published, withdrawn } = recordingResponder();
  const client = await AcmeClient.open(ports, { directory: ca.directory, email: "ops@shop.example" });
  assert.equal(client.account.url, "https://ca.test/account/1");
  const issued = await client.obtain(REQUEST, responder);

  const newAccount = ca.received.find((request) => request.path === "/new-account")!;
  assert.deepEqual(newAccount.payload, { termsOfServiceAgreed: true, contact: ["mailto:ops@shop.example"] });
  const accountJwk = newAccount.header!.jwk as JWK;
  assert.equal(accountJwk.d, undefined, "only the public key goes out");
  assert.ok(ca.received.filter((request) => request.path !== "/new-account").every((request) => request.header!.kid === client.account.url));

  const thumbprint = await calculateJwkThumbprint(accountJwk, "sha256");
  assert.deepEqual(published, [{ token: "http-token_1", keyAuthorization: `http-token_1.${thumbprint}`, domain: "shop.example" }]);
  assert.deepEqual(withdrawn, ["http-token_1"]);
  assert.deepEqual(ca.received.find((request) => request.path === "/chall/1")!.payload, {}, "a challenge is answered with {}");
  assert.equal(ca.received.find((request) => request.path === "/authz/1")!.payload, undefined, "POST-as-GET has an empty payload");
  assert.deepEqual(ca.received.find((request) => request.path === "/new-order")!.payload, {
    identifiers: [{ type: "dns", value: "shop.example" }, { type: "dns", value: "www.shop.example" }],
  });

  assert.equal(ca.csrs.length, 1);
  const csr = await run("openssl", ["req", "-noout", "-text", "-verify", "-inform", "DER"], { input: ca.csrs[0] });
  assert.match(csr.stderr, /self-signature verify OK/);
  assert.match(csr.stdout, /DNS:shop\.example, DNS:www\.shop\.example/);
  const csrKey = await run("openssl", ["req", "-pubkey", "-noout", "-inform", "DER"], { input: ca.csrs[0] });
  const issuedKey = await run("openssl", ["pkey", "-pubout"], { input: issued.keyPem });
  assert.equal(csrKey.stdout, issuedKey.stdout, "the CSR is for the key handed back");
  assert.notEqual(issued.keyPem, client.account.keyPem, "the certificate key is not the account key");

  assert.equal(issued.certPem, ca.issued[0]);
  const leaf = await run("openssl", ["x509", "-noout", "-enddate"], { input: issued.certPem });
  assert.equal(issued.notAfter, Date.parse(leaf.stdout.replace("notAfter=", "")));
  assert.match(issued.ariId ?? "", /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
});

test("waits as long as Retry-After says while the challenge is checked and the certificate issued", async () => {
  const { ca, ports, sleeps } = await setUp();
  ca.pendingPolls = 2;
  ca.processingPolls = 2;
  ca.retryAfter = "3";
  await (await AcmeClient.open(ports, { directory: ca.directory })).obtain(REQUEST, recordingResponder().responder);
  assert.deepEqual(sleeps, [3000, 3000, 3000, 3000], "two polls of the authorization, two of the order");
  ca.retryAfter = "120";
  ca.pendingPolls = 1;
  sleeps.length = 0;
  await (await AcmeClient.open(ports, { directory: ca.directory })).obtain(REQUEST, recordingResponder().responder);
  assert.deepEqual(sleeps, [30_000], "a long Retry-After is cut short: the deadline decides when to give up");
});

test("an authorization that never completes gives up at the deadline, and the challenge is withdrawn", async () => {
  const { ca, ports, clock } = await setUp();
  ca.pendingPolls = 1_000_000;
  ca.retryAfter = "10";
  const { responder, withdrawn } = recordingResponder();
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  const started = clock.now();
  await assert.rejects(client.obtain(REQUEST, responder), rejectsWith("timeout", (error) => assert.match(error.message, /http-01 challenge for shop\.example/)));
  assert.ok(clock.now() - started <= 5 * 60_000 && clock.now() - started >= 4 * 60_000, `gave up after ${clock.now() - started} ms`);
  assert.deepEqual(withdrawn, ["http-token_1"]);
});

test("badNonce is retried with the fresh nonce, a few times, then surfaces", async () => {
  const { ca, ports } = await setUp();
  ca.rejectNonces = 3;
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  await client.obtain(REQUEST, recordingResponder().responder);
  assert.equal(ca.rejectNonces, 0, "the CA did reject three");
  ca.rejectNonces = 100;
  await assert.rejects(client.obtain(REQUEST, recordingResponder().responder), rejectsWith("bad-nonce"));
  assert.equal(ca.rejectNonces, 96, "one try and three retries");
});

test("a rate limit surfaces with the CA's detail, subproblems and Retry-After", async () => {
  const { ca, ports } = await setUp();
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  ca.problems.set("/new-order", {
    status: 429,
    type: "rateLimited",
    detail: "too many certificates (5) already issued for this exact set of domains in the last 168h0m0s",
    retryAfter: "3600",
    subproblems: [{ type: "urn:ietf:params:acme:error:rateLimited", detail: "limit for www", identifier: { type: "dns", value: "www.shop.example" } }],
  });
  await assert.rejects(client.obtain(REQUEST, recordingResponder().responder), rejectsWith("rate-limited", (error) => {
    assert.equal(error.status, 429);
    assert.equal(error.type, "urn:ietf:params:acme:error:rateLimited");
    assert.equal(error.retryAfterMs, 3_600_000);
    assert.match(error.detail ?? "", /too many certificates/);
    assert.equal(error.subproblems?.length, 1);
    assert.match(error.message, /www\.shop\.example: limit for www/);
  }));
});

test("userActionRequired names the page the operator must visit", async () => {
  const { ca, ports } = await setUp();
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  ca.problems.set("/new-order", { status: 403, type: "userActionRequired", detail: "Terms of service have changed", instance: "https://ca.test/terms/2027" });
  await assert.rejects(client.obtain(REQUEST, recordingResponder().responder), rejectsWith("user-action-required", (error) => {
    assert.match(error.message, /Terms of service have changed: see https:\/\/ca\.test\/terms\/2027/);
  }));
});

test("a failed challenge: challenge-failed with the CA's reason, withdrawn", async () => {
  const { ca, ports } = await setUp();
  ca.challengeSucceeds = false;
  const { responder, withdrawn } = recordingResponder();
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  await assert.rejects(client.obtain(REQUEST, responder), rejectsWith("challenge-failed", (error) => {
    assert.equal(error.type, "urn:ietf:params:acme:error:incorrectResponse");
    assert.match(error.message, /shop\.example.*key authorization mismatch/);
  }));
  assert.deepEqual(withdrawn, ["http-token_1"]);
});

test("a certificate without the names ordered is refused", async () => {
  const { ca, ports } = await setUp();
  ca.options.issue = async () => readFileSync((await certificates()).b.cert, "utf8");
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  await assert.rejects(client.obtain(REQUEST, recordingResponder().responder), rejectsWith("invalid-response", (error) => {
    assert.match(error.message, /without shop\.example, www\.shop\.example/);
  }));
});

test("tls-alpn-01 the CA does not offer, or a responder that cannot publish it: refused, naming what is offered", async () => {
  const { ca, ports } = await setUp();
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  const { responder } = recordingResponder();
  await assert.rejects(client.obtain({ ...REQUEST, challenge: "tls-alpn-01" }, responder), rejectsWith("challenge-unavailable", (error) => {
    assert.match(error.message, /responder/);
  }));
  const withAlpn: ChallengeResponder = { ...responder, publishTlsAlpn01: async () => {} };
  await assert.rejects(client.obtain({ ...REQUEST, challenge: "tls-alpn-01" }, withAlpn), rejectsWith("challenge-unavailable", (error) => {
    assert.match(error.message, /offers: dns-01, http-01/);
  }));
});

test("accounts: found again by the stored key, made anew when the CA forgot it, another key another account", async () => {
  const { ca, ports } = await setUp();
  const first = await AcmeClient.open(ports, { directory: ca.directory });
  const again = await AcmeClient.open(ports, { directory: ca.directory, accountKeyPem: first.account.keyPem });
  assert.equal(again.account.url, first.account.url);
  assert.deepEqual(ca.received.at(-1)!.payload, { onlyReturnExisting: true }, "a stored key only looks the account up");
  const forgotten = await generateKeyPem("ec-p256");
  const renewed = await AcmeClient.open(ports, { directory: ca.directory, accountKeyPem: forgotten });
  assert.equal(renewed.account.url, "https://ca.test/account/2");
  assert.equal(renewed.account.keyPem, forgotten);
  await assert.rejects(AcmeClient.open(ports, { directory: ca.directory, accountKeyPem: "not a key" }), rejectsWith("bad-account-key"));
});

test("External Account Binding: asked for before any request when the CA requires it; an HS256 JWS over the account key", async () => {
  const { ca, ports } = await setUp({ externalAccountRequired: true });
  await assert.rejects(AcmeClient.open(ports, { directory: ca.directory }), rejectsWith("eab-required"));
  assert.equal(ca.received.length, 0, "nothing was posted");
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const client = await AcmeClient.open(ports, { directory: ca.directory, eab: { keyId: "kid-7", hmacKey: base64url.encode(secret) } });
  assert.match(client.account.url, /account\/1$/);
  const request = ca.received.at(-1)!;
  const binding = (request.payload as { externalAccountBinding: { protected: string; payload: string; signature: string } }).externalAccountBinding;
  const verified = await flattenedVerify(binding, secret);
  assert.deepEqual(verified.protectedHeader, { alg: "HS256", kid: "kid-7", url: "https://ca.test/new-account" });
  assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), request.header!.jwk);
  await assert.rejects(flattenedVerify(binding, crypto.getRandomValues(new Uint8Array(32))), "control: another key does not verify it");
  await assert.rejects(AcmeClient.open(ports, { directory: ca.directory, eab: { keyId: "k", hmacKey: "" } }), rejectsWith("bad-eab"));
});

test("unreachable CA, a directory without newOrder, a body that is not JSON or too big: connection and invalid-response", async () => {
  const clock = new FakeClock();
  const refused = { fetch: () => Promise.reject(new TypeError("connect ECONNREFUSED 127.0.0.1:14000")), clock };
  await assert.rejects(AcmeClient.open(refused, { directory: "https://ca.test/directory" }), rejectsWith("connection", (error) => {
    assert.match(error.message, /ECONNREFUSED/);
  }));
  const partial = { fetch: async () => Response.json({ newNonce: "https://ca.test/n", newAccount: "https://ca.test/a" }), clock };
  await assert.rejects(AcmeClient.open(partial, { directory: "https://ca.test/directory" }), rejectsWith("invalid-response", (error) => {
    assert.match(error.message, /no newOrder/);
  }));
  const garbled = { fetch: async () => new Response("{not json", { headers: { "content-type": "application/json" } }), clock };
  await assert.rejects(AcmeClient.open(garbled, { directory: "https://ca.test/directory" }), rejectsWith("invalid-response"));
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull: (controller) => void (pulled++ < 10_000 ? controller.enqueue(new Uint8Array(64 * 1024).fill(0x20)) : controller.close()),
  });
  const flooding = { fetch: async () => new Response(endless, { headers: { "content-type": "application/json" } }), clock };
  await assert.rejects(AcmeClient.open(flooding, { directory: "https://ca.test/directory" }), rejectsWith("invalid-response", (error) => {
    assert.match(error.message, /more than 262144 bytes/);
  }));
  assert.ok(pulled < 20, `stopped reading early (${pulled} chunks of 64 KiB)`);
});

test("ARI: the RFC 9773 certID, replaces sent only to a CA with renewalInfo (and dropped when alreadyReplaced), the suggested window", async () => {
  const { ca, ports } = await setUp({ ari: true });
  const client = await AcmeClient.open(ports, { directory: ca.directory });
  const window = await client.renewalInfo(RFC_9773_CERT);
  assert.equal(ca.received.length, 1, "renewalInfo is an unauthenticated GET (only newAccount was posted)");
  assert.deepEqual(window, {
    start: Date.parse("2027-01-01T00:00:00Z"),
    end: Date.parse("2027-01-03T00:00:00Z"),
    retryAfterMs: 21_600_000,
    explanationUrl: "https://ca.test/why",
  });
  const seen: string[] = [];
  const watching = { ...ports, fetch: (url: string, init?: RequestInit) => (seen.push(url), ca.fetch(url, init)) };
  await (await AcmeClient.open(watching, { directory: ca.directory })).renewalInfo(RFC_9773_CERT);
  assert.ok(seen.includes(`https://ca.test/renewal-info/${RFC_9773_CERT_ID}`), seen.join(" "));

  await client.obtain({ ...REQUEST, replaces: RFC_9773_CERT_ID }, recordingResponder().responder);
  assert.equal((ca.received.find((request) => request.path === "/new-order")!.payload as { replaces?: string }).replaces, RFC_9773_CERT_ID);

  ca.problems.set("/new-order", { status: 409, type: "alreadyReplaced", detail: "already replaced by order 17" });
  const ordersBefore = ca.received.filter((request) => request.path === "/new-order").length;
  await client.obtain({ ...REQUEST, replaces: RFC_9773_CERT_ID }, recordingResponder().responder);
  const retried = ca.received.filter((request) => request.path === "/new-order").slice(ordersBefore);
  assert.equal(retried.length, 2, "alreadyReplaced: ordered again");
  assert.equal((retried[1].payload as { replaces?: string }).replaces, undefined, "without replaces");

  ca.renewalWindow = { start: "2027-01-03T00:00:00Z", end: "2027-01-03T00:00:00Z" };
  await assert.rejects(client.renewalInfo(RFC_9773_CERT), rejectsWith("invalid-response"));

  const plain = await setUp();
  const noAri = await AcmeClient.open(plain.ports, { directory: plain.ca.directory });
  assert.equal(await noAri.renewalInfo(RFC_9773_CERT), null);
  await noAri.obtain({ ...REQUEST, replaces: RFC_9773_CERT_ID }, recordingResponder().responder);
  assert.equal((plain.ca.received.find((request) => request.path === "/new-order")!.payload as { replaces?: string }).replaces, undefined);
});

test("RSA account keys sign RS256 and the CA verifies them", async () => {
  const { ca, ports } = await setUp();
  const client = await AcmeClient.open(ports, { directory: ca.directory, accountKeyPem: await generateKeyPem("rsa-2048") });
  await client.obtain({ ...REQUEST, keyType: "rsa-3072" }, recordingResponder().responder);
  assert.equal(ca.received[0].header!.alg, "RS256");
  const key = await run("openssl", ["req", "-noout", "-text", "-inform", "DER"], { input: ca.csrs[0] });
  assert.match(key.stdout, /Public-Key: \(3072 bit\)/);
});
