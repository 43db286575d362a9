/**
 * A stub resolver over the runtimes' sockets: one question to the nameservers in turn, over UDP,
 * again over TCP when the answer comes truncated (RFC 7766). The runtimes' own resolvers do not
 * say the TTL alike (Deno's resolveDns gives none, Bun's dns none for SRV), and discovery
 * re-resolves by it; this client reads it from the records on every runtime.
 *
 * ```ts
 * const resolve = createDnsClient({ bindDatagram, connect, clock, nameservers: [{ address: "10.0.0.2", port: 53 }], timeout: 2000 });
 * const lookup = await resolve("_http._tcp.app.internal", "srv");
 * ```
 *
 * @module
 */
import type { BindDatagram, Clock, Connect, StreamConnection } from "../ports.ts";
import { canonicalName, decodeResponse, type DnsResponse, encodeQuery, TYPE_CODES } from "./dns-message.ts";
import type { Lookup, Resolve } from "./resolver.ts";
import type { DiscoverConfig, RecordType } from "./schema.ts";

export interface Nameserver {
  address: string;
  port: number;
}

export interface DnsClientOptions {
  bindDatagram: BindDatagram;
  connect: Connect;
  clock: Clock;
  nameservers: readonly Nameserver[];
  /** One query's wait on one nameserver, in ms. */
  timeout: number;
}

/** A lookup that failed on one nameserver: the next one is asked. */
type _Failure = Extract<Lookup, { outcome: "timeout" | "servfail" | "refused" | "error" }>;

export function createDnsClient(options: DnsClientOptions): Resolve {
  return async (name, type) => {
    let failure: _Failure = { outcome: "error", reason: "no nameserver" };
    for (const nameserver of options.nameservers) {
      const answer = await _ask(options, nameserver, name, type);
      if ("outcome" in answer) {
        failure = answer;
        continue;
      }
      const lookup = _lookupOf(answer, name, type, nameserver);
      if (lookup.outcome === "ok" || lookup.outcome === "nx") return lookup;
      failure = lookup;
    }
    return failure;
  };
}

/** One query as sent: its id and question, and the message that carries them. */
interface _Question {
  id: number;
  name: string;
  type: RecordType;
  query: Uint8Array;
}

/** One nameserver's answer to the question, or why there is none. */
async function _ask(options: DnsClientOptions, nameserver: Nameserver, name: string, type: RecordType): Promise<DnsResponse | _Failure> {
  const id = crypto.getRandomValues(new Uint16Array(1))[0];
  const question: _Question = { id, name, type, query: encodeQuery(id, name, type) };
  const where = _format(nameserver);
  try {
    const overUdp = await _askUdp(options, nameserver, question);
    if (overUdp === undefined) return { outcome: "timeout", reason: `no answer from ${where} within ${options.timeout} ms` };
    if (!overUdp.truncated) return overUdp;
    const overTcp = await _askTcp(options, nameserver, question);
    return overTcp ?? { outcome: "timeout", reason: `no answer over TCP from ${where} within ${options.timeout} ms` };
  } catch (error) {
    return { outcome: "error", reason: `${where}: ${(error as Error).message}` };
  }
}

/** Resolves with the answer, or undefined at the timeout; datagrams that are not the answer (spoofed, late) are dropped. */
async function _askUdp({ bindDatagram, clock, timeout }: DnsClientOptions, nameserver: Nameserver, question: _Question): Promise<DnsResponse | undefined> {
  let settle!: (response: DnsResponse | undefined) => void;
  const answered = new Promise<DnsResponse | undefined>((resolve) => settle = resolve);
  const socket = await bindDatagram({ hostname: nameserver.address.includes(":") ? "::" : "0.0.0.0", port: 0 }, (data, from) => {
    if (from.port !== nameserver.port || _bare(from.address) !== _bare(nameserver.address)) return;
    try {
      const response = decodeResponse(data);
      if (_answers(response, question)) settle(response);
    } catch {
      // Not a DNS answer: wait on for the real one.
    }
  });
  const cancel = clock.setTimer(() => settle(undefined), timeout);
  try {
    socket.send(question.query, nameserver.address, nameserver.port);
    return await answered;
  } finally {
    cancel();
    socket.close();
  }
}

async function _askTcp({ connect, clock, timeout }: DnsClientOptions, nameserver: Nameserver, question: _Question): Promise<DnsResponse | undefined> {
  const abort = new AbortController();
  let connection: StreamConnection | undefined;
  let timedOut = false;
  const cancel = clock.setTimer(() => {
    timedOut = true;
    abort.abort();
    connection?.close();
  }, timeout);
  try {
    connection = await connect({ hostname: nameserver.address, port: nameserver.port, signal: abort.signal });
    const { query } = question;
    const framed = new Uint8Array(2 + query.length);
    new DataView(framed.buffer).setUint16(0, query.length);
    framed.set(query, 2);
    await connection.write(framed);
    const message = await _readFramed(connection);
    if (message === undefined) return undefined;
    const response = decodeResponse(message);
    if (!_answers(response, question)) throw new Error("a TCP answer to another question");
    return response;
  } catch (error) {
    if (timedOut) return undefined;
    throw error;
  } finally {
    cancel();
    connection?.close();
  }
}

