/**
 * Deno's side of the {@link Platform} port: Deno.listen / Deno.listenTls listeners, Deno.connect sockets, signals.
 *
 * @module
 */
import type { Platform } from "../../core/platform.ts";
import { systemClock } from "../../core/clock.ts";
import process from "node:process";
import { startWebWorker } from "../shared/web-worker.ts";
import { connect } from "./connect.ts";
import { bindDatagram } from "./udp.ts";
import { listenStream } from "./listen.ts";
import { listenConnections } from "./listen-connections.ts";
import { serveWeb } from "./serve-web.ts";
import { runCommand } from "./command.ts";
import { connectUnixDatagram } from "./unix-datagram.ts";

const httpClients = new Map<string, Deno.HttpClient>();

export const platform: Platform = {
  runtime: `deno ${Deno.version.deno}`,
  args: Deno.args,
  clock: systemClock,
  connect,
  bindDatagram,
  listenStream,
  listenConnections,
  // Deno 2.9 has no HTTP/3 server.
  webProtocols: ["h2"],
  serveWeb,
  runCommand,
  env: (name) => Deno.env.get(name),
  fetch: (url, init) => fetch(url, init),
  readTextFile: (path) => Deno.readTextFile(path),
  async writeTextFileAtomic(path, text, options) {
    const temporary = `${path}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(temporary, text, options?.secret ? { mode: 0o600 } : {});
    // A leftover temporary file from a crash keeps its old mode: writeTextFile's only applies to a new file.
    if (options?.secret) await Deno.chmod(temporary, 0o600);
    await Deno.rename(temporary, path);
  },
  makeDirectory: (path) => Deno.mkdir(path, { recursive: true, mode: 0o700 }),
  fetchTrusting(caCerts) {
    // One client per CA bundle for the process: a reload asks again, and a client holds its connections until closed.
    const bundle = caCerts.join("\n");
    let client = httpClients.get(bundle);
    if (!client) httpClients.set(bundle, client = Deno.createHttpClient({ caCerts: [...caCerts] }));
    return (url, init) => fetch(url, { ...init, client });
  },
  listDirectory: async (path) => (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name),
  async exists(path) {
    try {
      await Deno.stat(path);
      return true;
    } catch {
      return false;
    }
  },
  // Deno grants /proc/self only with --allow-all: no descriptor or virtual memory figures.
  processStats() {
    const { user, system } = process.cpuUsage();
    return { cpuSeconds: (user + system) / 1e6, residentBytes: Deno.memoryUsage().rss };
  },
  // The main thread's time origin is the process's start (a worker is told it by the main thread).
  startTime: performance.timeOrigin,
  // rustls always offers TLS 1.2 and 1.3 and has no switch for 1.3 only.
  tlsMinVersions: ["1.2"],
  onSignal(signal, handler) {
    Deno.addSignalListener(signal, handler);
  },
  startWorker: () => startWebWorker(new URL("./worker.ts", import.meta.url)),
  watchFile(path, onChange) {
    // Watch the directory: editors often replace the file (rename), which ends a watch on it.
    const file = Deno.realPathSync(path);
    const directory = file.slice(0, file.lastIndexOf("/")) || "/";
    const watcher = Deno.watchFs(directory, { recursive: false });
    (async () => {
      for await (const event of watcher) {
        if (event.paths.includes(file)) onChange();
      }
    })();
    return () => watcher.close();
  },
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
  exit: (code) => Deno.exit(code),
  async openAppendFile(path) {
    const file = await Deno.open(path, { append: true, create: true });
    const encoder = new TextEncoder();
    return {
      write(text) {
        const bytes = encoder.encode(text);
        for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
      },
      close: () => file.close(),
    };
  },
  connectUnixDatagram,
};
