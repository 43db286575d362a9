/**
 * ManagedCertificate over a fake clock, in-memory files and an in-memory CA that signs with the
 * real key and certificate code: placeholder, first order, renewal, backoff, restart, ARI, stop.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AcmeError, generateKeyPem, selfSignedPem } from "../../../core/acme/client.ts";
import type { CertificateRequest, RenewalWindow } from "../../../core/acme/client.ts";
import { type AcmeIssuer, ManagedCertificate, type ManagedCertificateOptions } from "../../../core/acme/managed-certificate.ts";
import { AcmeStorage, type StoragePorts, type StoredCertificate } from "../../../core/acme/storage.ts";
import * as v from "valibot";
import { AcmeSchema } from "../../../core/acme/schema.ts";
import { FakeClock } from "../../support/fake-clock.ts";
import { eventually } from "../../support/waiting.ts";

const MINUTE = 60_000;
const START = Date.UTC(2026, 0, 1);
const LIFETIME = 60 * MINUTE;

class MemoryFiles implements StoragePorts {
  readonly files = new Map<string, { text: string; secret: boolean }>();
  readonly directories = new Set<string>();
  readTextFile = async (path: string) => {
    const file = this.files.get(path);
    if (!file) throw new Error(`${path}: no such file`);
    return file.text;
  };
  writeTextFileAtomic = async (path: string, text: string, options?: { secret?: boolean }) => {
    if (!this.directories.has(path.slice(0, path.lastIndexOf("/")))) throw new Error(`${path}: no such directory`);
    this.files.set(path, { text, secret: options?.secret === true });
  };
  makeDirectory = async (path: string) => void this.directories.add(path);
  exists = async (path: string) => this.files.has(path);
}

/** Signs what it is asked with a self-signed certificate of LIFETIME; `failWith` makes the next orders fail. */
class MemoryCa {
  orders: CertificateRequest[] = [];
  accountsOpened: (string | undefined)[] = [];
  failWith: AcmeError[] = [];
  window: RenewalWindow | null = null;
  constructor(readonly clock: FakeClock) {}
  open = async (accountKeyPem: string | undefined): Promise<AcmeIssuer> => {
    this.accountsOpened.push(accountKeyPem);
    const account = { url: "https://ca.test/acct/1", keyPem: accountKeyPem ?? await generateKeyPem("ec-p256") };
    return {
      account,
      obtain: async (request) => {
        this.orders.push(request);
        const failure = this.failWith.shift();
        if (failure) throw failure;
        const keyPem = await generateKeyPem(request.keyType);
        return { keyPem, certPem: await selfSignedPem(request.domains, keyPem, LIFETIME, this.clock.now()), notBefore: this.clock.now(), notAfter: this.clock.now() + LIFETIME };
      },
      renewalInfo: async () => this.window,
    };
  };
}

function setUp(overrides: Record<string, unknown> = {}, files = new MemoryFiles(), clock = new FakeClock(START), cluster?: ManagedCertificateOptions["cluster"]) {
  const parsed = v.parse(AcmeSchema, { domains: ["www.example.test", "example.test"], directory: "https://ca.test/dir", retryMin: "1m", retryMax: "10m", ...overrides });
  const config = { ...parsed, domains: parsed.domains! };
  const ca = new MemoryCa(clock);
  const installs: StoredCertificate[] = [];
  const events: Record<string, unknown>[] = [];
  const certificate = new ManagedCertificate({
    listener: ":443",
    config,
    storage: new AcmeStorage(files, "/var/lib/tandem/acme", config.directory),
    clock,
    random: () => 0,
    log: (record) => void events.push(record),
    openIssuer: ca.open,
    responder: { publishHttp01: async () => {}, withdraw: async () => {} },
    placeholder: async (domains, now) => {
      const keyPem = await generateKeyPem("ec-p256");
      return { keyPem, certPem: await selfSignedPem(domains, keyPem, 24 * 60 * MINUTE, now) };
    },
    install: async (pair) => void installs.push(pair),
    cluster,
  });
  const orderSettled = (count: number) =>
    eventually(() => (certificate.status().orders.ok + certificate.status().orders.failed >= count && certificate.status().nextAttempt !== undefined ? true : undefined), 20_000, `order ${count} settled`);
  return { config, ca, files, clock, certificate, installs, events, orderSettled };
}

