/**
 * Where access lines go, on the real process: a file that logrotate renames (SIGUSR1 makes every
 * worker write to a new one under the name), syslog through Debian's real rsyslog, receiving over
 * UDP in a network namespace this test makes and over a local datagram socket, and `tandem check`
 * refusing a bad `accessLog` with the problem named.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBackend } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { runtime, runTandem, startTandem, writeConfig } from "../support/tandem.ts";
import { requireTool } from "../support/tools.ts";
import { labUnavailable, sh } from "../support/vrrp-lab.ts";
import { eventually } from "../support/waiting.ts";

const LIMIT = { timeout: 60_000 };
const RSYSLOGD = "/usr/sbin/rsyslogd";

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}

/** `count` requests with ids of their own, one connection each, so the workers share them. */
async function send(url: string, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${url}/${prefix}-${i}`, { headers: { connection: "close" } });
    await response.text();
    assert.equal(response.status, 200);
  }
}

/**
 * rsyslog in a network namespace of its own, reached over a veth pair from this one
 * (10.89.x.1 here, 10.89.x.2 there), with a UDP input there and a local socket input in a
 * temporary directory, writing every message to a file as `facility.severity app-name msg`.
 */
class SyslogLab {
  readonly prefix = `tl${Math.random().toString(16).slice(2, 8)}`;
  readonly subnet = 1 + Math.floor(Math.random() * 250);
  readonly dir = mkdtempSync(join(tmpdir(), "tandem-rsyslog-"));
  readonly output = join(this.dir, "messages.log");
  readonly socket = join(this.dir, "log.sock");
  readonly port = 5514;
  #rsyslog: ChildProcess | undefined;
  #said = "";

  get address(): string {
    return `10.89.${this.subnet}.2`;
  }

  setUp(): void {
    const ns = `${this.prefix}log`;
    sh(["ip", "netns", "add", ns]);
    sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    sh(["ip", "link", "add", `${this.prefix}h`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    sh(["ip", "addr", "add", `10.89.${this.subnet}.1/30`, "dev", `${this.prefix}h`]);
    sh(["ip", "link", "set", `${this.prefix}h`, "up"]);
    sh(["ip", "-n", ns, "addr", "add", `${this.address}/30`, "dev", "eth0"]);
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    const config = join(this.dir, "rsyslog.conf");
    writeFileSync(config, [
      `global(workDirectory="${this.dir}")`,
      'module(load="imudp")',
      'module(load="imuxsock" SysSock.Use="off")',
      `input(type="imudp" address="${this.address}" port="${this.port}")`,
      // The standard parsers (not imuxsock's own) read the RFC 5424 header of what comes in.
      `input(type="imuxsock" Socket="${this.socket}" UseSpecialParser="off" ParseHostname="on")`,
      'template(name="line" type="string" string="%syslogfacility-text%.%syslogseverity-text% %app-name% %msg%\\n")',
      `*.* action(type="omfile" file="${this.output}" template="line")`,
      "",
    ].join("\n"));
    this.#rsyslog = spawn("ip", ["netns", "exec", ns, RSYSLOGD, "-n", "-f", config, "-i", join(this.dir, "rsyslogd.pid")], { stdio: ["ignore", "pipe", "pipe"] });
    this.#rsyslog.stdout!.on("data", (chunk) => (this.#said += chunk));
    this.#rsyslog.stderr!.on("data", (chunk) => (this.#said += chunk));
  }

  /** The UDP input answers: a probe datagram from here reaches the file (the positive control). */
  async ready(): Promise<void> {
    const probe = dgram.createSocket("udp4");
    try {
      await eventually(() => {
        probe.send(`<14>1 - - probe - - - ready`, this.port, this.address);
        return lines(this.output).some((line) => line === "user.info probe ready") || undefined;
      }, 15_000, `rsyslog receiving on ${this.address}:${this.port} (${this.#said})`);
      await eventually(() => existsSync(this.socket) || undefined, 10_000, "rsyslog's local socket");
    } finally {
      probe.close();
    }
  }

  tearDown(): void {
    this.#rsyslog?.kill("SIGKILL");
    sh(["ip", "link", "del", `${this.prefix}h`], true);
    sh(["ip", "netns", "delete", `${this.prefix}log`], true);
  }
}

