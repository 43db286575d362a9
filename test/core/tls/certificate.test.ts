import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CertificateInfo,
  checkKeyPair,
  matchesServerName,
  parseCertificate,
  pemBlocks,
  selectCertificate,
} from "../../../core/tls/certificate.ts";

/** What `openssl x509` says about a certificate, to hold the parser against. */
interface OpensslView {
  notBefore: number;
  notAfter: number;
  /** Lower-case hex. */
  serial: string;
}

interface Fixtures {
  /** PEM text by name: "<name>.pem" certificates and "<name>.key" keys. */
  files: Record<string, string>;
  openssl: Record<string, OpensslView>;
}

const FILES = { cert: "/etc/tandem/a.pem", key: "/etc/tandem/a.key" };
const SUPPORTED = "(RSA, EC P-256/P-384/P-521 and Ed25519 are)";
const ENCRYPTED = "/etc/tandem/a.key: encrypted private keys are not supported (decrypt it with openssl pkey)";
const NO_CERT = '/etc/tandem/a.pem: no certificate (expected a PEM "CERTIFICATE" block';
const NO_KEY = '/etc/tandem/a.key: no private key (expected a PEM "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY" block';
const MISMATCH = "/etc/tandem/a.key: the private key does not match the certificate in /etc/tandem/a.pem";

let cached: Fixtures | undefined;

/** Every certificate and key the tests use, made once with the real openssl, read into memory. */
function fixtures(): Fixtures {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "tandem-tls-certificate-"));
  try {
    const openssl = (...args: string[]) =>
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
    const ec = (curve: string) => ["-newkey", "ec", "-pkeyopt", `ec_paramgen_curve:${curve}`];
    const days = ["-days", "30"];

    openssl("req", "-x509", ...ec("P-256"), "-nodes", "-keyout", "ca.key", "-subj", "/CN=Tandem Test CA", "-days", "15000", "-out", "ca.pem");
    openssl("req", "-new", ...ec("P-256"), "-nodes", "-keyout", "int.key", "-subj", "/CN=Tandem Test Intermediate",
      "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign", "-out", "int.csr");
    openssl("x509", "-req", "-in", "int.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-copy_extensions", "copy", ...days, "-out", "int.pem");

    /** A leaf signed by `ca` (or the intermediate), with `key` made by `newkey`. */
    const leaf = (name: string, newkey: string[], subject: string, extra: { san?: string; serial?: string; issuer?: string } = {}) => {
      openssl("req", "-new", ...newkey, "-nodes", "-keyout", `${name}.key`, "-subj", subject,
        ...(extra.san ? ["-addext", `subjectAltName=${extra.san}`] : []), "-out", `${name}.csr`);
      const issuer = extra.issuer ?? "ca";
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-copy_extensions", "copy",
        ...(extra.serial ? ["-set_serial", extra.serial] : []), ...days, "-out", `${name}.pem`);
    };
    leaf("rsa", ["-newkey", "rsa:2048"], "/CN=rsa.test", { san: "DNS:rsa.test", serial: "0x0102" });
    openssl("rsa", "-in", "rsa.key", "-traditional", "-out", "rsa-pkcs1.key");
    leaf("p256", ec("P-256"), "/CN=p256.test", { san: "DNS:p256.test", serial: "0x80" });
    openssl("ec", "-in", "p256.key", "-out", "p256-sec1.key");
    openssl("ecparam", "-name", "prime256v1", "-out", "p256.params");
    leaf("p256b", ec("P-256"), "/CN=p256b.test", { san: "DNS:p256b.test" });
    leaf("p384", ec("P-384"), "/CN=p384.test", { san: "DNS:p384.test" });
    leaf("p521", ec("P-521"), "/CN=p521.test", { san: "DNS:p521.test" });
    leaf("ed25519", ["-newkey", "ed25519"], "/CN=ed25519.test", { san: "DNS:ed25519.test" });
    leaf("multi", ec("P-256"), "/O=Tandem/CN=Multi Name", { san: "DNS:A.Test,DNS:*.b.test,IP:127.0.0.1,email:ops@a.test" });
    leaf("cnonly", ec("P-256"), "/CN=CN-Only.Test");
    leaf("chained", ec("P-256"), "/CN=chained.test", { san: "DNS:chained.test", issuer: "int" });
    openssl("pkey", "-in", "p256.key", "-aes256", "-passout", "pass:secret", "-out", "encrypted-pkcs8.key");
    openssl("rsa", "-in", "rsa.key", "-traditional", "-aes256", "-passout", "pass:secret", "-out", "encrypted-pkcs1.key");
    openssl("genpkey", "-algorithm", "ED448", "-out", "ed448.key");
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", "k1.key");

    // openssl x509 cannot back-date; `openssl ca` takes explicit dates, and puts years before 1950
    // in a GeneralizedTime.
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(
      join(dir, "ca.cnf"),
      "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nrand_serial = yes\ndefault_md = sha256\n" +
        "policy = p\nunique_subject = no\n[p]\ncommonName = supplied\n",
    );
    openssl("req", "-new", ...ec("P-256"), "-nodes", "-keyout", "expired.key", "-subj", "/CN=expired.test", "-out", "expired.csr");
    openssl("ca", "-config", "ca.cnf", "-batch", "-notext", "-in", "expired.csr", "-cert", "ca.pem", "-keyfile", "ca.key",
      "-startdate", "19450101000000Z", "-enddate", "20210101000000Z", "-out", "expired.pem");

    const names = ["ca", "int", "rsa", "p256", "p256b", "p384", "p521", "ed25519", "multi", "cnonly", "chained", "expired"];
    const files: Record<string, string> = {};
    const views: Record<string, OpensslView> = {};
    for (const name of names) {
      files[`${name}.pem`] = readFileSync(join(dir, `${name}.pem`), "utf8");
      files[`${name}.key`] = readFileSync(join(dir, `${name}.key`), "utf8");
      const printed = openssl("x509", "-in", `${name}.pem`, "-noout", "-dates", "-serial", "-dateopt", "iso_8601");
      const field = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(printed)![1];
      const time = (text: string) => {
        const [, y, mo, d, h, mi, s] = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)Z$/.exec(text)!.map(Number);
        return Date.UTC(y, mo - 1, d, h, mi, s);
      };
      views[name] = { notBefore: time(field("notBefore")), notAfter: time(field("notAfter")), serial: field("serial").toLowerCase() };
    }
    for (const name of ["rsa-pkcs1", "p256-sec1", "encrypted-pkcs8", "encrypted-pkcs1", "ed448", "k1"]) {
      files[`${name}.key`] = readFileSync(join(dir, `${name}.key`), "utf8");
    }
    files["p256.params"] = readFileSync(join(dir, "p256.params"), "utf8");
    cached = { files, openssl: views };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const file = (name: string) => {
  const text = fixtures().files[name];
  assert.ok(text, `fixture ${name}`);
  return text;
};
const certOf = (name: string): CertificateInfo => parseCertificate(pemBlocks(file(`${name}.pem`))[0].der);
const problemsOf = async (certPem: string, keyPem: string): Promise<string[]> => {
  const result = await checkKeyPair(certPem, keyPem, FILES);
  assert.equal(result.ok, false, "expected problems");
  return result.ok ? [] : result.problems;
};
const pairOf = async (certPem: string, keyPem: string) => {
  const result = await checkKeyPair(certPem, keyPem, FILES);
  assert.ok(result.ok, `expected a valid pair, got ${JSON.stringify(result)}`);
  return result.pair;
};

