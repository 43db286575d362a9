/**
 * Debian's `unbound` as the nameserver of discovery tests: serves a static local zone on a free
 * loopback port (IPv4 and IPv6), its records changed while it runs through `unbound-control` on a local socket.
 *
 * @example
 * ```ts
 * const dns = await startUnbound(["app.internal. 1 IN A 127.0.0.2"]);
 * await dns.replace("app.internal.", ["app.internal. 1 IN A 127.0.0.3"]);
 * await dns.stop();
 * ```
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { startWithConfig } from "./reference-process.ts";

const UNBOUND = "/usr/sbin/unbound";
const CONTROL = "/usr/sbin/unbound-control";

/** Why unbound tests cannot run here, or false. */
export function unboundMissing(): string | false {
  return existsSync(UNBOUND) && existsSync(CONTROL) ? false : "unbound is not installed (Debian package unbound)";
}

export interface Unbound {
  /** `127.0.0.1:<port>`, as a discover block's nameserver. */
  nameserver: string;
  /** The same server on IPv6 loopback: `[::1]:<port>`. */
  nameserver6: string;
  /** Replaces every record of `name` (all types) with `records` (zone-file lines); none = NXDOMAIN. */
  replace(name: string, records: string[]): Promise<void>;
  /** Queries that came over TCP so far (`unbound-control stats_noreset`: num.query.tcp). */
  tcpQueries(): Promise<number>;
  /** SIGSTOP: the server stops answering (queries time out) until `resume` (SIGCONT). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** Starts unbound serving `records` (zone-file lines) in the static zone `internal.`. */
export async function startUnbound(records: string[]): Promise<Unbound> {
  let configPath = "";
  const server = await startWithConfig((path) => {
    configPath = path;
    return [UNBOUND, "-d", "-c", path];
  }, (port, root) => [
    "server:",
    "  interface: 127.0.0.1",
    "  interface: ::1",
    `  port: ${port}`,
    "  do-daemonize: no",
    '  username: ""',
    '  chroot: ""',
    `  directory: "${root}"`,
    '  pidfile: ""',
    "  use-syslog: no",
    "  access-control: 127.0.0.0/8 allow",
    "  access-control: ::1 allow",
    // num.query.tcp, for a test to see the fallback to TCP.
    "  extended-statistics: yes",
    '  module-config: "iterator"',
    '  local-zone: "internal." static',
    ...records.map((record) => `  local-data: "${record}"`),
    "remote-control:",
    "  control-enable: yes",
    `  control-interface: ${root}/control.sock`,
    "",
  ].join("\n"));
  const control = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(CONTROL, ["-c", configPath, ...args], (error, stdout, stderr) => {
        if (error) reject(new Error(`unbound-control ${args.join(" ")}: ${error.message} ${stdout} ${stderr}`));
        else resolve(stdout);
      });
      if (input !== undefined) child.stdin!.end(input);
    });
  return {
    nameserver: `127.0.0.1:${server.port}`,
    nameserver6: `[::1]:${server.port}`,
    async replace(name, lines) {
      await control(["local_data_remove", name]);
      if (lines.length > 0) await control(["local_datas"], `${lines.join("\n")}\n`);
    },
    async tcpQueries() {
      const stats = await control(["stats_noreset"]);
      return Number(/^num\.query\.tcp=(\d+)$/m.exec(stats)?.[1] ?? NaN);
    },
    pause: () => process.kill(server.pid, "SIGSTOP"),
    resume: () => process.kill(server.pid, "SIGCONT"),
    async stop() {
      process.kill(server.pid, "SIGCONT");
      await server.stop();
    },
  };
}
