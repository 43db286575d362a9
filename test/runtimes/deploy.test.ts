/**
 * What deploy/ ships, checked for real: the container image is built offline with buildah
 * (deploy/container/build.sh), its root file system is mounted and its entrypoint run under
 * chroot as the image's user, inside a network namespace this test creates, where it balances a
 * request to a backend and answers its own HEALTHCHECK; the systemd units pass
 * `systemd-analyze verify` and the VRRP drop-in adds exactly its capabilities and address
 * families; every example config passes `tandem check`.
 *
 * The image test needs root, buildah, ip, unshare and chroot (CI installs buildah); the systemd
 * test needs systemd-analyze. Each is skipped with the reason when its tools are missing (under
 * CI=true that fails instead: support/tools.ts).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { type Certificates, type Leaf, makeCertificates, run } from "../support/certs.ts";
import { runtime, tandemCommand } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";

const root = new URL("../../", import.meta.url).pathname;
const MAX_IMAGE_BYTES = 150 * 1024 * 1024;

function _onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, command)));
}

function _missing(commands: string[]): string[] {
  return commands.filter((command) => !_onPath(command));
}

function _imageSkipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (buildah mount, network namespaces, chroot)";
  const missing = _missing(["buildah", "ip", "unshare", "chroot", "ldd"]);
  return missing.length > 0 ? `missing ${missing.join(", ")} (Debian: apt-get install buildah; CI installs it)` : false;
}

const imageSkip = requireTool("deploy.test.ts: the container image test", _imageSkipReason());
const systemdSkip = requireTool("deploy.test.ts: the systemd tests", _onPath("systemd-analyze") ? false : "systemd-analyze is not installed (Debian package systemd)");

/** Runs a command line to its end (bounded). */
function _run(argv: string[], timeoutMs = 30_000) {
  return run(argv[0], argv.slice(1), { timeoutMs });
}

/** Runs a command line that must succeed, and gives its trimmed stdout; its stderr is in the error otherwise. */
async function _must(argv: string[], timeoutMs = 30_000): Promise<string> {
  const result = await _run(argv, timeoutMs);
  if (result.code !== 0) throw new Error(`${argv.join(" ")} failed (${result.timedOut ? "timed out" : result.code}): ${result.stderr}`);
  return result.stdout.trim();
}

/** A backend, and a one-shot HTTP client, as a script the test runs inside the namespace. */
const NAMESPACE_HELPER = `
import { createServer } from "node:http";
import process from "node:process";
const [role, arg, name] = process.argv.slice(2);
if (role === "backend") {
  createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ backend: name, path: request.url, forwardedFor: request.headers["x-forwarded-for"] ?? null }));
  }).listen(Number(arg), "127.0.0.1", () => console.log("ready"));
} else {
  const response = await fetch(arg, { signal: AbortSignal.timeout(5000) });
  console.log(JSON.stringify({ status: response.status, setCookie: response.headers.get("set-cookie"), body: await response.text() }));
}
`;

/** The command line that runs a script file on the runtime running this test. */
function _scriptCommand(script: string, args: string[]): string[] {
  return runtime === "bun" ? [process.execPath, script, ...args] : [process.execPath, "run", "-A", script, ...args];
}

