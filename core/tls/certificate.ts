/**
 * Certificates and keys for TLS listeners: reads PEM files, checks that a chain and its private key
 * belong together before a listener is (re)started with them, and picks the pair to present for a
 * ClientHello's server name (SNI).
 *
 * The runtimes' TLS stacks take PEM text and fail late and vaguely on a wrong file (or, on a hot
 * reload, take the old listener down with them), so every problem is found here first, in terms an
 * operator can act on. Key matching uses only WebCrypto: the key is imported as PKCS#8 (PKCS#1 and
 * SEC1 keys are re-wrapped, as WebCrypto reads nothing else) and its public half compared with the
 * certificate's.
 *
 * ```ts
 * import { checkKeyPair, selectCertificate } from "./certificate.ts";
 * const result = await checkKeyPair(certPem, keyPem, { cert: "a.pem", key: "a.key" });
 * if (!result.ok) throw new Error(result.problems.join("\n"));
 * const pair = selectCertificate([result.pair], "www.example.com");
 * ```
 *
 * @module
 */
import { children, decodeOid, type DerNode, encodeDer, encodeOid, expectTag, readOne, Tag, tagName } from "./der.ts";

export interface CertificateInfo {
  /** Subject common name, "" when absent. */
  subject: string;
  /** Issuer common name, "" when absent. */
  issuer: string;
  /** Lower-case dNSName entries of subjectAltName; when the certificate has no SAN DNS names, [subject CN] if the CN looks like a host name, else []. */
  dnsNames: string[];
  /** Validity, milliseconds since the Unix epoch (UTCTime and GeneralizedTime both handled). */
  notBefore: number;
  notAfter: number;
  /** Serial number as lower-case hex without leading zero bytes. */
  serial: string;
}

/** A certificate chain and its private key, checked to belong together. */
export interface KeyPair {
  /** The PEM text of the chain as read (leaf first), passed to the TLS listener unchanged. */
  cert: string;
  /** The PEM text of the key as read. */
  key: string;
  leaf: CertificateInfo;
}

/** What a TLS listener needs from its files. */
export interface ListenerTls {
  /** In config order: the first is the default certificate. */
  certificates: (KeyPair & { certFile: string; keyFile: string })[];
  minVersion: "1.2" | "1.3";
}

const OID_COMMON_NAME = "2.5.4.3";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_RSA = "1.2.840.113549.1.1.1";
const OID_EC = "1.2.840.10045.2.1";
const OID_ED25519 = "1.3.101.112";

const CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
};
/** Names for keys people do meet, so the refusal says more than an OID. */
const UNSUPPORTED_KEYS: Record<string, string> = {
  "1.2.840.113549.1.1.10": "RSA-PSS",
  "1.2.840.10040.4.1": "DSA",
  "1.3.101.110": "X25519",
  "1.3.101.111": "X448",
  "1.3.101.113": "Ed448",
};
const UNSUPPORTED_CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
  "1.3.132.0.10": "secp256k1",
  "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
  "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
  "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
  "1.2.156.10197.1.301": "SM2",
};
const SUPPORTED = "RSA, EC P-256/P-384/P-521 and Ed25519 are";
const KEY_LABELS = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"];
const ENCRYPTED = "encrypted private keys are not supported (decrypt it with openssl pkey)";
const PEM_BLOCK = /-----BEGIN ([^\r\n-]*)-----((?:(?!-----)[\s\S])*)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HOST_NAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;
const EXPLICIT_0 = 0xa0;
const EXPLICIT_3 = 0xa3;
const DNS_NAME = 0x82;
const utf8 = new TextDecoder();

/** A key algorithm both WebCrypto runtimes can import and sign with. */
interface KeyType {
  /** Compared between certificate and key, and shown in messages: "RSA", "EC P-256", "Ed25519". */
  name: string;
  importParams: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  signParams: Algorithm | EcdsaParams;
  /** The JWK members that carry the public key. */
  publicFields: readonly string[];
}

interface ParsedCertificate {
  info: CertificateInfo;
  spki: Uint8Array;
  keyType: KeyType | { unsupported: string };
}

interface PemSection {
  label: string;
  /** RFC 1421 "Proc-Type: 4,ENCRYPTED", as in OpenSSL's traditional encrypted keys. */
  encrypted: boolean;
  /** Undefined when the body is not base64. */
  der: Uint8Array<ArrayBuffer> | undefined;
}

