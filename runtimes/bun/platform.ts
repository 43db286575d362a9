/**
 * Bun's side of the {@link Platform} port: Bun.serve listeners, Bun.connect sockets, signals.
 *
 * @module
 */
import type { Server, ServerWebSocket } from "bun";
import { watch } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Handler, Listener, Platform } from "../../core/platform.ts";
import type { ListenerTls } from "../../core/tls/files.ts";
import { systemClock } from "../../core/clock.ts";
import type { WebSocketProxy } from "../../core/ports.ts";
import { openUpstreamWebSocket, sendableCloseCode } from "../../core/proxy/websocket.ts";
import { startWebWorker } from "../../core/workers.ts";
import { connect } from "./connect.ts";
import { bindDatagram } from "./udp.ts";
import { listenStream } from "./listen.ts";
import { listenConnections, tlsSecureOptions } from "./listen-connections.ts";
import { runCommand } from "./command.ts";

interface SocketData {
  upstream: WebSocket;
}

/** Bun upgrades through the server that received the request; remember which one that was. */
const serverOf = new WeakMap<Request, Server<SocketData>>();

const webSocket: WebSocketProxy = async (request, target) => {
  const upstream = await openUpstreamWebSocket(target);
  const server = serverOf.get(request)!;
  const headers = upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined;
  if (!server.upgrade(request, { data: { upstream }, headers })) {
    upstream.close();
    return new Response("400 WebSocket upgrade failed\n", { status: 400 });
  }
  return undefined;
};

const websocketHandlers = {
  open(client: ServerWebSocket<SocketData>) {
    const { upstream } = client.data;
    upstream.onmessage = (event) => client.send(event.data as string | ArrayBuffer);
    upstream.onclose = (event) => client.close(sendableCloseCode(event.code), event.reason);
    upstream.onerror = () => client.close(1011, "upstream error");
  },
  message(client: ServerWebSocket<SocketData>, message: string | Buffer) {
    client.data.upstream.send(message);
  },
  close(client: ServerWebSocket<SocketData>, code: number, reason: string) {
    client.data.upstream.close(sendableCloseCode(code), reason);
  },
};

/**
 * Bun picks a certificate by exact server name; the first entry (no serverName) is the default.
 * Exact names come before wildcards so that an exact certificate wins, as in selectCertificate.
 */
function _bunTls(tls: ListenerTls) {
  const secureOptions = tlsSecureOptions(tls.minVersion);
  const [first] = tls.certificates;
  const entries = [{ cert: first.cert, key: first.key, secureOptions }];
  const named = tls.certificates.flatMap(({ cert, key, leaf }) => leaf.dnsNames.map((serverName) => ({ serverName, cert, key, secureOptions })));
  const seen = new Set<string>();
  for (const entry of [...named.filter((e) => !e.serverName.startsWith("*.")), ...named.filter((e) => e.serverName.startsWith("*."))]) {
    if (seen.has(entry.serverName)) continue;
    seen.add(entry.serverName);
    entries.push(entry);
  }
  return entries;
}

export const platform: Platform = {
  runtime: `bun ${Bun.version}`,
  args: Bun.argv.slice(2),
  clock: systemClock,
  connect,
  webSocket,
  bindDatagram,
  listenStream,
  listenConnections,
  runCommand,
  env: (name) => process.env[name],
  readTextFile: (path) => Bun.file(path).text(),
  exists: (path) => Bun.file(path).exists(),
  // BoringSSL refuses TLS 1.0/1.1 by default; 1.3-only is the SSL_OP_NO_TLSv1_2 option.
  tlsMinVersions: ["1.2", "1.3"],
  serve(hostname, port, handler: Handler, { tls, reusePort = false }: { tls?: ListenerTls; reusePort?: boolean } = {}): Promise<Listener> {
    const server = Bun.serve<SocketData>({
      hostname,
      port,
      // Bodies stream through; Bun's 128 MiB default would cut large uploads.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      // Long responses stream with pauses; the member's idle timeout governs, not Bun's 10 s.
      idleTimeout: 255,
      // server.reload() ignores tls: new certificates come on a second server beside this one.
      reusePort: reusePort || tls !== undefined,
      tls: tls && _bunTls(tls),
      fetch(request, server) {
        serverOf.set(request, server);
        const remoteAddress = server.requestIP(request)?.address ?? "";
        return handler(request, { remoteAddress, tls: tls !== undefined }) as Promise<Response>;
      },
      websocket: websocketHandlers,
    });
    return Promise.resolve({
      hostname: server.hostname ?? hostname,
      port: server.port ?? port,
      shutdown: () => server.stop(false),
    });
  },
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
};
