import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../../../core/config/load.ts";
import type { Config } from "../../../core/config/schema.ts";
import { loadConfigFiles, resolvePath } from "../../../core/config/files.ts";

/** One real certificate and key, made with openssl, held in memory as a fake file system. */
function fakeFiles(): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-tls-files-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
      "-subj", "/CN=a.test", "-addext", "subjectAltName=DNS:a.test", "-keyout", "a.key", "-out", "a.pem"], { cwd: dir, stdio: "ignore" });
    return new Map([
      ["/etc/tandem/tls/a.pem", readFileSync(join(dir, "a.pem"), "utf8")],
      ["/etc/tandem/tls/a.key", readFileSync(join(dir, "a.key"), "utf8")],
      ["/etc/tandem/ca.pem", readFileSync(join(dir, "a.pem"), "utf8")],
      ["/etc/tandem/not-pem.txt", "hello"],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function config(input: Record<string, unknown>): Config {
  const result = validateConfig({ pools: { app: { members: [{ name: "a", url: "https://10.0.0.1:8443" }] } }, ...input });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  return result.config;
}

const files = fakeFiles();
const platform = {
  runtime: "test",
  tlsMinVersions: ["1.2", "1.3"] as const,
  readTextFile(path: string) {
    const text = files.get(path);
    return text === undefined ? Promise.reject(new Error("No such file or directory")) : Promise.resolve(text);
  },
};

describe("config files (certificates, keys, CA bundles)", () => {
  test("relative paths are taken from the config file's directory", () => {
    assert.equal(resolvePath("/etc/tandem/tandem.yaml", "tls/a.pem"), "/etc/tandem/tls/a.pem");
    assert.equal(resolvePath("/etc/tandem/tandem.yaml", "/srv/a.pem"), "/srv/a.pem");
    assert.equal(resolvePath("tandem.yaml", "tls/a.pem"), "tls/a.pem");
    assert.equal(resolvePath(undefined, "tls/a.pem"), "tls/a.pem");
    assert.equal(resolvePath("/tmp/t/tandem.json", "../certs/./a.pem"), "/tmp/certs/a.pem");
    assert.equal(resolvePath("conf/tandem.yaml", "../../a.pem"), "../a.pem");
    assert.equal(resolvePath("/etc/tandem.yaml", "/srv//x/../a.pem"), "/srv/a.pem");
  });

  test("a listener's certificates and a pool's CA are read, checked and listed for watching", async () => {
    const result = await loadConfigFiles(config({
      listeners: [{ address: ":443", tls: { certificates: [{ cert: "tls/a.pem", key: "tls/a.key" }], minVersion: "1.3" } }],
      pools: { app: { tls: { ca: "ca.pem" }, members: [{ name: "a", url: "https://10.0.0.1:8443" }] } },
    }), "/etc/tandem/tandem.yaml", platform);
    assert.ok(result.ok);
    const tls = result.files.listenerTls.get(":443")!;
    assert.equal(tls.minVersion, "1.3");
    assert.deepEqual(tls.certificates.map((pair) => [pair.certFile, pair.keyFile, pair.leaf.dnsNames]), [
      ["/etc/tandem/tls/a.pem", "/etc/tandem/tls/a.key", ["a.test"]],
    ]);
    assert.deepEqual(result.files.backendCa.get("app"), [files.get("/etc/tandem/ca.pem")]);
    assert.deepEqual(result.files.paths, ["/etc/tandem/tls/a.pem", "/etc/tandem/tls/a.key", "/etc/tandem/ca.pem"]);
  });

  test("every broken file is named with its config path, all at once", async () => {
    const result = await loadConfigFiles(config({
      listeners: [{
        address: ":443",
        tls: { certificates: [{ cert: "tls/missing.pem", key: "tls/a.key" }, { cert: "tls/a.pem", key: "not-pem.txt" }] },
      }],
      pools: { app: { tls: { ca: "not-pem.txt" }, members: [{ name: "a", url: "https://10.0.0.1:8443" }] } },
    }), "/etc/tandem/tandem.yaml", platform);
    assert.ok(!result.ok);
    assert.equal(result.problems.length, 3, result.problems.join("\n"));
    assert.match(result.problems[0], /^listeners\[0\]\.tls\.certificates\[0\]\.cert: \/etc\/tandem\/tls\/missing\.pem: cannot read: No such file/);
    assert.match(result.problems[1], /^listeners\[0\]\.tls\.certificates\[1\]: \/etc\/tandem\/not-pem\.txt: no private key/);
    assert.match(result.problems[2], /^pools\.app\.tls\.ca: \/etc\/tandem\/not-pem\.txt: no certificate/);
  });

  test("a minVersion the runtime cannot enforce is a problem", async () => {
    const result = await loadConfigFiles(config({
      listeners: [{ address: ":443", tls: { certificates: [{ cert: "tls/a.pem", key: "tls/a.key" }], minVersion: "1.3" } }],
    }), "/etc/tandem/tandem.yaml", { ...platform, tlsMinVersions: ["1.2"] });
    assert.ok(!result.ok);
    assert.deepEqual(result.problems, ['listeners[0].tls.minVersion: "1.3" cannot be enforced on test (it can: "1.2")']);
  });

  test("hsts needs tls, redirectToHttps needs a plain listener", () => {
    const result = validateConfig({
      listeners: [
        { address: ":80", hsts: {} },
        { address: ":443", redirectToHttps: 443, tls: { certificates: [{ cert: "a.pem", key: "a.key" }] } },
        { address: ":8443", tls: { certificates: [] }, redirectToHttps: 70000 },
      ],
      pools: { app: { members: [{ name: "a", url: "http://10.0.0.1" }] } },
    });
    assert.ok(!result.ok);
    const paths = result.problems.map((problem) => problem.path);
    assert.ok(paths.includes("listeners[2].tls.certificates"), paths.join());
    assert.ok(paths.includes("listeners[2].redirectToHttps"), paths.join());
    // Cross-field rules run once the shape is valid: check them on a config that has no shape error.
    const cross = validateConfig({
      listeners: [
        { address: ":80", hsts: {} },
        { address: ":443", redirectToHttps: 443, tls: { certificates: [{ cert: "a.pem", key: "a.key" }] } },
      ],
      pools: { app: { members: [{ name: "a", url: "http://10.0.0.1" }] } },
    });
    assert.ok(!cross.ok);
    assert.deepEqual(cross.problems.map((problem) => problem.path), ["listeners[0].hsts", "listeners[1].redirectToHttps"]);
  });

  test("shared keys: a cluster or vrrp section without its key is a problem unless the environment gives it", async () => {
    const sections = {
      listeners: [{ address: ":80" }],
      cluster: { name: "c", node: "lb1", listen: ":7400", peers: [{ name: "lb2", address: "10.0.0.2:7400" }] },
      vrrp: { address: "10.0.0.1", peers: ["10.0.0.2"], instances: [{ name: "vi1", vrid: 51, interface: "eth0", virtualAddresses: ["10.0.0.100/24"] }] },
    };
    const missing = await loadConfigFiles(config(sections), "/etc/tandem/tandem.yaml", platform);
    assert.ok(!missing.ok);
    assert.equal(missing.problems.length, 2);
    assert.match(missing.problems[0], /^cluster: a shared key/);
    assert.match(missing.problems[1], /^vrrp\.key: /);
    const env = (name: string) => ({ TANDEM_CLUSTER_KEY: "k".repeat(32), TANDEM_VRRP_KEY: "v".repeat(16) } as Record<string, string>)[name];
    assert.ok((await loadConfigFiles(config(sections), "/etc/tandem/tandem.yaml", { ...platform, env })).ok);
  });
});