/**
 * The PEM blocks in `text` ("-----BEGIN X-----" ... "-----END X-----"), base64 decoded. Tolerates
 * CRLF, whitespace, text between blocks. RFC 1421 header lines ("Proc-Type: ...") are skipped. A
 * block whose body is not base64 comes back with an empty `der` (which parseCertificate refuses)
 * rather than throwing, so one bad block still lets a caller report the others.
 */
export function pemBlocks(text: string): { label: string; der: Uint8Array }[] {
  return _pemSections(text).map(({ label, der }) => ({ label, der: der ?? new Uint8Array(0) }));
}

/** Parses an X.509 certificate. Throws Error with a short reason on malformed input. */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  return _readCertificate(der).info;
}

/**
 * Checks a certificate chain file's text and a key file's text. Every problem names the file it
 * is about (the paths in `files`) and says what was expected and what was found, e.g.
 *   "/etc/tandem/a.pem: no certificate (expected a PEM \"CERTIFICATE\" block)"
 *   "/etc/tandem/a.pem: certificate 1 cannot be parsed: <reason>"
 *   "/etc/tandem/a.key: no private key (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)"
 *   "/etc/tandem/a.key: encrypted private keys are not supported (decrypt it with openssl pkey)"
 *   "/etc/tandem/a.key: unsupported key type <oid or name> (RSA, EC P-256/P-384/P-521 and Ed25519 are)"
 *   "/etc/tandem/a.key: the private key does not match the certificate in /etc/tandem/a.pem"
 * Returns all problems found (not just the first). Does NOT judge validity dates (callers warn on those).
 */
export async function checkKeyPair(
  certPem: string,
  keyPem: string,
  files: { cert: string; key: string },
): Promise<{ ok: true; pair: KeyPair } | { ok: false; problems: string[] }> {
  const problems: string[] = [];
  const certProblem = (text: string) => problems.push(`${files.cert}: ${text}`);
  const keyProblem = (text: string) => problems.push(`${files.key}: ${text}`);

  const certSections = _pemSections(certPem);
  const certificates = certSections.filter((section) => section.label === "CERTIFICATE");
  if (certificates.length === 0) {
    certProblem(`no certificate (expected a PEM "CERTIFICATE" block${_found(certSections, certPem, ["CERTIFICATE"])})`);
  }
  const chain: ParsedCertificate[] = [];
  certificates.forEach((section, index) => {
    try {
      if (!section.der) throw new Error("the PEM body is not valid base64");
      chain.push(_readCertificate(section.der));
    } catch (error) {
      certProblem(`certificate ${index + 1} cannot be parsed: ${_reason(error)}`);
    }
  });

  const keySections = _pemSections(keyPem);
  const keySection = keySections.find((section) => KEY_LABELS.includes(section.label));
  let key: { pkcs8: Uint8Array<ArrayBuffer>; type: KeyType } | undefined;
  if (!keySection) {
    keyProblem(
      `no private key (expected a PEM "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY" block${
        _found(keySections, keyPem, KEY_LABELS)
      })`,
    );
  } else {
    const read = _readPrivateKey(keySection);
    if (typeof read === "string") keyProblem(read);
    else key = read;
  }

  if (problems.length > 0 || !key) return { ok: false, problems };
  const leaf = chain[0];
  const mismatch = `the private key does not match the certificate in ${files.cert}`;

  let privateKey: CryptoKey;
  let privateJwk: JsonWebKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", key.pkcs8, key.type.importParams, true, ["sign"]);
    privateJwk = await crypto.subtle.exportKey("jwk", privateKey);
  } catch (error) {
    keyProblem(`the ${key.type.name} private key cannot be read: ${_reason(error)}`);
    return { ok: false, problems };
  }
  const belongsTo = async (certificate: ParsedCertificate): Promise<boolean> =>
    _name(certificate.keyType) === key.type.name && await _samePublicKey(privateKey, privateJwk, certificate.spki, key.type);

  let matches: boolean;
  try {
    matches = await belongsTo(leaf);
  } catch (error) {
    certProblem(`the public key of certificate 1 cannot be read: ${_reason(error)}`);
    return { ok: false, problems };
  }
  if (!matches) {
    let detail = "";
    if (_name(leaf.keyType) !== key.type.name) {
      detail = ` (the key is ${key.type.name}, the certificate's is ${_name(leaf.keyType)})`;
    } else {
      // A chain file written root first is a common slip; saying so beats a bare mismatch.
      for (let index = 1; index < chain.length; index++) {
        if (await belongsTo(chain[index]).catch(() => false)) {
          detail = ` (it belongs to certificate ${index + 1} in that file; the leaf certificate must come first)`;
          break;
        }
      }
    }
    keyProblem(mismatch + detail);
    return { ok: false, problems };
  }
  return { ok: true, pair: { cert: certPem, key: keyPem, leaf: leaf.info } };
}