describe("pemBlocks", () => {
  test("reads every block, with CRLF, indentation and text between blocks", () => {
    const leaf = file("chained.pem").replace(/\n/g, "\r\n");
    const text = `Bag Attributes: ignored\r\nsubject=CN = chained.test\r\n${leaf}\r\n\r\nsome note\n  ${file("int.pem").replace(/\n/g, "\n  ")}`;
    const blocks = pemBlocks(text);
    assert.deepEqual(blocks.map((block) => block.label), ["CERTIFICATE", "CERTIFICATE"]);
    assert.equal(parseCertificate(blocks[0].der).subject, "chained.test");
    assert.equal(parseCertificate(blocks[1].der).subject, "Tandem Test Intermediate");
  });

  test("keeps labels, skips RFC 1421 headers, ignores unterminated and mismatched blocks", () => {
    const blocks = pemBlocks(file("p256.params") + file("encrypted-pkcs1.key") + "-----BEGIN X-----\nAAAA\n-----END Y-----\n");
    assert.deepEqual(blocks.map((block) => block.label), ["EC PARAMETERS", "RSA PRIVATE KEY"]);
    assert.ok(blocks[1].der.length > 1000, "the encrypted body, without the Proc-Type/DEK-Info lines");
  });

  test("a body that is not base64 gives an empty der, and no text gives no blocks", () => {
    assert.deepEqual(pemBlocks("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")[0].der, new Uint8Array(0));
    assert.deepEqual(pemBlocks("nothing here"), []);
  });
});

