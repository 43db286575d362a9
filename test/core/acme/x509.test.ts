/**
 * The X.509 the ACME client builds itself, judged by openssl and by tandem's own certificate
 * reader: the PKCS#10 request (EC and RSA), the tls-alpn-01 validation certificate with its
 * critical acmeIdentifier, and the self-signed placeholder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedPem } from "../../../core/acme/client.ts";
import { type AcmeKeyType, generateKeyPem, loadKeyPem, toPem } from "../../../core/acme/keys.ts";
import { certificationRequest, selfSignedCertificate } from "../../../core/acme/x509.ts";
import { checkKeyPair, parseCertificate, pemBlocks } from "../../../core/tls/certificate.ts";
import { run } from "../../support/certs.ts";

const LONG_NAME = `${"a".repeat(60)}.example.com`;

for (const type of ["ec-p256", "rsa-2048"] as AcmeKeyType[]) {
  test(`${type}: the CSR verifies with openssl and asks for every name in the SAN`, async () => {
    const keyPem = await generateKeyPem(type);
    const csr = toPem("CERTIFICATE REQUEST", await certificationRequest(await loadKeyPem(keyPem), ["example.com", "www.example.com"]));
    const result = await run("openssl", ["req", "-verify", "-noout", "-text"], { input: csr });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /self-signature verify OK/);
    assert.match(result.stdout, /Subject: CN ?= ?example\.com/);
    assert.match(result.stdout, /DNS:example\.com, DNS:www\.example\.com/);
    const publicFromKey = await run("openssl", ["pkey", "-pubout"], { input: keyPem });
    const publicFromCsr = await run("openssl", ["req", "-pubkey", "-noout"], { input: csr });
    assert.equal(publicFromCsr.stdout, publicFromKey.stdout, "the CSR carries the certificate key's public half");
  });
}

test("a name too long for a CN goes in the SAN only; a tampered CSR fails openssl's check (control)", async () => {
  const key = await loadKeyPem(await generateKeyPem("ec-p256"));
  const der = await certificationRequest(key, [LONG_NAME]);
  const good = await run("openssl", ["req", "-verify", "-noout", "-text"], { input: toPem("CERTIFICATE REQUEST", der) });
  assert.equal(good.code, 0, good.stderr);
  assert.doesNotMatch(good.stdout, /CN ?=/);
  assert.ok(good.stdout.includes(`DNS:${LONG_NAME}`));
  const tampered = der.slice();
  // One letter of the name (windows-1252 decodes a byte to a character, so the index is the byte's).
  tampered[new TextDecoder("windows-1252").decode(der).indexOf(LONG_NAME)] = 0x62;
  const bad = await run("openssl", ["req", "-verify", "-noout"], { input: toPem("CERTIFICATE REQUEST", tampered) });
  // OpenSSL 3.0 exits 0 either way: its words decide.
  assert.match(bad.stderr, /self-signature verify failure/, "openssl refuses a signature that does not cover the content");
  assert.match(good.stderr, /self-signature verify OK/);
});

test("the tls-alpn-01 certificate carries the key authorization digest in a critical acmeIdentifier", async () => {
  const keyPem = await generateKeyPem("ec-p256");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("token.thumbprint")));
  const now = Date.now();
  const certPem = await selfSignedCertificate(await loadKeyPem(keyPem), { domains: ["alpn.example"], notBefore: now, notAfter: now + 86_400_000, acmeIdentifier: digest });
  const text = await run("openssl", ["x509", "-noout", "-text"], { input: certPem });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /1\.3\.6\.1\.5\.5\.7\.1\.31: critical/);
  assert.match(text.stdout, /DNS:alpn\.example/);
  const parsed = await run("openssl", ["asn1parse"], { input: certPem });
  const hex = [...digest].map((byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join("");
  assert.match(parsed.stdout, new RegExp(`:1\\.3\\.6\\.1\\.5\\.5\\.7\\.1\\.31\\n.*BOOLEAN +:255\\n.*OCTET STRING +\\[HEX DUMP\\]:0420${hex}\\n`), "the extension's value is OCTET STRING(SHA-256 digest)");
});

test("the self-signed placeholder: its names, its dates, its own signature, its key", async () => {
  const keyPem = await generateKeyPem("ec-p256");
  const now = Date.parse("2026-12-05T10:00:00Z");
  const certPem = await selfSignedPem(["shop.example", "www.shop.example"], keyPem, 7 * 86_400_000, now);
  const info = parseCertificate(pemBlocks(certPem)[0].der);
  assert.deepEqual(info.dnsNames, ["shop.example", "www.shop.example"]);
  assert.equal(info.notBefore, now);
  assert.equal(info.notAfter, now + 7 * 86_400_000);
  const pair = await checkKeyPair(certPem, keyPem, { cert: "placeholder.pem", key: "placeholder.key" });
  assert.ok(pair.ok, JSON.stringify(pair));
  const dir = mkdtempSync(join(tmpdir(), "tandem-placeholder-"));
  try {
    writeFileSync(join(dir, "cert.pem"), certPem);
    const verify = await run("openssl", ["verify", "-check_ss_sig", "-partial_chain", "-no_check_time", "-CAfile", join(dir, "cert.pem"), join(dir, "cert.pem")]);
    assert.match(verify.stdout, /cert\.pem: OK/, verify.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const signature = await run("openssl", ["x509", "-noout", "-text"], { input: certPem });
  assert.match(signature.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
});

test("validity from 2050 on is a GeneralizedTime, before it a UTCTime (RFC 5280)", async () => {
  const keyPem = await generateKeyPem("ec-p256");
  const notBefore = Date.parse("2049-12-31T23:59:59Z");
  const notAfter = Date.parse("2050-01-01T00:00:00Z");
  const certPem = await selfSignedPem(["late.example"], keyPem, notAfter - notBefore, notBefore);
  const info = parseCertificate(pemBlocks(certPem)[0].der);
  assert.equal(info.notBefore, notBefore);
  assert.equal(info.notAfter, notAfter);
  const dates = await run("openssl", ["x509", "-noout", "-dates"], { input: certPem });
  assert.match(dates.stdout, /notAfter=Jan {2}1 00:00:00 2050 GMT/);
});
