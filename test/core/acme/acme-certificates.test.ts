/**
 * AcmeCertificates over in-memory files, a fake clock, an in-memory CA and an in-memory peer: the
 * listener's pair first, readiness, the http-01 answers published locally and to the peers, a
 * reload that keeps or replaces a certificate, and a listener that catches up with what a peer
 * shared before it existed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { AcmeCertificates, type AcmePlatform } from "../../../core/acme/acme-certificates.ts";
import { generateKeyPem, selfSignedPem } from "../../../core/acme/client.ts";
import { accountKey, type AcmeReplication, certificateKey } from "../../../core/acme/cluster.ts";
import type { AcmeIssuer } from "../../../core/acme/managed-certificate.ts";
import { ListenerSchema } from "../../../core/config/schema.ts";
import { checkKeyPair, type ListenerTls } from "../../../core/tls/certificate.ts";
import { acmeDomains } from "../../../core/acme/domains.ts";
import { AcmeSchema } from "../../../core/acme/schema.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { eventually } from "../../support/waiting.ts";

const START = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function memoryPlatform(clock: FakeClock): AcmePlatform {
  const files = new Map<string, string>();
  return {
    clock,
    env: () => undefined,
    fetch: () => Promise.reject(new Error("no network in this test")),
    fetchTrusting: () => () => Promise.reject(new Error("no network in this test")),
    readTextFile: async (path) => files.get(path) ?? Promise.reject(new Error(`${path}: no such file`)),
    writeTextFileAtomic: async (path, text) => void files.set(path, text),
    makeDirectory: async () => {},
    exists: async (path) => files.has(path),
  };
}

class MemoryPeer implements AcmeReplication {
  readonly values = new Map<string, string>();
  follower = false;
  ordering = () => true;
  publish = (key: string, value: string) => void this.values.set(key, value);
  current = (key: string) => this.values.get(key);
  subscribe = () => {};
  delivered = async () => {};
}

const listener = (address: string, acme: Record<string, unknown>) => v.parse(ListenerSchema, { address, tls: { acme: { directory: "https://ca.test/dir", ...acme } } });

function setUp(replication?: MemoryPeer) {
  const clock = new FakeClock(START);
  const published: string[][] = [];
  let changes = 0;
  const certificates = new AcmeCertificates({
    platform: memoryPlatform(clock),
    log: () => {},
    changed: async () => void changes++,
    random: () => 0,
    replication,
    openClient: async (): Promise<AcmeIssuer> => ({
      account: { url: "https://ca.test/acct/1", keyPem: "account key" },
      obtain: async (request, responder) => {
        await responder.publishHttp01("token-1", "token-1.thumbprint", request.domains[0]);
        published.push([...certificates.tokens.answer({ method: "GET", target: "/.well-known/acme-challenge/token-1" })!.body as Uint8Array].map(String));
        await responder.withdraw(request.domains[0], "token-1");
        const keyPem = await generateKeyPem("ec-p256");
        return { keyPem, certPem: await selfSignedPem(request.domains, keyPem, 24 * HOUR, clock.now()), notBefore: clock.now(), notAfter: clock.now() + 24 * HOUR };
      },
      renewalInfo: async () => null,
    }),
  });
  return { clock, certificates, published, changes: () => changes };
}

const fileTls = (address: string): Map<string, ListenerTls> => new Map([[address, { certificates: [], minVersion: "1.2" }]]);
const noFiles = { acmeCa: new Map(), listenerTls: fileTls(":443") };

test("the placeholder, then the CA's certificate first on its listener; the http-01 answer published while the CA looks", async () => {
  const peer = new MemoryPeer();
  const { clock, certificates, published, changes } = setUp(peer);
  const listeners = [listener(":443", { domains: ["shop.test"] })];
  assert.deepEqual(await certificates.apply(listeners, "/etc/tandem/tandem.yaml", noFiles), []);
  assert.equal(certificates.ready(), false);
  assert.equal(certificates.withCertificates(fileTls(":443")).get(":443")!.certificates[0].certFile, "(acme placeholder)");
  assert.equal(certificates.status()[0].state, "placeholder", "control: no files, the placeholder serves");
  assert.equal(changes(), 0, "apply installs without a sync of its own: the caller syncs after it");

  clock.advance(0);
  await eventually(() => (certificates.ready() ? true : undefined), 20_000, "the certificate");
  const pair = certificates.withCertificates(fileTls(":443")).get(":443")!.certificates[0];
  assert.equal(pair.certFile, "/etc/tandem/acme/ca.test_dir/shop.test/cert.pem");
  assert.equal(changes(), 1);
  assert.equal(published.length, 1, "answered while the order ran");
  assert.equal(certificates.tokens.size, 0, "withdrawn after");
  assert.equal(peer.values.get("http-01 token-1"), "", "the peers were told of the answer and of its withdrawal");
  assert.match(JSON.parse(peer.values.get(certificateKey("https://ca.test/dir", ["shop.test"]))!).certPem, /BEGIN CERTIFICATE/);
  assert.equal(JSON.parse(peer.values.get(accountKey("https://ca.test/dir"))!).url, "https://ca.test/acct/1");

  assert.deepEqual(await certificates.apply(listeners, "/etc/tandem/tandem.yaml", noFiles), []);
  assert.equal(certificates.withCertificates(fileTls(":443")).get(":443")!.certificates[0].cert, pair.cert, "unchanged settings keep the certificate");
  await certificates.apply([listener(":443", { domains: ["other.test"] })], "/etc/tandem/tandem.yaml", noFiles);
  assert.equal(certificates.ready(), false, "other domains: a new placeholder and order");
  await certificates.apply([], "/etc/tandem/tandem.yaml", noFiles);
  assert.deepEqual(certificates.status(), []);
  assert.equal(certificates.ready(), true, "no ACME listener left to wait for");
});

test("a listener added by a reload takes the certificate a peer shared before it existed", async () => {
  const peer = new MemoryPeer();
  peer.ordering = () => false;
  const { certificates, clock } = setUp(peer);
  const keyPem = await generateKeyPem("ec-p256");
  const certPem = await selfSignedPem(["shop.test"], keyPem, 24 * HOUR, clock.now());
  peer.values.set(certificateKey("https://ca.test/dir", ["shop.test"]), JSON.stringify({ certPem, keyPem }));
  await certificates.apply([listener(":443", { domains: ["shop.test"] })], undefined, noFiles);
  assert.equal(certificates.ready(), true);
  assert.equal(certificates.withCertificates(fileTls(":443")).get(":443")!.certificates[0].cert, certPem);

  const control = setUp(new MemoryPeer());
  await control.certificates.apply([listener(":443", { domains: ["shop.test"] })], undefined, noFiles);
  assert.equal(control.certificates.ready(), false, "control: nothing shared, the placeholder");
  control.certificates.stop();
  certificates.stop();
});

test("a listener with certificate files: ACME takes their names, the files serve (and it is ready) until the CA's certificate comes first", async () => {
  const { certificates, clock } = setUp();
  const keyPem = await generateKeyPem("ec-p256");
  const certPem = await selfSignedPem(["shop.test", "www.shop.test"], keyPem, 24 * HOUR, clock.now());
  const checked = await checkKeyPair(certPem, keyPem, { cert: "shop.pem", key: "shop.key" });
  assert.ok(checked.ok);
  const filePair = { ...checked.pair, certFile: "shop.pem", keyFile: "shop.key" };
  const listenerTls = new Map<string, ListenerTls>([[":443", { certificates: [filePair], minVersion: "1.2" }]]);
  const withFiles = v.parse(ListenerSchema, { address: ":443", tls: { certificates: [{ cert: "shop.pem", key: "shop.key" }], acme: { directory: "https://ca.test/dir" } } });
  await certificates.apply([withFiles], undefined, { acmeCa: new Map(), listenerTls });
  assert.deepEqual(certificates.status()[0].domains, ["shop.test", "www.shop.test"]);
  assert.deepEqual(certificates.withCertificates(listenerTls).get(":443")!.certificates.map((pair) => pair.certFile), ["shop.pem"], "no placeholder in front of the files");
  assert.equal(certificates.ready(), true);
  assert.equal(certificates.status()[0].state, "files", "the status says what serves: the files, not a placeholder");
  clock.advance(0);
  await eventually(() => (certificates.status()[0].state === "valid" ? true : undefined), 20_000, "the certificate");
  assert.deepEqual(certificates.withCertificates(listenerTls).get(":443")!.certificates.map((pair) => pair.certFile), ["acme/ca.test_dir/shop.test/cert.pem", "shop.pem"]);
  certificates.stop();
});

test("acmeDomains: the configured names, else the files' names in order, each once", () => {
  const files = [{ leaf: { dnsNames: ["a.test", "b.test"] } }, { leaf: { dnsNames: ["b.test", "c.test"] } }];
  const acme = (domains?: string[]) => ({ ...v.parse(AcmeSchema, { domains: ["x.test"] }), domains });
  assert.deepEqual(acmeDomains(acme(), files), ["a.test", "b.test", "c.test"]);
  assert.deepEqual(acmeDomains(acme(["x.test"]), files), ["x.test"]);
});
