/**
 * Account and certificate keys: generated in each type and read back, keys the client cannot
 * sign with refused with the reason, and the key authorization against RFC 7638's thumbprint
 * example.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { keyAuthorization } from "../../../core/acme/jws.ts";
import { type AcmeKeyType, generateKeyPem, loadKeyPem } from "../../../core/acme/keys.ts";
import { run } from "../../support/certs.ts";

/** RFC 7638 §3.1: this RSA key's SHA-256 thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs. */
const RFC_7638_JWK = {
  kty: "RSA",
  n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  e: "AQAB",
  alg: "RS256",
  kid: "2011-04-29",
};

test("key authorization: token '.' the account key's RFC 7638 thumbprint", async () => {
  assert.equal(await keyAuthorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", RFC_7638_JWK), "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
});

for (const [type, text, algorithm] of [
  ["ec-p256", /ASN1 OID: prime256v1/, "ES256"],
  ["rsa-2048", /Private-Key: \(2048 bit/, "RS256"],
  ["rsa-3072", /Private-Key: \(3072 bit/, "RS256"],
] as [AcmeKeyType, RegExp, string][]) {
  test(`${type}: a PKCS#8 key openssl reads, whose public JWK has no private member`, async () => {
    const pem = await generateKeyPem(type);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const described = await run("openssl", ["pkey", "-noout", "-text"], { input: pem });
    assert.match(described.stdout, text);
    const key = await loadKeyPem(pem);
    assert.equal(key.jwsAlgorithm, algorithm);
    for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) assert.equal(secret in key.publicJwk, false, secret);
  });
}

test("keys the client cannot sign with are refused with the reason", async () => {
  const ed25519 = await run("openssl", ["genpkey", "-algorithm", "ed25519"]);
  await assert.rejects(loadKeyPem(ed25519.stdout), /unsupported key algorithm 1\.3\.101\.112/);
  const p521 = await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"]);
  await assert.rejects(loadKeyPem(p521.stdout), /unsupported EC curve 1\.3\.132\.0\.35/);
  const sec1 = await run("openssl", ["ec"], { input: (await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])).stdout });
  assert.match(sec1.stdout, /BEGIN EC PRIVATE KEY/, "control: openssl made a SEC1 key");
  await assert.rejects(loadKeyPem(sec1.stdout), /no PKCS#8 private key/);
  const p384 = await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
  assert.equal((await loadKeyPem(p384.stdout)).jwsAlgorithm, "ES384", "control: P-384 is accepted");
});
