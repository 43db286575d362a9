/**
 * Bun's side of the {@link Platform} port: Bun.listen listeners, Bun.connect sockets, signals.
 *
 * @module
 */
import { closeSync, openSync, readdirSync, readFileSync, watch, writeSync } from "node:fs";
import { chmod, mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Platform } from "../../core/platform.ts";
import { systemClock } from "../../core/clock.ts";
import { procStats } from "../../core/metrics/process-metrics.ts";
import { startWebWorker } from "../shared/web-worker.ts";
import { connect } from "./connect.ts";
import { bindDatagram } from "./udp.ts";
import { listenStream } from "./listen.ts";
import { listenConnections } from "./listen-connections.ts";
import { serveWeb } from "./serve-web.ts";
import { runCommand } from "./command.ts";
import { connectUnixDatagram } from "./unix-datagram.ts";

export const platform: Platform = {
  runtime: `bun ${Bun.version}`,
  args: Bun.argv.slice(2),
  clock: systemClock,
  connect,
  bindDatagram,
  listenStream,
  listenConnections,
  // QUIC (h3) is experimental in Bun 1.4.5, as its documentation says.
  webProtocols: ["h2", "h3"],
  serveWeb,
  runCommand,
  env: (name) => process.env[name],
  fetch: (url, init) => fetch(url, init),
  readTextFile: (path) => Bun.file(path).text(),
  async writeTextFileAtomic(path, text, options) {
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, text, options?.secret ? { mode: 0o600 } : {});
    // A leftover temporary file from a crash keeps its old mode: writeFile's only applies to a new file.
    if (options?.secret) await chmod(temporary, 0o600);
    await rename(temporary, path);
  },
  makeDirectory: async (path) => void await mkdir(path, { recursive: true, mode: 0o700 }),
  fetchTrusting: (caCerts) => (url, init) => fetch(url, { ...init, tls: { ca: [...caCerts] } }),
  exists: (path) => Bun.file(path).exists(),
  listDirectory: (path) => readdir(path),
  processStats() {
    const { user, system } = process.cpuUsage();
    return {
      cpuSeconds: (user + system) / 1e6,
      residentBytes: process.memoryUsage.rss(),
      ...procStats((path) => readFileSync(path, "utf8"), (path) => readdirSync(path).length),
    };
  },
  // The main thread's time origin is the process's start (a worker is told it by the main thread).
  startTime: performance.timeOrigin,
  // BoringSSL refuses TLS 1.0/1.1 by default; 1.3-only is the SSL_OP_NO_TLSv1_2 option.
  tlsMinVersions: ["1.2", "1.3"],
  onSignal(signal, handler) {
    process.on(signal, handler);
  },
  startWorker: () => startWebWorker(new URL("./worker.ts", import.meta.url)),
  watchFile(path, onChange) {
    // Watch the directory: editors often replace the file (rename), which ends a watch on it.
    const file = resolve(path);
    const watcher = watch(dirname(file), (_event, name) => {
      if (name !== null && resolve(dirname(file), name.toString()) === file) onChange();
    });
    return () => watcher.close();
  },
  stdout: (line) => void process.stdout.write(line + "\n"),
  stderr: (line) => void process.stderr.write(line + "\n"),
  exit: (code) => process.exit(code),
  async openAppendFile(path) {
    const fd = openSync(path, "a");
    return {
      write(text) {
        const bytes = Buffer.from(text);
        for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written);
      },
      close: () => closeSync(fd),
    };
  },
  connectUnixDatagram,
};
