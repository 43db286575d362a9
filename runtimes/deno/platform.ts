/**
 * Deno's side of the {@link Platform} port: Deno.serve listeners, Deno.connect sockets, signals.
 *
 * @module
 */
import type { Handler, Listener, Platform } from "../../core/platform.ts";
import { systemClock } from "../../core/clock.ts";
import type { WebSocketProxy } from "../../core/ports.ts";
import { openUpstreamWebSocket, sendableCloseCode } from "../../core/proxy/websocket.ts";
import { connect } from "./connect.ts";

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

export const platform: Platform = {
  runtime: `deno ${Deno.version.deno}`,
  args: Deno.args,
  clock: systemClock,
  connect,
  webSocket,
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
  serve(hostname, port, handler: Handler): Promise<Listener> {
    return new Promise((resolve, reject) => {
      try {
        const server = Deno.serve({
          hostname,
          port,
          onListen: () => {},
          onError: (error) => {
            console.error(error);
            return new Response("500 internal error\n", { status: 500 });
          },
        }, (request, info) => {
          const remoteAddress = (info.remoteAddr as Deno.NetAddr).hostname;
          return handler(request, { remoteAddress, tls: false }) as Promise<Response>;
        });
        const address = server.addr as Deno.NetAddr;
        resolve({ hostname: address.hostname, port: address.port, shutdown: () => server.shutdown() });
      } catch (error) {
        reject(error);
      }
    });
  },
  onSignal(signal, handler) {
    Deno.addSignalListener(signal, handler);
  },
  watchFile(path, onChange) {
    // Watch the directory: editors often replace the file (rename), which ends a watch on it.
    const file = Deno.realPathSync(path);
    const directory = file.slice(0, file.lastIndexOf("/")) || "/";
    (async () => {
      for await (const event of Deno.watchFs(directory, { recursive: false })) {
        if (event.paths.includes(file)) onChange();
      }
    })();
  },
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
  exit: (code) => Deno.exit(code),
};
