/**
 * Just enough DER to walk X.509 certificates and private keys, and to re-wrap PKCS#1 and SEC1
 * keys as PKCS#8, the only private key form WebCrypto imports. Strict where leniency would hide a
 * broken file (truncation, trailing bytes, BER indefinite lengths); single-byte tags only, which is
 * all these structures use.
 *
 * ```ts
 * import { children, readOne, Tag } from "./der.ts";
 * const node = readOne(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]));
 * console.log(node.tag === Tag.SEQUENCE, children(node)[0].value); // true Uint8Array [5]
 * ```
 *
 * @module
 */

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const CONSTRUCTED = 0x20;

/** One TLV element. `bytes` and `value` are views into the input, not copies. */
export interface DerNode {
  /** The identifier octet: class, constructed bit and tag number. */
  tag: number;
  /** The whole encoding, header included. */
  bytes: Uint8Array;
  /** The contents octets. */
  value: Uint8Array;
}

/** The element starting at `offset`. Throws on truncated or non-DER headers. */
export function readDer(input: Uint8Array, offset = 0): DerNode {
  if (offset >= input.length) throw new Error("truncated (expected another element)");
  const tag = input[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error(`unsupported multi-byte tag at byte ${offset}`);
  if (offset + 1 >= input.length) throw new Error(`truncated at byte ${offset + 1}`);
  let length = input[offset + 1];
  let start = offset + 2;
  if (length === 0x80) throw new Error(`indefinite length at byte ${offset + 1} (BER, not DER)`);
  if (length > 0x80) {
    const count = length & 0x7f;
    // 4 bytes already allow 4 GiB, far beyond any certificate or key.
    if (count > 4) throw new Error(`length of ${count} bytes at byte ${offset + 1}`);
    if (start + count > input.length) throw new Error(`truncated at byte ${start}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[start + i];
    start += count;
  }
  const end = start + length;
  if (end > input.length) throw new Error(`truncated: element at byte ${offset} needs ${end - input.length} more bytes`);
  return { tag, bytes: input.subarray(offset, end), value: input.subarray(start, end) };
}

/**
 * The single element that makes up all of `input`. With `tag`, a wrong first byte is reported as
 * such, before its length could make unrelated bytes look merely truncated.
 */
export function readOne(input: Uint8Array, tag?: number, what = "element"): DerNode {
  if (tag !== undefined && input.length > 0 && input[0] !== tag) {
    throw new Error(`${what}: expected ${tagName(tag)}, found ${tagName(input[0])}`);
  }
  const node = readDer(input);
  if (node.bytes.length !== input.length) throw new Error(`${input.length - node.bytes.length} bytes after the end`);
  return node;
}

/** The elements inside a constructed element (SEQUENCE, SET, explicit tags). */
export function children(node: DerNode): DerNode[] {
  if (!(node.tag & CONSTRUCTED)) throw new Error(`tag ${tagName(node.tag)} is not constructed`);
  const result: DerNode[] = [];
  for (let offset = 0; offset < node.value.length;) {
    const child = readDer(node.value, offset);
    result.push(child);
    offset += child.bytes.length;
  }
  return result;
}

/** `node` itself when it has `tag`; else an error naming `what` was expected. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new Error(`${what} missing`);
  if (node.tag !== tag) throw new Error(`${what}: expected ${tagName(tag)}, found ${tagName(node.tag)}`);
  return node;
}

/** A readable name for an identifier octet, for error messages. */
export function tagName(tag: number): string {
  for (const [name, value] of Object.entries(Tag)) if (value === tag) return name.replace(/_/g, " ");
  if ((tag & 0xc0) === 0x80) return `[${tag & 0x1f}]`;
  return `tag 0x${tag.toString(16).padStart(2, "0")}`;
}

/** Dotted decimal form of an OBJECT IDENTIFIER's contents. */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) throw new Error("empty OBJECT IDENTIFIER");
  const arcs: number[] = [];
  let arc = 0;
  for (let i = 0; i < value.length; i++) {
    arc = arc * 128 + (value[i] & 0x7f);
    if (!(value[i] & 0x80)) {
      arcs.push(arc);
      arc = 0;
    } else if (i === value.length - 1) {
      throw new Error("truncated OBJECT IDENTIFIER");
    }
  }
  // The first encoded arc packs the first two: 40 * first + second, first capped at 2.
  const first = Math.min(2, Math.floor(arcs[0] / 40));
  return [first, arcs[0] - 40 * first, ...arcs.slice(1)].join(".");
}

/** An OBJECT IDENTIFIER element for a dotted decimal OID. */
export function encodeOid(oid: string): Uint8Array<ArrayBuffer> {
  const arcs = oid.split(".").map(Number);
  const bytes: number[] = [];
  for (const arc of [40 * arcs[0] + arcs[1], ...arcs.slice(2)]) {
    const group = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) group.unshift((rest & 0x7f) | 0x80);
    bytes.push(...group);
  }
  return encodeDer(Tag.OID, new Uint8Array(bytes));
}

/** A TLV element whose contents are `parts` concatenated. */
export function encodeDer(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const header = [tag];
  if (length < 0x80) header.push(length);
  else {
    const digits: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) digits.unshift(rest & 0xff);
    header.push(0x80 | digits.length, ...digits);
  }
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
