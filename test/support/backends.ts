/**
 * Real HTTP backends for runtime tests: node:http servers on 127.0.0.1 (works under both runners)
 * that say who they are and count their TCP connections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface Backend {
  name: string;
  url: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  server: Server;
  close(): Promise<void>;
}

export type BackendHandler = (request: IncomingMessage, response: ServerResponse, backend: Backend) => void;

/** Answers JSON `{backend, method, path, headers}` unless `handler` is given; `at` another loopback address or a fixed port (members from DNS share one). */
export async function startBackend(name: string, handler?: BackendHandler, at: { host?: string; port?: number } = {}): Promise<Backend> {
  const backend = { name, connections: 0 } as Backend;
  const server = createServer((request, response) => {
    if (handler) return handler(request, response, backend);
    response.setHeader("content-type", "application/json");
    response.setHeader("x-backend", name);
    response.end(JSON.stringify({ backend: name, method: request.method, path: request.url, headers: request.headers }));
  });
  server.on("connection", () => backend.connections++);
  const host = at.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port ?? 0, host, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return Object.assign(backend, {
    server,
    port,
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  });
}

/** A backend whose /health and whose pages can be broken and fixed while it runs. */
export interface SwitchableBackend {
  backend: Backend;
  /** /health: answers 200, 503, or never (closed by backend.close()); every other path: `status`. */
  state: { health: "ok" | "503" | "hang"; status: number };
}

/** Answers /health with "OK" (or as `state.health` says) and every other path with JSON `{backend, path}`. */
export async function startSwitchableBackend(name: string): Promise<SwitchableBackend> {
  const state: SwitchableBackend["state"] = { health: "ok", status: 200 };
  const hung: ServerResponse[] = [];
  const backend = await startBackend(name, (request, response) => {
    if (request.url === "/health") {
      if (state.health === "hang") return void hung.push(response);
      response.statusCode = state.health === "ok" ? 200 : 503;
      return void response.end(state.health === "ok" ? "OK\n" : "maintenance\n");
    }
    response.statusCode = state.status;
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ backend: name, path: request.url }));
  });
  return { backend, state };
}

/** A config with one listener on a free port and pool "app" over `backends`. */
export function farmConfig(backends: { name: string; url: string }[], pool: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  return {
    listeners: [{ address: "127.0.0.1:0" }],
    ...top,
    pools: { app: { ...pool, members: backends.map((b) => ({ name: b.name, url: b.url })) } },
  };
}

export interface EchoBackend extends Backend {
  requests: number;
  /** Requests for /held waiting for `release()`. */
  held: number;
  /** Answers the /held requests waiting, and any that come later at once. */
  release(): void;
}

/** An echo backend (JSON of method, path, headers) that holds requests for /held until released. */
export async function echoBackend(name: string): Promise<EchoBackend> {
  const waiting: (() => void)[] = [];
  let released = false;
  const backend = await startBackend(name, (request, response, self) => {
    (self as EchoBackend).requests++;
    const answer = () => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ backend: name, method: request.method, path: request.url, headers: request.headers }));
    };
    if (request.url !== "/held" || released) return answer();
    waiting.push(answer);
    response.on("close", () => waiting.includes(answer) && waiting.splice(waiting.indexOf(answer), 1));
  });
  // Object.assign would copy `held` once, not the getter.
  return Object.defineProperties(backend, {
    requests: { value: 0, writable: true },
    held: { get: () => waiting.length },
    release: {
      value: () => {
        released = true;
        for (const answer of waiting.splice(0)) answer();
      },
    },
  }) as EchoBackend;
}