describe("parseCertificate", () => {
  test("names, dates and serial agree with openssl x509", () => {
    const { openssl } = fixtures();
    for (const [name, subject, issuer] of [
      ["rsa", "rsa.test", "Tandem Test CA"],
      ["p256", "p256.test", "Tandem Test CA"],
      ["p384", "p384.test", "Tandem Test CA"],
      ["ed25519", "ed25519.test", "Tandem Test CA"],
      ["chained", "chained.test", "Tandem Test Intermediate"],
      ["ca", "Tandem Test CA", "Tandem Test CA"],
      ["expired", "expired.test", "Tandem Test CA"],
    ]) {
      const info = certOf(name);
      assert.deepEqual(
        { subject: info.subject, issuer: info.issuer, notBefore: info.notBefore, notAfter: info.notAfter, serial: info.serial },
        { subject, issuer, ...openssl[name] },
        name,
      );
    }
  });

  test("serials drop the sign byte but keep other leading digits", () => {
    assert.equal(certOf("p256").serial, "80");
    assert.equal(certOf("rsa").serial, "0102");
  });

  test("UTCTime and GeneralizedTime on both sides of 1950 and 2050", () => {
    assert.equal(certOf("expired").notBefore, Date.UTC(1945, 0, 1));
    assert.equal(certOf("expired").notAfter, Date.UTC(2021, 0, 1));
    assert.ok(new Date(certOf("ca").notAfter).getUTCFullYear() > 2060, "GeneralizedTime after 2049");
  });

  test("dnsNames: SAN DNS entries lower-cased, else a host-like CN, else none", () => {
    assert.deepEqual(certOf("multi").dnsNames, ["a.test", "*.b.test"]);
    assert.equal(certOf("multi").subject, "Multi Name");
    assert.deepEqual(certOf("cnonly").dnsNames, ["cn-only.test"]);
    assert.deepEqual(certOf("ca").dnsNames, []);
    assert.deepEqual(certOf("rsa").dnsNames, ["rsa.test"]);
  });

  test("malformed input is refused with a reason", () => {
    const der = pemBlocks(file("p256.pem"))[0].der;
    assert.throws(() => parseCertificate(der.subarray(0, der.length - 10)), /truncated/);
    assert.throws(() => parseCertificate(new Uint8Array([...der, 0])), /1 bytes after the end/);
    assert.throws(() => parseCertificate(new TextEncoder().encode("hello world")), /Certificate: expected SEQUENCE/);
    assert.throws(() => parseCertificate(new Uint8Array(0)), /no data/);
    const key = pemBlocks(file("p256.key"))[0].der;
    assert.throws(() => parseCertificate(key), /tbsCertificate: expected SEQUENCE, found INTEGER/);
  });
});

