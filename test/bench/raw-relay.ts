/**
 * The benchmark's floor (proxy ids bun-relay and deno-relay): a minimal HTTP/1.1 reverse proxy on
 * raw sockets, about the least work a JavaScript proxy can do per request on each runtime. For each
 * client connection, one request at a time (no pipelining): read the head up to CRLFCRLF, pick a
 * member round robin (`/upload…` goes to the sink), send the head with an X-Forwarded-For line and
 * the body (Content-Length or chunked) over a kept-alive member connection, relay the response
 * (Content-Length, chunked, or until the member closes) back, and pool the member connection again.
 * No health checks, no cookies, no timeouts, no TLS, no 1xx or upgrades.
 *
 *   bun run test/bench/raw-relay.ts 10.77.0.36:8080 10.77.0.20:8001,10.77.0.20:8002 10.77.0.20:9000
 *   deno run -A test/bench/raw-relay.ts (the same arguments)
 */
import type { Socket } from "bun";

/** A connection as the relay sees it. After the peer is gone, reads give null and writes do nothing. */
interface Conn {
  readonly remote: string;
  closed: boolean;
  read(): Promise<Uint8Array | null>;
  /** undefined when the bytes went out at once, else a promise that resolves once they have. */
  write(bytes: Uint8Array): Promise<void> | undefined;
  close(): void;
}
type Address = { hostname: string; port: number };

// biome-ignore lint/suspicious/noExplicitAny: Deno's types are not loaded when Bun's are
const Deno = (globalThis as { Deno?: any }).Deno;
const args: string[] = typeof Bun !== "undefined" ? Bun.argv.slice(2) : Deno.args;
const address = (text: string): Address => ({ hostname: text.slice(0, text.lastIndexOf(":")), port: Number(text.slice(text.lastIndexOf(":") + 1)) });
const [listen, members, sink] = [address(args[0]), args[1].split(",").map(address), address(args[2])];
const pools = new Map<Address, Conn[]>([...members, sink].map((member) => [member, []]));
const latin1 = new TextDecoder("latin1"); // one character per byte, so string indexes are byte offsets
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const BAD_GATEWAY = encoder.encode("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
let turn = 0;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** The index just past the head's CRLFCRLF, or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = bytes.indexOf(13); i >= 0 && i + 3 < bytes.length; i = bytes.indexOf(13, i + 1)) {
    if (bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i + 4;
  }
  return -1;
}