test("with nothing stored the placeholder serves, then the CA's certificate, stored 0600 with the account", async () => {
  const { certificate, installs, ca, files, clock, orderSettled } = setUp();
  await certificate.start();
  assert.equal(installs.length, 1);
  assert.equal(installs[0].certFile, "(acme placeholder)");
  assert.deepEqual(installs[0].leaf.dnsNames, ["www.example.test", "example.test"]);
  assert.equal(certificate.ready, false);
  assert.equal(certificate.status().state, "placeholder");

  clock.advance(0);
  await orderSettled(1);
  assert.equal(certificate.ready, true);
  assert.equal(installs.length, 2);
  assert.equal(installs[1].certFile, "/var/lib/tandem/acme/ca.test_dir/www.example.test/cert.pem");
  assert.deepEqual(ca.orders[0], { domains: ["www.example.test", "example.test"], challenge: "http-01", keyType: "ec-p256", replaces: undefined });
  assert.deepEqual(ca.accountsOpened, [undefined], "a new account");
  for (const path of ["account.json", "www.example.test/cert.pem", "www.example.test/key.pem"]) {
    assert.equal(files.files.get(`/var/lib/tandem/acme/ca.test_dir/${path}`)?.secret, true, path);
  }
  const status = certificate.status();
  assert.equal(status.state, "valid");
  assert.equal(status.notAfter, installs[1].leaf.notAfter);
  assert.equal(status.nextAttempt, installs[1].leaf.notAfter - LIFETIME / 3, "a third of the lifetime left (draw 0)");
});

test("renewed when a third of the lifetime is left, not before", async () => {
  const { certificate, installs, ca, clock, orderSettled } = setUp();
  await certificate.start();
  clock.advance(0);
  await orderSettled(1);
  const renewAt = certificate.status().nextAttempt!;
  clock.advance(renewAt - clock.now() - 1);
  assert.equal(ca.orders.length, 1, "not yet");
  clock.advance(1);
  await orderSettled(2);
  assert.equal(ca.orders.length, 2);
  assert.equal(installs.length, 3);
  assert.notEqual(installs[2].leaf.serial, installs[1].leaf.serial);
  assert.deepEqual(ca.accountsOpened.length, 1, "the account is opened once");
});

test("failures back off doubling up to retryMax, the CA's Retry-After respected; a success resets them", async () => {
  const { certificate, ca, clock, events, orderSettled } = setUp();
  ca.failWith = [
    new AcmeError("connection", "the CA cannot be reached"),
    new AcmeError("server-internal", "boom"),
    new AcmeError("server-internal", "boom"),
    new AcmeError("server-internal", "boom"),
    new AcmeError("server-internal", "boom"),
    new AcmeError("rate-limited", "too many certificates", { retryAfterMs: 30 * MINUTE }),
  ];
  await certificate.start();
  clock.advance(0);
  const waits: number[] = [];
  for (let n = 1; n <= 6; n++) {
    await orderSettled(n);
    const due = certificate.status().nextAttempt!;
    waits.push(due - clock.now());
    clock.advance(due - clock.now());
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 10, 30].map((minutes) => minutes * MINUTE));
  const status = certificate.status();
  assert.equal(status.failures, 6);
  assert.equal(status.lastError?.code, "rate-limited");
  assert.match(status.lastError!.message, /too many certificates/);
  assert.equal(status.state, "placeholder");
  assert.equal(events.filter((event) => event.event === "acme-failed").length, 6);
  await orderSettled(7);
  assert.equal(certificate.ready, true);
  assert.equal(certificate.status().failures, 0);
  assert.equal(certificate.status().lastError, undefined);
});