describe("checkKeyPair", () => {
  for (const [cert, key, label] of [
    ["rsa", "rsa", "RSA 2048, PKCS#8"],
    ["rsa", "rsa-pkcs1", "RSA 2048, PKCS#1"],
    ["p256", "p256", "EC P-256, PKCS#8"],
    ["p256", "p256-sec1", "EC P-256, SEC1"],
    ["p384", "p384", "EC P-384"],
    ["p521", "p521", "EC P-521"],
    ["ed25519", "ed25519", "Ed25519"],
  ]) {
    test(`accepts a matching pair: ${label}`, async () => {
      const pair = await pairOf(file(`${cert}.pem`), file(`${key}.key`));
      assert.equal(pair.cert, file(`${cert}.pem`));
      assert.equal(pair.key, file(`${key}.key`));
      assert.deepEqual(pair.leaf, certOf(cert));
    });
  }

  test("accepts a chain file (leaf, then intermediate); the leaf is described", async () => {
    const chain = `${file("chained.pem")}\n# intermediate\n${file("int.pem")}`.replace(/\n/g, "\r\n");
    const pair = await pairOf(chain, file("chained.key"));
    assert.equal(pair.cert, chain);
    assert.equal(pair.leaf.subject, "chained.test");
    assert.equal(pair.leaf.issuer, "Tandem Test Intermediate");
  });

  test("accepts an expired certificate (dates are the caller's to judge)", async () => {
    const pair = await pairOf(file("expired.pem"), file("expired.key"));
    assert.ok(pair.leaf.notAfter < Date.now());
  });

  test("accepts an EC PARAMETERS block before the key, and one file holding both", async () => {
    await pairOf(file("p256.pem"), file("p256.params") + file("p256-sec1.key"));
    await pairOf(file("p256.pem") + file("p256.key"), file("p256.pem") + file("p256.key"));
  });

  test("a key of another certificate does not match", async () => {
    assert.deepEqual(await problemsOf(file("p256.pem"), file("p256b.key")), [MISMATCH]);
    assert.deepEqual(await problemsOf(file("rsa.pem"), file("ed25519.key")), [`${MISMATCH} (the key is Ed25519, the certificate's is RSA)`]);
    assert.deepEqual(await problemsOf(file("p384.pem"), file("p256.key")), [`${MISMATCH} (the key is EC P-256, the certificate's is EC P-384)`]);
  });

  test("a chain with the leaf last: the mismatch says where the key belongs", async () => {
    assert.deepEqual(await problemsOf(file("int.pem") + file("chained.pem"), file("chained.key")), [
      `${MISMATCH} (it belongs to certificate 2 in that file; the leaf certificate must come first)`,
    ]);
  });

  test("encrypted keys, PKCS#8 and traditional", async () => {
    assert.deepEqual(await problemsOf(file("p256.pem"), file("encrypted-pkcs8.key")), [ENCRYPTED]);
    assert.deepEqual(await problemsOf(file("rsa.pem"), file("encrypted-pkcs1.key")), [ENCRYPTED]);
  });

  test("unsupported key types are named", async () => {
    assert.deepEqual(await problemsOf(file("p256.pem"), file("ed448.key")), [`/etc/tandem/a.key: unsupported key type Ed448 ${SUPPORTED}`]);
    assert.deepEqual(await problemsOf(file("p256.pem"), file("k1.key")), [`/etc/tandem/a.key: unsupported key type EC secp256k1 ${SUPPORTED}`]);
  });

  test("garbage: no blocks, bad base64, bad DER", async () => {
    assert.deepEqual(await problemsOf("garbage\n", "garbage\n"), [`${NO_CERT})`, `${NO_KEY})`]);
    assert.deepEqual(await problemsOf("", "   \n"), [`${NO_CERT}, found an empty file)`, `${NO_KEY}, found an empty file)`]);
    assert.deepEqual(
      await problemsOf(
        `-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n`,
        "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
      ),
      [
        "/etc/tandem/a.pem: certificate 1 cannot be parsed: the PEM body is not valid base64",
        "/etc/tandem/a.pem: certificate 2 cannot be parsed: Certificate: expected SEQUENCE, found tag 0x68",
        "/etc/tandem/a.key: the private key cannot be parsed: PRIVATE KEY: expected SEQUENCE, found tag 0x68",
      ],
    );
    const truncated = file("p256.pem").split("\n").filter((_line, index) => index !== 3).join("\n");
    const [problem] = await problemsOf(truncated, file("p256.key"));
    assert.match(problem, /^\/etc\/tandem\/a\.pem: certificate 1 cannot be parsed: .+/);
  });

  test("every problem at once, each naming its file and what was found", async () => {
    assert.deepEqual(await problemsOf(file("p256.key"), file("p256.pem")), [
      `${NO_CERT}, found "PRIVATE KEY")`,
      `${NO_KEY}, found "CERTIFICATE")`,
    ]);
    const cutShort = file("p256.pem").replace(/-----END CERTIFICATE-----\s*$/, "");
    assert.deepEqual(await problemsOf(cutShort, file("encrypted-pkcs8.key")), [
      `${NO_CERT}, found a BEGIN line without its END line)`,
      ENCRYPTED,
    ]);
  });

  test("a private JWK without its public half: a signature decides", async () => {
    // WebCrypto does not promise the public members in a private JWK (Bun and Deno do include them).
    const subtle = crypto.subtle as SubtleCrypto & Record<string, unknown>;
    const own = { exportKey: Object.getOwnPropertyDescriptor(subtle, "exportKey"), sign: Object.getOwnPropertyDescriptor(subtle, "sign") };
    const exportKey = subtle.exportKey.bind(subtle);
    const sign = subtle.sign.bind(subtle);
    let signatures = 0;
    Object.defineProperty(subtle, "exportKey", {
      configurable: true,
      value: async (format: "jwk", key: CryptoKey) => {
        const jwk = await exportKey(format, key);
        if (key.type === "private") for (const field of ["n", "e", "x", "y"] as const) delete jwk[field];
        return jwk;
      },
    });
    Object.defineProperty(subtle, "sign", {
      configurable: true,
      value: (...args: Parameters<SubtleCrypto["sign"]>) => (signatures++, sign(...args)),
    });
    try {
      for (const [cert, key] of [["rsa", "rsa-pkcs1"], ["p384", "p384"], ["ed25519", "ed25519"]]) {
        await pairOf(file(`${cert}.pem`), file(`${key}.key`));
      }
      assert.deepEqual(await problemsOf(file("p256.pem"), file("p256b.key")), [MISMATCH]);
      assert.equal(signatures, 4);
    } finally {
      for (const [name, descriptor] of Object.entries(own)) {
        if (descriptor) Object.defineProperty(subtle, name, descriptor);
        else delete subtle[name];
      }
    }
    const restored = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    assert.equal(typeof (await crypto.subtle.exportKey("jwk", restored.privateKey)).x, "string", "exportKey restored");
  });

  test("the files named are the ones given", async () => {
    const result = await checkKeyPair("", file("p256b.key"), { cert: "certs/x.pem", key: "keys/x.key" });
    assert.deepEqual(result, { ok: false, problems: ['certs/x.pem: no certificate (expected a PEM "CERTIFICATE" block, found an empty file)'] });
    const mismatch = await checkKeyPair(file("p256.pem"), file("p256b.key"), { cert: "certs/x.pem", key: "keys/x.key" });
    assert.deepEqual(mismatch, { ok: false, problems: ["keys/x.key: the private key does not match the certificate in certs/x.pem"] });
  });
});