/** True when `name` (a TLS server name, case-insensitive) is covered by `pattern`: exact, or "*.example.com" matching exactly one extra left-most label. */
export function matchesServerName(pattern: string, name: string): boolean {
  const wanted = _normalizeName(pattern);
  const given = _normalizeName(name);
  if (given === "") return false;
  if (wanted === given) return true;
  if (!wanted.startsWith("*.") || wanted.length < 3) return false;
  const suffix = wanted.slice(1);
  return given.length > suffix.length && given.endsWith(suffix) && !given.slice(0, -suffix.length).includes(".");
}

/**
 * The pair to present for a TLS ClientHello's server name: an exact dnsNames match first, then a wildcard
 * match, else the first pair (the default, also for clients that send no SNI). `pairs` is non-empty.
 */
export function selectCertificate<T extends { leaf: CertificateInfo }>(pairs: readonly T[], serverName: string | undefined): T {
  const name = _normalizeName(serverName ?? "");
  if (name === "") return pairs[0];
  return pairs.find((pair) => pair.leaf.dnsNames.some((dnsName) => _normalizeName(dnsName) === name)) ??
    pairs.find((pair) => pair.leaf.dnsNames.some((dnsName) => matchesServerName(dnsName, name))) ??
    pairs[0];
}

function _pemSections(text: string): PemSection[] {
  const sections: PemSection[] = [];
  for (const [, label, body] of text.matchAll(PEM_BLOCK)) {
    const lines = body.split(/\r?\n|\r/);
    const headers = lines.filter((line) => line.includes(":"));
    const base64 = lines.filter((line) => !line.includes(":")).join("").replace(/\s+/g, "");
    let der: Uint8Array<ArrayBuffer> | undefined;
    if (BASE64.test(base64)) {
      try {
        der = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      } catch {
        der = undefined;
      }
    }
    const encrypted = headers.some((line) => /^\s*Proc-Type:\s*4\s*,\s*ENCRYPTED/i.test(line));
    sections.push({ label, encrypted, der });
  }
  return sections;
}

/** ", found …" for a "no X (expected …)" message: what the file held instead, when that helps. */
function _found(sections: readonly PemSection[], text: string, labels: readonly string[]): string {
  if (sections.length > 0) return `, found ${[...new Set(sections.map((section) => `"${section.label}"`))].join(", ")}`;
  if (labels.some((label) => text.includes(`-----BEGIN ${label}-----`))) return ", found a BEGIN line without its END line";
  if (text.trim() === "") return ", found an empty file";
  return "";
}