/** A message body's framing: `left` Content-Length bytes (Infinity: until close), or chunked. */
class Body {
  left = 0;
  chunked: boolean;
  #line = "";
  #skip = 0;
  #trailers = false;
  constructor(head: string, response: boolean, none: boolean) {
    this.chunked = !none && /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (!none && !this.chunked) this.left = length ? Number(length[1]) : response ? Number.POSITIVE_INFINITY : 0;
  }
  /** Consumes `chunk` from `from`; returns the index just past the body's end, or -1 if it goes on. */
  feed(chunk: Uint8Array, from: number): number {
    if (!this.chunked) {
      const n = Math.min(this.left, chunk.length - from);
      this.left -= n;
      return this.left === 0 ? from + n : -1;
    }
    for (let i = from; i < chunk.length; ) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        [this.#skip, i] = [this.#skip - n, i + n];
        continue;
      }
      const lf = chunk.indexOf(10, i); // a chunk-size line, or a trailer line after the 0-chunk
      this.#line += latin1.decode(chunk.subarray(i, lf < 0 ? chunk.length : lf + 1));
      if (lf < 0) break;
      const [line, size] = [this.#line.trim(), Number.parseInt(this.#line, 16)];
      [this.#line, i] = ["", lf + 1];
      if (this.#trailers) {
        if (line === "") return i;
      } else if (size > 0) this.#skip = size + 2; // data and its CRLF
      else this.#trailers = true;
    }
    return -1;
  }
}

async function readHead(conn: Conn, buffered: Uint8Array): Promise<[Uint8Array, number] | null> {
  let end: number;
  while ((end = headEnd(buffered)) < 0) {
    if (buffered.length > 65_536) throw new Error("head too large");
    const more = await conn.read();
    if (!more) return null;
    buffered = concat(buffered, more);
  }
  return [buffered, end];
}

/** Sends `chunk` from `start` and then `src`'s bytes to `dst` until `body` ends; returns what follows it, or null if `src` ended first. */
async function relay(src: Conn, dst: Conn, chunk: Uint8Array, start: number, from: number, body: Body): Promise<Uint8Array | null> {
  for (;;) {
    const end = body.feed(chunk, from);
    const out = chunk.subarray(start, end < 0 ? chunk.length : end);
    if (out.length > 0) await dst.write(out);
    if (end >= 0) return chunk.subarray(end);
    const more = await src.read();
    if (!more) return null;
    [chunk, start, from] = [more, 0, 0];
  }
}

async function serve(client: Conn): Promise<void> {
  let buffered: Uint8Array | null = EMPTY;
  let member: Conn | undefined;
  try {
    for (;;) {
      const request = await readHead(client, buffered);
      if (!request) return;
      const [bytes, end] = request;
      const head = latin1.decode(bytes.subarray(0, end));
      const [method, path = ""] = head.split(" ", 2);
      const target = path.startsWith("/upload") ? sink : members[turn++ % members.length];
      const forwarded = concat(bytes.subarray(0, end - 2), encoder.encode(`x-forwarded-for: ${client.remote}\r\n\r\n`));
      const requestBody = new Body(head, false, false);
      const hasBody = requestBody.chunked || requestBody.left > 0;
      let response: [Uint8Array, number] | null;
      for (;;) {
        const pooled = pools.get(target)!.pop();
        member = pooled ?? (await connect(target));
        await member.write(forwarded);
        buffered = hasBody ? await relay(client, member, bytes, end, end, requestBody) : bytes.subarray(end);
        if (!buffered) return;
        response = await readHead(member, EMPTY);
        // A pooled connection the member has closed in the meantime: once more on a new one.
        if (response || !pooled || hasBody) break;
        member.close();
      }
      if (!response) throw new Error("no response");
      const [answer, answerEnd] = response;
      const responseHead = latin1.decode(answer.subarray(0, answerEnd));
      const status = Number(responseHead.slice(9, 12));
      const responseBody = new Body(responseHead, true, method === "HEAD" || status === 204 || status === 304);
      const rest = await relay(member, client, answer, 0, answerEnd, responseBody);
      const close = rest === null || responseBody.left === Number.POSITIVE_INFINITY || /\r\nconnection:[^\r]*close/i.test(head + responseHead);
      if (rest?.length === 0 && !close && !member.closed) pools.get(target)!.push(member);
      else member.close();
      member = undefined;
      if (close) return;
    }
  } catch {
    await client.write(BAD_GATEWAY); // only head-too-large, connect errors, no response: nothing was sent yet
  } finally {
    member?.close();
    client.close();
  }
}

/** A Bun socket, whose events feed the reads; a read not waited for pauses the socket. */
class BunConn implements Conn {
  closed = false;
  #chunks: Uint8Array[] = [];
  #reader?: (chunk: Uint8Array | null) => void;
  #unsent?: Uint8Array;
  #sent?: () => void;
  constructor(public socket?: Socket<BunConn>) {}
  get remote(): string {
    return this.socket!.remoteAddress;
  }
  read(): Promise<Uint8Array | null> {
    const chunk = this.#chunks.shift();
    if (chunk && this.#chunks.length === 0) this.socket!.resume();
    if (chunk || this.closed) return Promise.resolve(chunk ?? null);
    return new Promise((resolve) => (this.#reader = resolve));
  }
  write(bytes: Uint8Array): Promise<void> | undefined {
    const n = this.closed ? bytes.length : this.socket!.write(bytes);
    if (n < 0 || n === bytes.length) return;
    this.#unsent = bytes.subarray(n);
    return new Promise((resolve) => (this.#sent = resolve));
  }
  close(): void {
    this.closed = true;
    this.socket!.end();
  }
  onData(chunk: Uint8Array): void {
    const reader = this.#reader;
    this.#reader = undefined;
    if (reader) return reader(chunk);
    this.#chunks.push(chunk);
    this.socket!.pause();
  }
  onDrain(): void {
    const n = this.#unsent && !this.closed ? this.socket!.write(this.#unsent) : -1;
    this.#unsent = n >= 0 && n < this.#unsent!.length ? this.#unsent!.subarray(n) : undefined;
    if (this.#unsent) return;
    const sent = this.#sent;
    this.#sent = undefined;
    sent?.();
  }
  onEnd(): void {
    this.closed = true;
    this.onDrain();
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.(null);
  }
}

/** A Deno connection: reads of 4 KiB, 64 KiB once one fills its buffer (members read 64 KiB). */
class DenoConn implements Conn {
  closed = false;
  #shut = false;
  #buffer: Uint8Array;
  // biome-ignore lint/suspicious/noExplicitAny: Deno.TcpConn
  constructor(readonly conn: any, size: number) {
    this.#buffer = new Uint8Array(size);
    conn.setNoDelay?.(true);
  }
  get remote(): string {
    return this.conn.remoteAddr.hostname;
  }
  async read(): Promise<Uint8Array | null> {
    const n: number | null = this.closed ? null : await this.conn.read(this.#buffer).catch(() => null);
    if (n === null) return ((this.closed = true), null);
    const chunk = this.#buffer.slice(0, n);
    if (n === this.#buffer.length && n < 65_536) this.#buffer = new Uint8Array(65_536);
    return chunk;
  }
  async write(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length && !this.closed; ) at += await this.conn.write(bytes.subarray(at)).catch(() => ((this.closed = true), 0));
  }
  close(): void {
    if (!this.#shut) this.conn.close();
    [this.closed, this.#shut] = [true, true];
  }
}

const bunHandlers = {
  open(socket: Socket<BunConn>) {
    if (socket.data) socket.data.socket = socket;
    else void serve((socket.data = new BunConn(socket)));
  },
  data: (socket: Socket<BunConn>, chunk: Uint8Array) => socket.data.onData(chunk),
  drain: (socket: Socket<BunConn>) => socket.data.onDrain(),
  end: (socket: Socket<BunConn>) => socket.data.onEnd(),
  close: (socket: Socket<BunConn>) => socket.data.onEnd(),
  error: (socket: Socket<BunConn>) => socket.data?.onEnd(),
};

async function connect(target: Address): Promise<Conn> {
  if (typeof Bun === "undefined") return new DenoConn(await Deno.connect(target), 65_536);
  const conn = new BunConn();
  conn.socket = await Bun.connect<BunConn>({ ...target, data: conn, socket: bunHandlers });
  return conn;
}

if (typeof Bun !== "undefined") Bun.listen<BunConn>({ ...listen, socket: bunHandlers });
else void (async () => { for await (const conn of Deno.listen(listen)) void serve(new DenoConn(conn, 4096)); })();
console.log(`raw relay on ${typeof Bun !== "undefined" ? `Bun ${Bun.version}` : `Deno ${Deno.version.deno}`} listening on ${args[0]}`);