const syslogSkip = requireTool("access-log-destinations.test.ts", labUnavailable() ?? (existsSync(RSYSLOGD) ? false : "rsyslog is not installed (Debian package rsyslog)"));

describe(`access log destinations on ${runtime}`, () => {
  test("file: appended in the configured format; renamed away, SIGUSR1 makes every worker write to a new file under the name", LIMIT, async () => {
    const web = await startBackend("web");
    const port = await freePort();
    const configPath = writeConfig({
      workers: 2,
      listeners: [{ address: `127.0.0.1:${port}` }],
      accessLog: { format: "combined", file: "logs/access.log" },
      pools: { app: { members: [{ name: "web", url: web.url }] } },
    });
    const dir = configPath.slice(0, configPath.lastIndexOf("/"));
    sh(["mkdir", "-p", join(dir, "logs")]);
    const file = join(dir, "logs", "access.log");
    writeFileSync(file, "an earlier line\n");
    const tandem = await startTandem(undefined, { args: ["--config", configPath] });
    try {
      await eventually(() => (tandem.lines.filter((line) => line.event === "listening").length === 2 || undefined), 15_000, "both workers listening");
      const url = `http://127.0.0.1:${port}`;
      await send(url, "before", 20);
      await eventually(() => (lines(file).length === 21 || undefined), 10_000, "20 lines after the earlier one");
      assert.equal(lines(file)[0], "an earlier line", "appended, not truncated");
      assert.ok(lines(file).slice(1).every((line) => / "GET \/before-\d+ HTTP\/1\.1" 200 \d+ "-" "[^"]*"$/.test(line)), lines(file).join("\n"));

      renameSync(file, `${file}.1`);
      // Before the signal, lines still go to the renamed file (the open descriptor): the control.
      await send(url, "between", 2);
      await eventually(() => (lines(`${file}.1`).length === 23 || undefined), 10_000, "the renamed file still written to");
      assert.equal(existsSync(file), false);
      tandem.signal("SIGUSR1");
      await eventually(() => (tandem.lines.filter((line) => line.event === "access-log-reopened").length === 2 || undefined), 10_000, "both workers reopened");
      assert.deepEqual(tandem.lines.filter((line) => line.event === "access-log-reopened").map((line) => line.worker).sort(), [0, 1]);
      await send(url, "after", 20);
      await eventually(() => (lines(file).length === 20 || undefined), 10_000, "20 lines in the new file");
      assert.ok(lines(file).every((line) => line.includes('"GET /after-')), "the new file has the later lines only");
      assert.equal(lines(`${file}.1`).length, 23, "the old file got nothing more");
      assert.equal(new Set(lines(file).map((line) => line.split('"')[1])).size, 20, "one line per request, whichever worker served it");
    } finally {
      await tandem.stop();
      await web.close();
    }
  });

  test("syslog: RFC 5424 to rsyslog over UDP in a namespace, then, after a reload, over a local socket", { ...LIMIT, skip: syslogSkip }, async () => {
    const lab = new SyslogLab();
    const web = await startBackend("web");
    try {
      lab.setUp();
      await lab.ready();
      const port = await freePort();
      const config = (syslog: Record<string, unknown>, format: string) => ({
        listeners: [{ address: `127.0.0.1:${port}` }],
        accessLog: { format, syslog },
        pools: { app: { members: [{ name: "web", url: web.url }] } },
      });
      const tandem = await startTandem(config({ address: `${lab.address}:${lab.port}`, facility: "local3", tag: "lb-udp" }, "httplog"));
      try {
        await send(tandem.url, "udp", 3);
        const udp = await eventually(() => {
          const found = lines(lab.output).filter((line) => line.startsWith("local3.info lb-udp "));
          return found.length === 3 ? found : undefined;
        }, 10_000, "3 messages over UDP");
        for (const [index, line] of udp.entries()) {
          assert.match(line, new RegExp(`^local3\\.info lb-udp 127\\.0\\.0\\.1:\\d+ \\[[^\\]]+\\] 127\\.0\\.0\\.1:${port} app/web [-\\d/]+ 200 \\d+ - - ---- [\\d/+]+ 0/0 \\{[0-9a-f-]{36}\\|\\} "GET /udp-${index} HTTP/1\\.1"$`));
        }
        writeFileSync(tandem.configPath!, JSON.stringify(config({ address: lab.socket, facility: "user", tag: "lb-local" }, "json")));
        tandem.signal("SIGHUP");
        await tandem.waitForLine((line) => line.event === "reloaded");
        await send(tandem.url, "local", 2);
        const local = await eventually(() => {
          const found = lines(lab.output).filter((line) => line.startsWith("user.info lb-local "));
          return found.length === 2 ? found : undefined;
        }, 10_000, "2 messages over the local socket");
        const records = local.map((line) => JSON.parse(line.slice("user.info lb-local ".length)));
        assert.deepEqual(records.map((record) => [record.path, record.status, record.member]), [["/local-0", 200, "web"], ["/local-1", 200, "web"]]);
        assert.equal(lines(lab.output).filter((line) => line.startsWith("local3.info lb-udp ")).length, 3, "nothing more over UDP after the reload");
      } finally {
        await tandem.stop();
      }
    } finally {
      lab.tearDown();
      await web.close();
    }
  });

  test("check and serve refuse a bad accessLog, naming the problem", LIMIT, async () => {
    const cases: [unknown, RegExp][] = [
      [{ format: "clf" }, /accessLog\.format/],
      [{ file: "a.log", syslog: {} }, /accessLog: either file or syslog, not both/],
      [{ syslog: { address: "loghost" } }, /accessLog\.syslog\.address: .*ip:port/],
      [{ syslog: { address: "loghost:514" } }, /accessLog\.syslog\.address: .*ip:port/],
      [{ syslog: { facility: "local9" } }, /accessLog\.syslog\.facility/],
      [{ requestId: { trustedClients: ["not-a-network"] } }, /accessLog\.requestId/],
      [{ tracing: { start: "yes" } }, /accessLog\.tracing\.start/],
      [{ destination: "stdout" }, /accessLog\.destination/],
      ["json", /accessLog/],
    ];
    for (const [accessLog, problem] of cases) {
      const path = writeConfig({ listeners: [{ address: "127.0.0.1:0" }], accessLog, pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } } });
      const result = await runTandem(["check", "--config", path]);
      assert.equal(result.code, 1, JSON.stringify(accessLog));
      assert.match(result.stderr + result.stdout, problem, JSON.stringify(accessLog));
    }
    // The controls: the same shapes, right, pass.
    for (const accessLog of [true, false, { format: "combined", file: "a.log" }, { format: "httplog", syslog: { address: "127.0.0.1:514", facility: "local7", tag: "lb" } }]) {
      const path = writeConfig({ listeners: [{ address: "127.0.0.1:0" }], accessLog, pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } } });
      assert.equal((await runTandem(["check", "--config", path])).code, 0, JSON.stringify(accessLog));
    }
    // A file that cannot be opened stops serve with the reason.
    const path = writeConfig({ listeners: [{ address: "127.0.0.1:0" }], accessLog: { file: "/nonexistent-dir/access.log" }, pools: { app: { members: [{ name: "a", url: "http://127.0.0.1:9" }] } } });
    const served = await runTandem(["serve", "--config", path]);
    assert.equal(served.code, 1);
    assert.match(served.stderr, /accessLog\.file: cannot open \/nonexistent-dir\/access\.log/);
  });
});
