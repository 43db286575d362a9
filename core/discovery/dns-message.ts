/**
 * The DNS wire format (RFC 1035, SRV from RFC 2782, EDNS0 from RFC 6891), as far as discovery
 * needs it: one question out; A, AAAA, SRV and CNAME answers back, with their TTLs. Pure: bytes
 * in, data out; anything malformed throws a DnsFormatError.
 *
 * ```ts
 * const query = encodeQuery(0x1234, "app.internal", "a");
 * const answer = decodeResponse(bytes); // { id, rcode, truncated, records }
 * ```
 *
 * @module
 */
import type { RecordType } from "./schema.ts";

export const TYPE_CODES: Record<RecordType | "cname" | "opt", number> = { a: 1, cname: 5, aaaa: 28, srv: 33, opt: 41 };
const CLASS_IN = 1;
/** What we tell the server a UDP answer may be (RFC 9715's safe size); bigger answers come truncated, then over TCP. */
export const UDP_PAYLOAD_SIZE = 1232;

export type DnsRecord =
  | { type: "a" | "aaaa"; name: string; ttl: number; address: string }
  | { type: "srv"; name: string; ttl: number; priority: number; weight: number; port: number; target: string }
  | { type: "cname"; name: string; ttl: number; target: string };

export interface DnsResponse {
  id: number;
  /** 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED… */
  rcode: number;
  truncated: boolean;
  question: { name: string; type: number } | undefined;
  /** Answer and additional sections; other record types are skipped. */
  answers: DnsRecord[];
  additional: DnsRecord[];
}

export class DnsFormatError extends Error {
  override name = "DnsFormatError";
}

/** Lower case, no trailing dot: how names are compared. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** A recursive query (RD) for `name`, with an EDNS0 record offering {@link UDP_PAYLOAD_SIZE}. */
export function encodeQuery(id: number, name: string, type: RecordType): Uint8Array {
  const labels = canonicalName(name).split(".").map((label) => new TextEncoder().encode(label));
  if (labels.some((label) => label.length === 0 || label.length > 63)) throw new DnsFormatError(`not a DNS name: "${name}"`);
  const nameLength = labels.reduce((sum, label) => sum + 1 + label.length, 1);
  const bytes = new Uint8Array(12 + nameLength + 4 + 11);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, id);
  view.setUint16(2, 0x0100);
  view.setUint16(4, 1);
  view.setUint16(10, 1);
  let offset = 12;
  for (const label of labels) {
    bytes[offset++] = label.length;
    bytes.set(label, offset);
    offset += label.length;
  }
  offset++;
  view.setUint16(offset, TYPE_CODES[type]);
  view.setUint16(offset + 2, CLASS_IN);
  // OPT pseudo-record: root name, type 41, class = payload size, TTL and RDLENGTH 0.
  view.setUint16(offset + 5, TYPE_CODES.opt);
  view.setUint16(offset + 7, UDP_PAYLOAD_SIZE);
  return bytes;
}