function _readCertificate(der: Uint8Array): ParsedCertificate {
  if (der.length === 0) throw new Error("no data (is the PEM body base64?)");
  const certificate = children(readOne(der, Tag.SEQUENCE, "Certificate"));
  if (certificate.length !== 3) throw new Error(`Certificate: expected 3 elements, found ${certificate.length}`);
  const tbs = children(expectTag(certificate[0], Tag.SEQUENCE, "tbsCertificate"));
  let next = tbs[0]?.tag === EXPLICIT_0 ? 1 : 0;
  const serial = expectTag(tbs[next++], Tag.INTEGER, "serialNumber").value;
  if (serial.length === 0) throw new Error("serialNumber: empty INTEGER");
  expectTag(tbs[next++], Tag.SEQUENCE, "signature");
  const issuer = _commonName(expectTag(tbs[next++], Tag.SEQUENCE, "issuer"));
  const validity = children(expectTag(tbs[next++], Tag.SEQUENCE, "validity"));
  const notBefore = _time(validity[0], "notBefore");
  const notAfter = _time(validity[1], "notAfter");
  const subject = _commonName(expectTag(tbs[next++], Tag.SEQUENCE, "subject"));
  const spki = expectTag(tbs[next++], Tag.SEQUENCE, "subjectPublicKeyInfo");
  const keyType = _keyType(children(spki)[0]);

  const dnsNames: string[] = [];
  for (const node of tbs.slice(next)) {
    if (node.tag !== EXPLICIT_3) continue;
    for (const extension of children(expectTag(children(node)[0], Tag.SEQUENCE, "extensions"))) {
      const fields = children(expectTag(extension, Tag.SEQUENCE, "extension"));
      if (decodeOid(expectTag(fields[0], Tag.OID, "extnID").value) !== OID_SUBJECT_ALT_NAME) continue;
      const value = expectTag(fields[fields.length - 1], Tag.OCTET_STRING, "subjectAltName extnValue");
      for (const name of children(readOne(value.value, Tag.SEQUENCE, "subjectAltName"))) {
        if (name.tag === DNS_NAME) dnsNames.push(_latin1(name.value).toLowerCase());
      }
    }
  }
  // Clients fell back to the CN before SANs were required; certificates made for them still exist.
  const cn = subject.toLowerCase();
  if (dnsNames.length === 0 && cn.length <= 253 && HOST_NAME.test(cn)) dnsNames.push(cn);

  const hex = Array.from(serial, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return {
    info: { subject, issuer, dnsNames, notBefore, notAfter, serial: hex.replace(/^(00)+(?=..)/, "") },
    spki: spki.bytes,
    keyType,
  };
}

/**
 * The last CN of a Name: RFC 6125 treats the last as the most specific when there are several.
 */
function _commonName(name: DerNode): string {
  let result = "";
  for (const rdn of children(name)) {
    for (const attribute of children(expectTag(rdn, Tag.SET, "RelativeDistinguishedName"))) {
      const [type, value] = children(expectTag(attribute, Tag.SEQUENCE, "AttributeTypeAndValue"));
      if (decodeOid(expectTag(type, Tag.OID, "attribute type").value) === OID_COMMON_NAME) result = _string(value);
    }
  }
  return result;
}

function _string(node: DerNode | undefined): string {
  if (!node) throw new Error("attribute value missing");
  const bytes = node.value;
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return utf8.decode(bytes);
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.TELETEX_STRING:
      return _latin1(bytes);
    case Tag.BMP_STRING: {
      let text = "";
      for (let i = 0; i + 1 < bytes.length; i += 2) text += String.fromCharCode(bytes[i] << 8 | bytes[i + 1]);
      return text;
    }
    case Tag.UNIVERSAL_STRING: {
      let text = "";
      for (let i = 0; i + 3 < bytes.length; i += 4) {
        text += String.fromCodePoint(((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0);
      }
      return text;
    }
    default:
      throw new Error(`attribute value: unsupported string type ${tagName(node.tag)}`);
  }
}

function _latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

function _time(node: DerNode | undefined, what: string): number {
  if (!node) throw new Error(`${what} missing`);
  const text = _latin1(node.value);
  let match: RegExpMatchArray | null;
  let year: number;
  if (node.tag === Tag.UTC_TIME) {
    match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/.exec(text);
    // RFC 5280: two-digit years 50-99 are 19xx, 00-49 are 20xx.
    year = match ? Number(match[1]) + (Number(match[1]) < 50 ? 2000 : 1900) : 0;
  } else if (node.tag === Tag.GENERALIZED_TIME) {
    match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(?:\.\d+)?Z$/.exec(text);
    year = match ? Number(match[1]) : 0;
  } else {
    throw new Error(`${what}: expected UTC TIME or GENERALIZED TIME, found ${tagName(node.tag)}`);
  }
  const [month, day, hour, minute, second] = (match?.slice(2, 7) ?? []).map((part) => Number(part ?? 0));
  if (!match || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new Error(`${what}: malformed time "${text}"`);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function _keyType(algorithmIdentifier: DerNode | undefined): KeyType | { unsupported: string } {
  const [algorithm, parameters] = children(expectTag(algorithmIdentifier, Tag.SEQUENCE, "AlgorithmIdentifier"));
  const oid = decodeOid(expectTag(algorithm, Tag.OID, "algorithm").value);
  if (oid === OID_RSA) {
    return {
      name: "RSA",
      importParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      signParams: { name: "RSASSA-PKCS1-v1_5" },
      publicFields: ["n", "e"],
    };
  }
  if (oid === OID_ED25519) {
    return { name: "Ed25519", importParams: { name: "Ed25519" }, signParams: { name: "Ed25519" }, publicFields: ["x"] };
  }
  if (oid === OID_EC) {
    if (parameters?.tag !== Tag.OID) return { unsupported: "EC with explicit curve parameters" };
    const curveOid = decodeOid(parameters.value);
    const curve = CURVES[curveOid];
    if (!curve) return { unsupported: `EC ${UNSUPPORTED_CURVES[curveOid] ?? curveOid}` };
    return {
      name: `EC ${curve}`,
      importParams: { name: "ECDSA", namedCurve: curve },
      signParams: { name: "ECDSA", hash: "SHA-256" },
      publicFields: ["x", "y"],
    };
  }
  return { unsupported: UNSUPPORTED_KEYS[oid] ?? oid };
}

function _name(type: KeyType | { unsupported: string }): string {
  return "unsupported" in type ? type.unsupported : type.name;
}

/** The key as PKCS#8 with its type, or a problem (without the file name). */
function _readPrivateKey(section: PemSection): { pkcs8: Uint8Array<ArrayBuffer>; type: KeyType } | string {
  if (section.label === "ENCRYPTED PRIVATE KEY" || section.encrypted) return ENCRYPTED;
  const der = section.der;
  if (!der) return `the private key cannot be parsed: the "${section.label}" block is not valid base64`;
  let pkcs8: Uint8Array<ArrayBuffer>;
  let type: KeyType | { unsupported: string };
  try {
    const key = children(readOne(der, Tag.SEQUENCE, section.label));
    expectTag(key[0], Tag.INTEGER, `${section.label} version`);
    const version0 = encodeDer(Tag.INTEGER, new Uint8Array([0]));
    if (section.label === "PRIVATE KEY") {
      type = _keyType(key[1]);
      pkcs8 = der;
    } else if (section.label === "RSA PRIVATE KEY") {
      if (key.length < 9) throw new Error(`RSA PRIVATE KEY: expected 9 elements, found ${key.length}`);
      const algorithm = encodeDer(Tag.SEQUENCE, encodeOid(OID_RSA), encodeDer(Tag.NULL));
      type = _keyType(readOne(algorithm));
      pkcs8 = encodeDer(Tag.SEQUENCE, version0, algorithm, encodeDer(Tag.OCTET_STRING, der));
    } else {
      // SEC1 names its curve in the optional [0] field, which PKCS#8 moves to the AlgorithmIdentifier.
      const parameters = key.find((node) => node.tag === EXPLICIT_0);
      if (!parameters) return "the EC private key does not name its curve (expected a named curve in its parameters)";
      const curve = readOne(parameters.value);
      if (curve.tag !== Tag.OID) return `unsupported key type EC with explicit curve parameters (${SUPPORTED})`;
      const algorithm = encodeDer(Tag.SEQUENCE, encodeOid(OID_EC), curve.bytes);
      type = _keyType(readOne(algorithm));
      pkcs8 = encodeDer(Tag.SEQUENCE, version0, algorithm, encodeDer(Tag.OCTET_STRING, der));
    }
  } catch (error) {
    return `the private key cannot be parsed: ${_reason(error)}`;
  }
  if ("unsupported" in type) return `unsupported key type ${type.unsupported} (${SUPPORTED})`;
  return { pkcs8, type };
}

async function _samePublicKey(privateKey: CryptoKey, privateJwk: JsonWebKey, spki: Uint8Array, type: KeyType): Promise<boolean> {
  const publicKey = await crypto.subtle.importKey("spki", spki.slice(), type.importParams, true, ["verify"]);
  const fromPrivate = privateJwk as Record<string, unknown>;
  if (type.publicFields.every((field) => typeof fromPrivate[field] === "string")) {
    const fromPublic = await crypto.subtle.exportKey("jwk", publicKey) as Record<string, unknown>;
    return type.publicFields.every((field) => fromPrivate[field] === fromPublic[field]);
  }
  // Bun and Deno both put the public half in a private JWK; WebCrypto does not promise it, and a
  // signature that verifies proves the pair just as well.
  const message = crypto.getRandomValues(new Uint8Array(32));
  const signature = await crypto.subtle.sign(type.signParams, privateKey, message);
  return crypto.subtle.verify(type.signParams, publicKey, signature, message);
}

function _normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

function _reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