test("a restart serves the stored certificate at once and reuses the stored account", async () => {
  const first = setUp();
  await first.certificate.start();
  first.clock.advance(0);
  await first.orderSettled(1);
  first.certificate.stop();
  const accountKey = JSON.parse(first.files.files.get("/var/lib/tandem/acme/ca.test_dir/account.json")!.text).keyPem;

  const second = setUp({}, first.files, first.clock);
  await second.certificate.start();
  assert.equal(second.installs.length, 1);
  assert.equal(second.installs[0].leaf.serial, first.installs[1].leaf.serial);
  assert.equal(second.certificate.ready, true);
  assert.equal(second.ca.orders.length, 0);
  second.clock.advance(second.certificate.status().nextAttempt! - second.clock.now());
  await second.orderSettled(1);
  assert.deepEqual(second.ca.accountsOpened, [accountKey], "the stored account key, not a new account");

  const otherDomains = setUp({ domains: ["other.test"] }, first.files, first.clock);
  await otherDomains.certificate.start();
  assert.equal(otherDomains.certificate.ready, false, "control: a certificate for other names is not reused");
});

test("the CA's renewal window moves the renewal", async () => {
  const { certificate, ca, clock, events, orderSettled } = setUp();
  await certificate.start();
  clock.advance(0);
  await orderSettled(1);
  ca.window = { start: clock.now() + 50 * MINUTE, end: clock.now() + 52 * MINUTE, retryAfterMs: 3_600_000 };
  clock.advance(certificate.status().nextAttempt! - clock.now());
  await eventually(() => events.find((event) => event.event === "acme-renewal-window"), 20_000, "the window");
  assert.equal(ca.orders.length, 1, "no order before the window");
  assert.equal(certificate.status().nextAttempt, ca.window.start);
  clock.advance(ca.window.start - clock.now());
  await orderSettled(2);
  assert.equal(ca.orders.length, 2);
});

test("stopped, nothing more is ordered", async () => {
  const { certificate, ca, clock } = setUp();
  await certificate.start();
  certificate.stop();
  clock.advance(24 * 60 * MINUTE);
  assert.equal(ca.orders.length, 0);
  assert.equal(clock.pending, 0);
});

test("in a pair, the node that does not order waits, adopts the orderer's certificate, and orders once it becomes the orderer", async () => {
  let ordering = false;
  const shared: string[] = [];
  const cluster = {
    follower: false,
    ordering: () => ordering,
    shareAccount: () => void shared.push("account"),
    shareCertificate: () => void shared.push("certificate"),
  };
  const { certificate, ca, clock, installs, orderSettled } = setUp({}, new MemoryFiles(), new FakeClock(START), cluster);
  await certificate.start();
  clock.advance(0);
  assert.equal(ca.orders.length, 0, "lb2 does not order");
  assert.equal(certificate.status().nextAttempt, clock.now() + MINUTE, "asked again after retryMin");

  const otherKey = await generateKeyPem("ec-p256");
  const fromOrderer = await selfSignedPem(["www.example.test", "example.test"], otherKey, LIFETIME, clock.now());
  await certificate.adopt(await selfSignedPem(["other.test"], otherKey, LIFETIME, clock.now()), otherKey);
  assert.equal(certificate.ready, false, "control: a certificate for other names is not adopted");
  await certificate.adopt(fromOrderer, otherKey);
  assert.equal(certificate.ready, true);
  assert.equal(installs.at(-1)!.cert, fromOrderer);
  assert.equal(certificate.status().nextAttempt, installs.at(-1)!.leaf.notAfter - LIFETIME / 3);
  clock.advance(MINUTE);
  await certificate.adopt(await selfSignedPem(["www.example.test", "example.test"], otherKey, LIFETIME / 2, clock.now()), otherKey);
  assert.equal(installs.at(-1)!.cert, fromOrderer, "one that ends sooner is not taken");

  ordering = true;
  clock.advance(certificate.status().nextAttempt! - clock.now());
  await orderSettled(1);
  assert.equal(ca.orders.length, 1, "the new orderer renews");
  assert.deepEqual(shared, ["account", "certificate"], "and shares what it got");
});