describe("matchesServerName", () => {
  test("exact names, case-insensitive, trailing dot ignored", () => {
    assert.ok(matchesServerName("a.test", "a.test"));
    assert.ok(matchesServerName("A.Test", "a.TEST"));
    assert.ok(matchesServerName("a.test", "a.test."));
    assert.ok(!matchesServerName("a.test", "b.test"));
    assert.ok(!matchesServerName("a.test", "x.a.test"));
    assert.ok(!matchesServerName("a.test", ""));
  });

  test("a wildcard covers exactly one extra left-most label", () => {
    assert.ok(matchesServerName("*.b.test", "x.b.test"));
    assert.ok(matchesServerName("*.B.test", "X.b.TEST"));
    assert.ok(!matchesServerName("*.b.test", "b.test"));
    assert.ok(!matchesServerName("*.b.test", ".b.test"));
    assert.ok(!matchesServerName("*.b.test", "x.y.b.test"));
    assert.ok(!matchesServerName("*.b.test", "xb.test"));
    assert.ok(!matchesServerName("x*.b.test", "xy.b.test"), "partial wildcards are not honoured");
    assert.ok(!matchesServerName("*", "a"));
  });
});

describe("selectCertificate", () => {
  const info = (dnsNames: string[]): CertificateInfo => ({ subject: "", issuer: "", dnsNames, notBefore: 0, notAfter: 0, serial: "01" });
  const pairs = [
    { name: "default", leaf: info(["default.test"]) },
    { name: "wildcard", leaf: info(["*.b.test", "a.test"]) },
    { name: "exact", leaf: info(["x.b.test"]) },
    { name: "second-wildcard", leaf: info(["*.b.test", "*.c.test"]) },
  ];
  const pick = (serverName: string | undefined) => selectCertificate(pairs, serverName).name;

  test("an exact name beats an earlier wildcard; the first wildcard wins among wildcards", () => {
    assert.equal(pick("x.b.test"), "exact");
    assert.equal(pick("y.b.test"), "wildcard");
    assert.equal(pick("y.c.test"), "second-wildcard");
    assert.equal(pick("a.test"), "wildcard");
  });

  test("case-insensitive", () => {
    assert.equal(pick("X.B.Test"), "exact");
    assert.equal(pick("Y.B.TEST"), "wildcard");
  });

  test("no SNI, or no match, gives the first pair", () => {
    assert.equal(pick(undefined), "default");
    assert.equal(pick(""), "default");
    assert.equal(pick("unknown.test"), "default");
    assert.equal(pick("b.test"), "default");
    assert.equal(pick("z.y.b.test"), "default");
  });

  test("works on pairs from checkKeyPair", async () => {
    const pairs = [await pairOf(file("p256.pem"), file("p256.key")), await pairOf(file("multi.pem"), file("multi.key"))];
    assert.equal(selectCertificate(pairs, "q.b.test"), pairs[1]);
    assert.equal(selectCertificate(pairs, "A.test"), pairs[1]);
    assert.equal(selectCertificate(pairs, "other.test"), pairs[0]);
  });
});