export function decodeResponse(bytes: Uint8Array): DnsResponse {
  if (bytes.length < 12) throw new DnsFormatError(`a DNS message is at least 12 bytes (got ${bytes.length})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint16(2);
  if ((flags & 0x8000) === 0) throw new DnsFormatError("a query, not a response");
  const counts = [view.getUint16(4), view.getUint16(6), view.getUint16(8), view.getUint16(10)];
  const reader = { offset: 12 };
  let question: DnsResponse["question"];
  for (let index = 0; index < counts[0]; index++) {
    const name = _readName(bytes, reader);
    _need(bytes, reader.offset + 4);
    if (index === 0) question = { name, type: view.getUint16(reader.offset) };
    reader.offset += 4;
  }
  const answers: DnsRecord[] = [];
  const additional: DnsRecord[] = [];
  const sections = [answers, undefined, additional];
  for (let section = 0; section < 3; section++) {
    for (let index = 0; index < counts[section + 1]; index++) {
      const record = _readRecord(bytes, view, reader);
      if (record) sections[section]?.push(record);
    }
  }
  return { id: view.getUint16(0), rcode: flags & 0x000f, truncated: (flags & 0x0200) !== 0, question, answers, additional };
}

function _readRecord(bytes: Uint8Array, view: DataView, reader: { offset: number }): DnsRecord | undefined {
  const name = _readName(bytes, reader);
  _need(bytes, reader.offset + 10);
  const type = view.getUint16(reader.offset);
  const recordClass = view.getUint16(reader.offset + 2);
  // RFC 2181 §8: a TTL with the top bit set counts as 0.
  const rawTtl = view.getUint32(reader.offset + 4);
  const ttl = rawTtl > 0x7fffffff ? 0 : rawTtl;
  const length = view.getUint16(reader.offset + 8);
  const start = reader.offset + 10;
  const end = start + length;
  _need(bytes, end);
  reader.offset = end;
  if (recordClass !== CLASS_IN) return undefined;
  switch (type) {
    case TYPE_CODES.a:
      if (length !== 4) throw new DnsFormatError(`an A record of ${length} bytes`);
      return { type: "a", name, ttl, address: Array.from(bytes.subarray(start, end)).join(".") };
    case TYPE_CODES.aaaa:
      if (length !== 16) throw new DnsFormatError(`an AAAA record of ${length} bytes`);
      return { type: "aaaa", name, ttl, address: _ipv6(view, start) };
    case TYPE_CODES.cname:
      return { type: "cname", name, ttl, target: _readName(bytes, { offset: start }) };
    case TYPE_CODES.srv: {
      if (length < 7) throw new DnsFormatError(`an SRV record of ${length} bytes`);
      const target = _readName(bytes, { offset: start + 6 });
      return { type: "srv", name, ttl, priority: view.getUint16(start), weight: view.getUint16(start + 2), port: view.getUint16(start + 4), target };
    }
  }
  return undefined;
}

/**
 * A possibly compressed name (RFC 1035 §4.1.4). Pointers may only go back, so a loop has to pass
 * labels, and the 255-byte limit on a name ends it.
 */
function _readName(bytes: Uint8Array, reader: { offset: number }): string {
  const labels: string[] = [];
  let offset = reader.offset;
  let jumped = false;
  let length = 0;
  for (;;) {
    _need(bytes, offset + 1);
    const size = bytes[offset];
    if (size === 0) {
      offset++;
      break;
    }
    if ((size & 0xc0) === 0xc0) {
      _need(bytes, offset + 2);
      const target = ((size & 0x3f) << 8) | bytes[offset + 1];
      if (target >= offset) throw new DnsFormatError("a name pointer that does not point back");
      if (!jumped) reader.offset = offset + 2;
      jumped = true;
      offset = target;
      continue;
    }
    if ((size & 0xc0) !== 0) throw new DnsFormatError(`an unknown label type 0x${size.toString(16)}`);
    _need(bytes, offset + 1 + size);
    length += size + 1;
    if (length > 255) throw new DnsFormatError("a name longer than 255 bytes");
    labels.push(String.fromCharCode(...bytes.subarray(offset + 1, offset + 1 + size)).toLowerCase());
    offset += 1 + size;
  }
  if (!jumped) reader.offset = offset;
  return labels.join(".");
}

function _ipv6(view: DataView, start: number): string {
  const groups: string[] = [];
  for (let index = 0; index < 8; index++) groups.push(view.getUint16(start + index * 2).toString(16));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let index = 0; index < 8;) {
    if (groups[index] !== "0") {
      index++;
      continue;
    }
    let end = index;
    while (end < 8 && groups[end] === "0") end++;
    if (end - index > bestLength) [bestStart, bestLength] = [index, end - index];
    index = end;
  }
  if (bestStart === -1) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}

function _need(bytes: Uint8Array, end: number): void {
  if (end > bytes.length) throw new DnsFormatError("the message ends inside a record");
}
