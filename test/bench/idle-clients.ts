/**
 * Opens COUNT keep-alive connections to HOST:PORT; each sends one `GET /` and reads its response,
 * then stays open and silent, as a browser's idle keep-alive connection does. Prints
 * `ready OPEN FAILED` once every connection has its answer (or failed), then serves stdin:
 * `status` prints `open N` (how many the server has not closed), `close` closes all and exits.
 *
 *   bun test/bench/idle-clients.ts 10.77.0.32 8080 5000
 *
 * Run by the harness inside the client namespace; kept in its own process so that its memory and
 * CPU never mix with the harness's.
 */
import type { Socket } from "bun";

const [host, portText, countText] = Bun.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
/** Connections being set up at once: enough to be quick, few enough not to overflow accept queues. */
const CONCURRENCY = 200;
const PER_CONNECTION_TIMEOUT_MS = 15_000;
const REQUEST = `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: tandem-bench-idle\r\n\r\n`;

interface State {
  received: string;
  answered: boolean;
  settle?: (ok: boolean) => void;
}

const sockets = new Set<Socket<State>>();
let failed = 0;

/** Whether `text` holds a complete response head and the Content-Length bytes after it. */
function _complete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = text.slice(0, end).match(/\r\ncontent-length:\s*(\d+)/i);
  return !length || text.length - (end + 4) >= Number(length[1]);
}

function _openOne(): Promise<void> {
  return new Promise((resolve) => {
    const state: State = { received: "", answered: false };
    const timer = setTimeout(() => state.settle?.(false), PER_CONNECTION_TIMEOUT_MS);
    state.settle = (ok) => {
      state.settle = undefined;
      clearTimeout(timer);
      if (!ok) failed++;
      resolve();
    };
    Bun.connect<State>({
      hostname: host,
      port,
      data: state,
      socket: {
        open(socket) {
          sockets.add(socket);
          socket.write(REQUEST);
        },
        data(socket, chunk) {
          if (socket.data.answered) return;
          socket.data.received += chunk.toString("latin1");
          if (_complete(socket.data.received)) {
            // A non-2xx answer counts as a failure, but its connection is held like the others.
            const ok = /^HTTP\/1\.[01] 2\d\d /.test(socket.data.received);
            socket.data.answered = true;
            socket.data.received = "";
            socket.data.settle?.(ok);
          }
        },
        close(socket) {
          sockets.delete(socket);
          socket.data.settle?.(false);
        },
        error(socket) {
          sockets.delete(socket);
          socket.data.settle?.(false);
        },
        connectError() {
          state.settle?.(false);
        },
      },
    }).catch(() => state.settle?.(false));
  });
}

let next = 0;
await Promise.all(
  Array.from({ length: Math.min(CONCURRENCY, count) }, async () => {
    while (next < count) {
      next++;
      await _openOne();
    }
  }),
);
console.log(`ready ${sockets.size} ${failed}`);

for await (const line of console) {
  if (line.trim() === "status") console.log(`open ${sockets.size}`);
  else if (line.trim() === "close") break;
}
for (const socket of sockets) socket.end();
process.exit(0);
