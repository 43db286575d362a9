/**
 * Deno's side of the {@link Platform} port: Deno.serve listeners, Deno.connect sockets, signals.
 *
 * @module
 */
import type { Handler, Listener, Platform } from "../../core/platform.ts";
import type { ListenerTls } from "../../core/tls/files.ts";
import { systemClock } from "../../core/clock.ts";
import type { WebSocketProxy } from "../../core/ports.ts";
import { openUpstreamWebSocket, sendableCloseCode } from "../../core/proxy/websocket.ts";
import { startWebWorker } from "../../core/workers.ts";
import { connect } from "./connect.ts";
import { bindDatagram } from "./udp.ts";
import { listenStream } from "./listen.ts";
import { listenConnections, listenTlsWithSni } from "./listen-connections.ts";
import { runCommand } from "./command.ts";

const webSocket: WebSocketProxy = async (request, target) => {
  const upstream = await openUpstreamWebSocket(target);
  const { socket: client, response } = Deno.upgradeWebSocket(request, upstream.protocol ? { protocol: upstream.protocol } : {});
  client.binaryType = "arraybuffer";
  upstream.onmessage = (event) => client.readyState === WebSocket.OPEN && client.send(event.data);
  client.onmessage = (event) => upstream.readyState === WebSocket.OPEN && upstream.send(event.data);
  upstream.onclose = (event) => client.close(sendableCloseCode(event.code), event.reason);
  client.onclose = (event) => upstream.close(sendableCloseCode(event.code), event.reason);
  upstream.onerror = () => client.close(1011, "upstream error");
  return response;
};

/**
 * Deno.serve takes one certificate; its HTTP server can instead run on a listener that picks the
 * certificate per server name ({@link listenTlsWithSni}). That server is reachable through
 * `Deno[Deno.internal]` only, so its absence is a clear start-up error rather than a silent single
 * certificate.
 */
function _serveTls(
  hostname: string,
  port: number,
  tls: ListenerTls,
  fetch: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Promise<Response>,
  onError: (error: unknown) => Response,
): Deno.HttpServer<Deno.NetAddr> {
  // deno-lint-ignore no-explicit-any
  const { serveHttpOnListener } = (Deno as any)[(Deno as any).internal] ?? {};
  if (typeof serveHttpOnListener !== "function") {
    throw new Error(`TLS listeners need Deno's HTTP server on a listener, which deno ${Deno.version.deno} lacks (tested on 2.9)`);
  }
  return serveHttpOnListener(listenTlsWithSni(hostname, port, tls), new AbortController().signal, fetch, onError, () => {});
}

export const platform: Platform = {
  runtime: `deno ${Deno.version.deno}`,
  args: Deno.args,
  clock: systemClock,
  connect,
  webSocket,
  bindDatagram,
  listenStream,
  listenConnections,
  runCommand,
  env: (name) => Deno.env.get(name),
  readTextFile: (path) => Deno.readTextFile(path),
  async exists(path) {
    try {
      await Deno.stat(path);
      return true;
    } catch {
      return false;
    }
  },
  // rustls always offers TLS 1.2 and 1.3 and has no switch for 1.3 only.
  tlsMinVersions: ["1.2"],
  serve(hostname, port, handler: Handler, { tls, reusePort = false }: { tls?: ListenerTls; reusePort?: boolean } = {}): Promise<Listener> {
    return new Promise((resolve, reject) => {
      try {
        const onError = (error: unknown) => {
          console.error(error);
          return new Response("500 internal error\n", { status: 500 });
        };
        const fetch = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
          handler(request, { remoteAddress: info.remoteAddr.hostname, tls: tls !== undefined }) as Promise<Response>;
        if (tls === undefined) {
          const server = Deno.serve({ hostname, port, reusePort, onListen: () => {}, onError }, fetch);
          return resolve({ hostname: server.addr.hostname, port: server.addr.port, shutdown: () => server.shutdown() });
        }
        const server = _serveTls(hostname, port, tls, fetch, onError);
        resolve({ hostname: server.addr.hostname, port: server.addr.port, shutdown: () => server.shutdown() });
      } catch (error) {
        reject(error);
      }
    });
  },
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
};