interface Started {
  child: ChildProcess;
  waitForLine(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string>;
  exited: Promise<void>;
}

/** Spawns a long-running process and collects its stdout lines. */
function _start(command: string[]): Started {
  const child = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let buffered = "";
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  child.stdout!.on("data", (chunk) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  let gone = false;
  exited.then(() => (gone = true));
  const waitForLine = async (match: (line: string) => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(match);
      if (found !== undefined) return found;
      if (gone || Date.now() > deadline) {
        throw new Error(`${gone ? "exited" : "timed out"} waiting for ${what}\nstdout: ${lines.join("\n")}\nstderr: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { child, waitForLine, exited };
}

interface ImageConfig {
  User: string;
  Entrypoint: string[];
  Cmd: string[];
  ExposedPorts: Record<string, unknown>;
  Healthcheck: { Test: string[] };
  Labels: Record<string, string>;
}

describe("container image", () => {
  test(`built offline from scratch; its entrypoint balances a request as a non-root user (${runtime})`, { skip: imageSkip, timeout: 240_000 }, async () => {
    const tag = `localhost/tandem-deploy-test:${process.pid}-${Date.now()}`;
    const namespace = `tandem-deploy-${process.pid}`;
    const work = mkdtempSync(join(tmpdir(), "tandem-deploy-"));
    let container = "";
    let built = false;
    let namespaceMade = false;
    const started: Started[] = [];
    try {
      const build = await _run(["bash", join(root, "deploy/container/build.sh"), tag], 180_000);
      assert.equal(build.code, 0, `build.sh failed: ${build.stderr}`);
      built = true;

      const config: ImageConfig = JSON.parse(await _must(["buildah", "inspect", "--type", "image", tag])).Docker.config;
      const [uid, gid] = config.User.split(":").map(Number);
      assert.ok(uid > 0 && gid > 0, `the image runs as a non-root user (got User ${config.User})`);
      assert.deepEqual(config.Entrypoint, ["/tandem"]);
      for (const port of ["8080/tcp", "8443/tcp", "8404/tcp"]) assert.ok(port in config.ExposedPorts, `exposes ${port}`);
      assert.equal(config.Healthcheck.Test[0], "CMD");
      assert.equal(config.Labels["org.opencontainers.image.title"], "tandem");
      assert.match(config.Labels["org.opencontainers.image.version"], /^\d+\.\d+\.\d+/);
      const configPath = config.Cmd[config.Cmd.indexOf("--config") + 1];
      assert.equal(configPath, "/etc/tandem/tandem.yaml", "the documented mount path");

      container = await _must(["buildah", "from", tag]);
      const mount = await _must(["buildah", "mount", container]);
      const bytes = Number((await _must(["du", "-sb", mount])).split(/\s/)[0]);
      assert.ok(bytes <= MAX_IMAGE_BYTES, `the root file system is ${(bytes / 1048576).toFixed(1)} MiB, at most 150 MiB`);
      const files = _filesUnder(mount);
      const libraries = files.filter((file) => /^\/lib[^/]*\/.*\.so(\.\d+)*$/.test(file));
      assert.deepEqual(files.filter((file) => !libraries.includes(file)), ["/etc/group", "/etc/nsswitch.conf", "/etc/passwd", "/tandem"], "only the binary, its libraries and /etc");
      assert.ok(libraries.some((file) => file.includes("/ld-linux")) && libraries.some((file) => file.includes("/libc.so")), `the loader and libc (got ${libraries})`);
      assert.match(readFileSync(join(mount, "etc/passwd"), "utf8"), new RegExp(`^tandem:x:${uid}:${gid}:`, "m"));

      writeFileSync(join(mount, configPath), [
        "listeners: [{ address: \"127.0.0.1:8080\" }]",
        "admin: { address: \"127.0.0.1:8404\" }",
        "pools:",
        "  app:",
        "    sticky: { mode: insert, key: \"a key of sixteen characters or more\" }",
        "    members: [{ name: backend1, url: \"http://127.0.0.1:9000\" }]",
        "",
      ].join("\n"));

      await _must(["ip", "netns", "add", namespace]);
      namespaceMade = true;
      await _must(["ip", "-n", namespace, "link", "set", "lo", "up"]);
      const inNamespace = (command: string[]) => ["ip", "netns", "exec", namespace, ...command];
      // What a container runtime gives the entrypoint: its own /proc, the image's root, its user.
      const inImage = (command: string[]) =>
        inNamespace(["unshare", `--mount-proc=${join(mount, "proc")}`, "chroot", `--userspec=${config.User}`, mount, ...command]);

      const helper = join(work, "helper.mjs");
      writeFileSync(helper, NAMESPACE_HELPER);
      const backend = _start(inNamespace(_scriptCommand(helper, ["backend", "9000", "backend1"])));
      started.push(backend);
      await backend.waitForLine((line) => line === "ready", 15_000, "the backend");

      const tandem = _start(inImage([...config.Entrypoint, ...config.Cmd]));
      started.push(tandem);
      await tandem.waitForLine((line) => line.includes('"event":"listening"'), 15_000, "tandem's listener");
      await tandem.waitForLine((line) => line.includes('"event":"admin-listening"'), 15_000, "tandem's admin plane");

      const answer = JSON.parse(await _must(inNamespace(_scriptCommand(helper, ["get", "http://127.0.0.1:8080/through-the-image"]))));
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { backend: "backend1", path: "/through-the-image", forwardedFor: "127.0.0.1" });
      // <id>.<issued>.<lastSeen>.<mac>: the HMAC comes from WebCrypto inside the compiled binary.
      assert.match(answer.setCookie ?? "", /^SERVERID=[^.;]+\.[^.;]+\.[^.;]+\.[^.;]+;/, "the signed insert cookie");
      await tandem.waitForLine((line) => line.includes('"member":"backend1"') && line.includes('"status":200'), 5000, "the access log line");

      const [, ...probe] = config.Healthcheck.Test;
      const healthy = await _run(inImage(probe), 15_000);
      assert.equal(healthy.code, 0, `the image's HEALTHCHECK passes: ${healthy.stderr}`);
      const unhealthy = await _run(inImage(["/tandem", "healthcheck", "http://127.0.0.1:1/healthz"]), 15_000);
      assert.equal(unhealthy.code, 1, "the probe fails when nothing answers");

      const uids = await _namespaceProcesses(namespace);
      const serving = uids.filter((entry) => entry.command === "tandem");
      assert.equal(serving.length, 1, `one tandem process in the namespace (got ${JSON.stringify(uids)})`);
      assert.deepEqual(serving[0].uids, [uid, uid, uid, uid], "real, effective, saved and file-system uid are the image's user");

      tandem.child.kill("SIGTERM");
      await tandem.waitForLine((line) => line.includes('"event":"stopped"'), 15_000, "a graceful stop");
    } finally {
      for (const spawned of started) spawned.child.kill("SIGKILL");
      await Promise.all(started.map((spawned) => Promise.race([spawned.exited, new Promise((resolve) => setTimeout(resolve, 5000))])));
      if (namespaceMade) {
        for (const { pid } of await _namespaceProcesses(namespace)) await _run(["kill", "-9", String(pid)]);
        await _run(["ip", "netns", "del", namespace]);
      }
      if (container) {
        await _run(["buildah", "umount", container]);
        await _run(["buildah", "rm", container]);
      }
      if (built) await _run(["buildah", "rmi", tag]);
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/** Every regular file under `dir`, as absolute paths inside it, sorted. */
function _filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((entry) => {
      const path = `${prefix}/${entry.name}`;
      if (entry.isDirectory()) return _filesUnder(dir, path);
      return entry.isFile() ? [path] : [];
    })
    .sort();
}

/** The processes in `namespace` (only ever ones this test started), with their uids. */
async function _namespaceProcesses(namespace: string): Promise<{ pid: number; command: string; uids: number[] }[]> {
  const pids = (await _run(["ip", "netns", "pids", namespace])).stdout.split("\n").filter((line) => /^\d+$/.test(line));
  return pids.flatMap((pid) => {
    try {
      const command = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const uidLine = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((line) => line.startsWith("Uid:"))!;
      return [{ pid: Number(pid), command, uids: uidLine.split(/\s+/).slice(1, 5).map(Number) }];
    } catch {
      return []; // it exited meanwhile
    }
  });
}

describe("systemd units", () => {
  /** A copy of deploy/systemd in a temporary directory, ExecStart pointing to a program that exists. */
  function _units(withVrrp: boolean): string {
    const dir = mkdtempSync(join(tmpdir(), "tandem-systemd-"));
    const unit = readFileSync(join(root, "deploy/systemd/tandem.service"), "utf8");
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/tandem serve --config \/etc\/tandem\/tandem\.yaml$/m);
    // systemd runs ExecReload lines in order and stops at the first failure: check before SIGHUP.
    assert.deepEqual(unit.split("\n").filter((line) => line.startsWith("ExecReload=")), [
      "ExecReload=/usr/local/bin/tandem check --config /etc/tandem/tandem.yaml",
      "ExecReload=/bin/kill -HUP $MAINPID",
    ]);
    assert.match(unit, /^StateDirectory=tandem$/m, "the one writable place, for the state file");
    // verify checks that ExecStart names an executable file; the installed binary is not here.
    writeFileSync(join(dir, "tandem.service"), unit.replaceAll("/usr/local/bin/tandem", process.execPath));
    if (withVrrp) {
      mkdirSync(join(dir, "tandem.service.d"));
      writeFileSync(join(dir, "tandem.service.d/vrrp.conf"), readFileSync(join(root, "deploy/systemd/tandem.service.d/vrrp.conf")));
    }
    return dir;
  }

  async function _exposed(dir: string): Promise<Record<string, boolean>> {
    const report = await _must(["systemd-analyze", "security", "--offline=true", "--json=short", join(dir, "tandem.service")]);
    return Object.fromEntries((JSON.parse(report) as { json_field: string; set: boolean }[]).map((entry) => [entry.json_field, !entry.set]));
  }

  test("tandem.service and its VRRP drop-in pass systemd-analyze verify without a warning", { skip: systemdSkip, timeout: 60_000 }, async () => {
    for (const withVrrp of [false, true]) {
      const dir = _units(withVrrp);
      const verified = await _run(["systemd-analyze", "verify", join(dir, "tandem.service")]);
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(verified.stdout + verified.stderr, "", `no warning${withVrrp ? " with vrrp.conf" : ""}`);
      rmSync(dir, { recursive: true, force: true });
    }
    // The drop-in is really read: a key systemd does not know in it is reported.
    const dir = _units(true);
    writeFileSync(join(dir, "tandem.service.d/vrrp.conf"), "\nNoSuchSetting=1\n", { flag: "a" });
    const verified = await _run(["systemd-analyze", "verify", join(dir, "tandem.service")]);
    assert.match(verified.stderr, /vrrp\.conf:\d+: Unknown key 'NoSuchSetting'/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("only the VRRP drop-in grants CAP_NET_ADMIN, AF_NETLINK and AF_PACKET", { skip: systemdSkip, timeout: 60_000 }, async () => {
    const plainDir = _units(false);
    const vrrpDir = _units(true);
    const [plain, vrrp] = await Promise.all([_exposed(plainDir), _exposed(vrrpDir)]);
    for (const field of ["CapabilityBoundingSet_CAP_NET_ADMIN", "RestrictAddressFamilies_AF_NETLINK", "RestrictAddressFamilies_AF_PACKET"]) {
      assert.equal(plain[field], false, `tandem.service withholds ${field}`);
      assert.equal(vrrp[field], true, `vrrp.conf grants ${field}`);
    }
    const changed = Object.keys(plain).filter((field) => plain[field] !== vrrp[field]).sort();
    assert.deepEqual(changed, ["CapabilityBoundingSet_CAP_NET_ADMIN", "RestrictAddressFamilies_AF_NETLINK", "RestrictAddressFamilies_AF_PACKET"], "nothing else");
    for (const field of ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "SystemCallFilter_mount"]) {
      assert.equal(plain[field], false, `${field} is hardened`);
    }
    rmSync(plainDir, { recursive: true, force: true });
    rmSync(vrrpDir, { recursive: true, force: true });
  });
});

describe("example configs", () => {
  const examples = readdirSync(join(root, "deploy/examples")).filter((name) => /\.ya?ml$/.test(name)).sort();

  test("there is one example per seed topology", () => {
    for (const seed of ["seed-000", "seed-001", "seed-002", "seed-003-004"]) {
      assert.ok(examples.some((name) => name.startsWith(seed)), `deploy/examples has ${seed}-*.yaml (got ${examples.join(", ")})`);
    }
  });

  for (const name of examples) {
    test(`${name} passes tandem check (${runtime})`, { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), "tandem-example-"));
      const path = join(dir, name);
      const text = readFileSync(join(root, "deploy/examples", name), "utf8");
      writeFileSync(path, text);
      await _provideTlsFiles(parse(text), dir);
      const checked = await _checkWithSecrets(path);
      assert.equal(checked.code, 0, `${name}: ${checked.stderr}`);
      assert.match(checked.stdout, /: OK \(/);
      rmSync(dir, { recursive: true, force: true });
    });
  }
});

let certificatesMade: Promise<Certificates> | undefined;
/** One set of test certificates for the whole file. */
const _certificates = () => (certificatesMade ??= makeCertificates());

/**
 * The examples keep their secrets out of the file, in the environment as they document
 * (TANDEM_VRRP_KEY, TANDEM_CLUSTER_KEY, TANDEM_ADMIN_SECRET); `check` runs with stand-ins set.
 */
function _checkWithSecrets(path: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, ...args] = tandemCommand(["check", "--config", path]);
  const env = { ...process.env, NO_COLOR: "1", TANDEM_VRRP_KEY: "vrrp-key-for-the-test", TANDEM_CLUSTER_KEY: "cluster-key-for-the-test-0123456789", TANDEM_ADMIN_SECRET: "admin-secret-for-the-test-0123456789" };
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The parts of a config that name certificate files. */
interface ExampleFiles {
  listeners?: { tls?: { certificates?: { cert?: string; key?: string }[] } }[];
  pools?: Record<string, { tls?: { ca?: string } }>;
  cluster?: { tls?: { cert?: string; key?: string; ca?: string } };
}

/**
 * The examples name certificate files an operator provides (relative to the config, as under
 * /etc/tandem in the image). For `check` to read them, test certificates are written there: a
 * matching leaf and key for each listener certificate and node certificate, the test CA for each CA.
 */
async function _provideTlsFiles(config: ExampleFiles, dir: string): Promise<void> {
  const wanted: [string | undefined, (certificates: Certificates) => string][] = [];
  const pair = (files: { cert?: string; key?: string }, leaf: (certificates: Certificates) => Leaf) => {
    wanted.push([files.cert, (certificates) => leaf(certificates).cert], [files.key, (certificates) => leaf(certificates).key]);
  };
  for (const listener of config.listeners ?? []) {
    for (const files of listener.tls?.certificates ?? []) pair(files, (certificates) => certificates.localhost);
  }
  for (const pool of Object.values(config.pools ?? {})) wanted.push([pool.tls?.ca, (certificates) => certificates.ca.cert]);
  if (config.cluster?.tls) {
    pair(config.cluster.tls, (certificates) => certificates.peer1);
    wanted.push([config.cluster.tls.ca, (certificates) => certificates.ca.cert]);
  }
  const files = wanted.filter((entry): entry is [string, (certificates: Certificates) => string] => entry[0] !== undefined);
  if (files.length === 0) return;
  const certificates = await _certificates();
  for (const [file, source] of files) {
    assert.ok(!isAbsolute(file), `example certificate paths are relative to the config (got ${file})`);
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), readFileSync(source(certificates)));
  }
}
