import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPem, selfSignedPem } from "../../../core/acme/client.ts";
import { AcmeStorage, type StoragePorts } from "../../../core/acme/storage.ts";

function memoryFiles() {
  const files = new Map<string, { text: string; secret: boolean }>();
  const ports: StoragePorts = {
    readTextFile: async (path) => files.get(path)?.text ?? Promise.reject(new Error(`${path}: no such file`)),
    writeTextFileAtomic: async (path, text, options) => void files.set(path, { text, secret: options?.secret === true }),
    makeDirectory: async () => {},
    exists: async (path) => files.has(path),
  };
  return { files, ports };
}

test("one folder per CA, named for its host and path; every file written secret", async () => {
  const { files, ports } = memoryFiles();
  const storage = new AcmeStorage(ports, "/var/lib/tandem/acme/", "https://acme-staging-v02.api.letsencrypt.org/directory");
  assert.equal(storage.accountFile, "/var/lib/tandem/acme/acme-staging-v02.api.letsencrypt.org_directory/account.json");
  assert.equal(new AcmeStorage(ports, "/s", "https://127.0.0.1:14000/dir").accountFile, "/s/127.0.0.1_14000_dir/account.json");
  assert.equal(await storage.loadAccount(), undefined);
  await storage.saveAccount({ url: "https://ca/acct/1", keyPem: "PEM" });
  assert.deepEqual(await storage.loadAccount(), { url: "https://ca/acct/1", keyPem: "PEM" });
  const keyPem = await generateKeyPem("ec-p256");
  const saved = await storage.saveCertificate(["shop.test"], await selfSignedPem(["shop.test"], keyPem, 60_000, Date.now()), keyPem);
  assert.deepEqual(saved.leaf.dnsNames, ["shop.test"]);
  assert.deepEqual([...files.values()].map((file) => file.secret), [true, true, true]);
});

test("a certificate whose key does not match (a crash between the two writes) is no certificate; a broken account file is an error", async () => {
  const { files, ports } = memoryFiles();
  const storage = new AcmeStorage(ports, "/s", "https://ca.test/dir");
  const keyPem = await generateKeyPem("ec-p256");
  const certPem = await selfSignedPem(["shop.test"], keyPem, 60_000, Date.now());
  await storage.saveCertificate(["shop.test"], certPem, keyPem);
  assert.ok(await storage.loadCertificate(["shop.test"]), "control: the pair as written loads");
  files.set(storage.certificateFiles(["shop.test"]).keyFile, { text: await generateKeyPem("ec-p256"), secret: true });
  assert.equal(await storage.loadCertificate(["shop.test"]), undefined);
  await assert.rejects(storage.saveCertificate(["shop.test"], certPem, await generateKeyPem("ec-p256")), /does not fit its key/);
  files.set(storage.accountFile, { text: '{"url": 1}', secret: true });
  await assert.rejects(storage.loadAccount(), /expected \{"url", "keyPem"\}/);
});