/** One length-prefixed message; undefined when the connection ends before it is whole. */
async function _readFramed(connection: StreamConnection): Promise<Uint8Array | undefined> {
  let buffered = new Uint8Array(0);
  for (;;) {
    if (buffered.length >= 2) {
      const length = (buffered[0] << 8) | buffered[1];
      if (buffered.length >= 2 + length) return buffered.subarray(2, 2 + length);
    }
    const piece = await connection.read();
    if (piece === null) return undefined;
    const joined = new Uint8Array(buffered.length + piece.length);
    joined.set(buffered);
    joined.set(piece, buffered.length);
    buffered = joined;
  }
}

/** Whether `response` answers `question`: its id, and the name and type it repeats. */
function _answers(response: DnsResponse, { id, name, type }: _Question): boolean {
  const repeated = response.question;
  return response.id === id && repeated !== undefined && repeated.type === TYPE_CODES[type] && repeated.name === canonicalName(name);
}

function _lookupOf(response: DnsResponse, name: string, type: RecordType, nameserver: Nameserver): Lookup {
  const where = _format(nameserver);
  switch (response.rcode) {
    case 0: {
      const records = response.answers.filter((record) => record.type === type);
      if (records.length === 0) return { outcome: "nx", reason: `${where}: ${name} has no ${type.toUpperCase()} records` };
      // A CNAME on the way lives no longer than its own TTL: the records take the lowest.
      const cnameTtl = Math.min(...response.answers.filter((record) => record.type === "cname").map((record) => record.ttl));
      return {
        outcome: "ok",
        records: records.map((record) => record.ttl > cnameTtl ? { ...record, ttl: cnameTtl } : record),
        additional: response.additional,
      };
    }
    case 2:
      return { outcome: "servfail", reason: `${where}: SERVFAIL for ${name}` };
    case 3:
      return { outcome: "nx", reason: `${where}: NXDOMAIN for ${name}` };
    case 5:
      return { outcome: "refused", reason: `${where}: REFUSED for ${name}` };
    default:
      return { outcome: "error", reason: `${where}: RCODE ${response.rcode} for ${name}` };
  }
}

function _bare(address: string): string {
  return address.replace(/^::ffff:/, "").toLowerCase();
}

function _format({ address, port }: Nameserver): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The nameservers of resolv.conf text (`nameserver` lines; port 53). */
export function nameserversOf(resolvConf: string): Nameserver[] {
  const found: Nameserver[] = [];
  for (const line of resolvConf.split("\n")) {
    const match = /^\s*nameserver\s+([0-9A-Fa-f:.]+)(?:%\S+)?\s*(?:[#;].*)?$/.exec(line);
    if (match) found.push({ address: match[1], port: 53 });
  }
  return found;
}

/** A configured nameserver: `10.0.0.2`, `10.0.0.2:5353`, `fd00::2` or `[fd00::2]:53`. */
export function parseNameserver(text: string): Nameserver {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { address: bracketed[1], port: Number(bracketed[2] ?? 53) };
  const v4 = /^([\d.]+)(?::(\d+))?$/.exec(text);
  if (v4) return { address: v4[1], port: Number(v4[2] ?? 53) };
  return { address: text, port: 53 };
}

/** The resolver of one discover block: its own nameservers, else those of /etc/resolv.conf, read at each lookup (it may change under a running process). */
export function dnsResolverFor(ports: Omit<DnsClientOptions, "nameservers" | "timeout"> & { readTextFile(path: string): Promise<string> }) {
  return (config: DiscoverConfig): Resolve => {
    if (config.nameservers !== undefined) {
      return createDnsClient({ ...ports, nameservers: config.nameservers.map(parseNameserver), timeout: config.timeout });
    }
    return async (name, type) => {
      let text: string;
      try {
        text = await ports.readTextFile(RESOLV_CONF);
      } catch (error) {
        return { outcome: "error", reason: `cannot read ${RESOLV_CONF}: ${(error as Error).message}` };
      }
      const nameservers = nameserversOf(text);
      if (nameservers.length === 0) return { outcome: "error", reason: `no nameserver line in ${RESOLV_CONF}` };
      return await createDnsClient({ ...ports, nameservers, timeout: config.timeout })(name, type);
    };
  };
}

const RESOLV_CONF = "/etc/resolv.conf";
