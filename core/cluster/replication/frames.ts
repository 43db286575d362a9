/**
 * The replication wire format: typed frames with fixed, hand-written binary layouts. Nothing is
 * deserialised generically: every field is read by position with its type and length checked, so
 * a hostile peer can send bytes but never shape an object (no `__proto__`, no surprise fields).
 *
 * A frame on the wire is `u32 length | body | mac?`, where `length` counts body and MAC, and the
 * body is `u8 type | fields`. Strings are `u16 length | UTF-8`; ids are integers below 2^53 sent
 * as two u32; times are float64 milliseconds since the Unix epoch.
 *
 * @example
 * ```ts
 * const body = encodeFrame({ type: "ack", id: 42 });
 * decodeFrame(body); // { type: "ack", id: 42 }
 * ```
 * @module
 */
import type { Activation } from "../../config/fields.ts";

export const PROTOCOL_VERSION = 1;
/** Hard cap on one frame (body and MAC); a longer length prefix closes the connection. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Updates and resync chunks are cut well below the cap. */
export const BATCH_BYTES = 64 * 1024;
export const NONCE_BYTES = 16;

const MAX_NAME = 64;
const MAX_KEY = 256;
const MAX_TEXT = 256;
/** Rate limit keys are header or cookie values of up to 256 characters (core/rules/rate-limit.ts). */
const MAX_RATE_KEY = 1024;

/** One replicated change. `origin` is the node that made it: the tie-break of last-write-wins. */
export type ReplicaRecord =
  | { kind: "stick"; pool: string; key: string; member: string; expiresAt: number; origin: string }
  | { kind: "unstick"; pool: string; key: string; at: number; origin: string }
  | { kind: "admin"; pool: string; member: string; activation?: Activation; weight?: number; actor: string; at: number; origin: string }
  /** A node's count of one rate limit key in the window that started at `windowStart` (only grows within it). */
  | { kind: "rate"; limit: string; key: string; windowStart: number; count: number; origin: string }
  /** ACME state shared by the nodes (core/acme/cluster.ts): an account, a certificate, an http-01 answer; "" withdraws. */
  | { kind: "acme"; key: string; value: string; at: number; origin: string };

export interface Hello {
  type: "hello";
  version: number;
  cluster: string;
  node: string;
  nonce: Uint8Array;
  /** Random per process start: a different one means the sender's numbering started over. */
  bootId: string;
  /** From the responder: the sender boot and the last update id it applied, to resume from. */
  resumeBootId: string;
  resumeId: number;
}

export type Frame =
  | Hello
  | { type: "updates"; firstId: number; records: ReplicaRecord[] }
  | { type: "ack"; id: number }
  | { type: "heartbeat" }
  | { type: "resync-request" }
  | { type: "resync-chunk"; records: ReplicaRecord[] }
  | { type: "resync-end"; id: number }
  | { type: "refuse"; reason: string };

const TYPES = ["hello", "updates", "ack", "heartbeat", "resync-request", "resync-chunk", "resync-end", "refuse"] as const;
const ACTIVATION_CODES: readonly (Activation | undefined)[] = [undefined, "active", "disabled", "stopped"];
const KINDS = ["stick", "unstick", "admin", "rate", "acme"] as const;
/** A certificate chain with its key, as PEM: a long chain of RSA certificates stays well below. */
const MAX_ACME_VALUE = 60_000;

/** Why bytes were not a frame; counted per reason. */
export class FrameError extends Error {
  constructor(readonly reason: "malformed" | "truncated" | "oversized" | "bad-mac" | "unexpected") {
    super(reason);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A growable byte buffer with typed appends. */
export class ByteWriter {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  #ensure(extra: number): void {
    if (this.length + extra <= this.#bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.#bytes.length * 2, this.length + extra));
    bigger.set(this.#bytes.subarray(0, this.length));
    this.#bytes = bigger;
    this.#view = new DataView(bigger.buffer);
  }
  u8(value: number): void {
    this.#ensure(1);
    this.#bytes[this.length++] = value;
  }
  u16(value: number): void {
    this.#ensure(2);
    this.#view.setUint16(this.length, value);
    this.length += 2;
  }
  u32(value: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.length, value);
    this.length += 4;
  }
  id(value: number): void {
    this.u32(Math.floor(value / 2 ** 32));
    this.u32(value >>> 0);
  }
  f64(value: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.length, value);
    this.length += 8;
  }
  bytes(value: Uint8Array): void {
    this.#ensure(value.length);
    this.#bytes.set(value, this.length);
    this.length += value.length;
  }
  string(value: string, max: number): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.#ensure(2 + value.length * 3);
    const { written } = encoder.encodeInto(value, this.#bytes.subarray(this.length + 2));
    if (written > max) throw new RangeError(`string of ${written} bytes exceeds ${max}`);
    this.#view.setUint16(this.length, written);
    this.length += 2 + written;
  }
  /** Overwrites a u32 written earlier (a length prefix). */
  patchU32(at: number, value: number): void {
    this.#view.setUint32(at, value);
  }
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }
}

class _Reader {
  #at = 0;
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  #take(n: number): number {
    if (this.#at + n > this.bytes.length) throw new FrameError("malformed");
    const at = this.#at;
    this.#at += n;
    return at;
  }
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }
  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }
  u32(): number {
    return this.#view.getUint32(this.#take(4));
  }
  id(): number {
    const high = this.u32();
    const low = this.u32();
    if (high >= 2 ** 21) throw new FrameError("malformed");
    return high * 2 ** 32 + low;
  }
  f64(): number {
    const value = this.#view.getFloat64(this.#take(8));
    if (!Number.isFinite(value)) throw new FrameError("malformed");
    return value;
  }
  bytesOf(n: number): Uint8Array {
    const at = this.#take(n);
    return this.bytes.slice(at, at + n);
  }
  string(max: number, min = 0): string {
    const length = this.u16();
    if (length > max || length < min) throw new FrameError("malformed");
    const at = this.#take(length);
    try {
      return decoder.decode(this.bytes.subarray(at, at + length));
    } catch {
      throw new FrameError("malformed");
    }
  }
  end(): void {
    if (this.#at !== this.bytes.length) throw new FrameError("malformed");
  }
}

/** Appends `record`'s fields to `out`. Throws RangeError for a string over its limit. */
export function encodeRecord(out: ByteWriter, record: ReplicaRecord): void {
  out.u8(KINDS.indexOf(record.kind) + 1);
  if (record.kind === "rate") {
    out.string(record.limit, MAX_NAME);
    out.string(record.key, MAX_RATE_KEY);
    out.f64(record.windowStart);
    out.u32(record.count);
    out.string(record.origin, MAX_NAME);
    return;
  }
  if (record.kind === "acme") {
    out.string(record.key, MAX_KEY);
    out.string(record.value, MAX_ACME_VALUE);
    out.f64(record.at);
    out.string(record.origin, MAX_NAME);
    return;
  }
  out.string(record.pool, MAX_NAME);
  switch (record.kind) {
    case "stick":
      out.string(record.key, MAX_KEY);
      out.string(record.member, MAX_NAME);
      out.f64(record.expiresAt);
      break;
    case "unstick":
      out.string(record.key, MAX_KEY);
      out.f64(record.at);
      break;
    case "admin":
      out.string(record.member, MAX_NAME);
      out.u8(ACTIVATION_CODES.indexOf(record.activation));
      out.u16(record.weight === undefined ? 0xffff : record.weight);
      out.string(record.actor, MAX_TEXT);
      out.f64(record.at);
      break;
  }
  out.string(record.origin, MAX_NAME);
}

function _decodeRecord(input: _Reader): ReplicaRecord {
  const kind = KINDS[input.u8() - 1];
  if (kind === "rate") {
    const limit = input.string(MAX_NAME, 1);
    const key = input.string(MAX_RATE_KEY, 1);
    const windowStart = input.f64();
    const count = input.u32();
    return { kind, limit, key, windowStart, count, origin: input.string(MAX_NAME, 1) };
  }
  if (kind === "acme") {
    const key = input.string(MAX_KEY, 1);
    const value = input.string(MAX_ACME_VALUE);
    const at = input.f64();
    return { kind, key, value, at, origin: input.string(MAX_NAME, 1) };
  }
  const pool = input.string(MAX_NAME, 1);
  switch (kind) {
    case "stick": {
      const key = input.string(MAX_KEY, 1);
      const member = input.string(MAX_NAME, 1);
      const expiresAt = input.f64();
      return { kind, pool, key, member, expiresAt, origin: input.string(MAX_NAME, 1) };
    }
    case "unstick": {
      const key = input.string(MAX_KEY, 1);
      const at = input.f64();
      return { kind, pool, key, at, origin: input.string(MAX_NAME, 1) };
    }
    case "admin": {
      const member = input.string(MAX_NAME, 1);
      const code = input.u8();
      if (code >= ACTIVATION_CODES.length) throw new FrameError("malformed");
      const weight = input.u16();
      if (weight !== 0xffff && weight > 256) throw new FrameError("malformed");
      const actor = input.string(MAX_TEXT);
      const at = input.f64();
      const record: ReplicaRecord = { kind, pool, member, actor, at, origin: input.string(MAX_NAME, 1) };
      if (ACTIVATION_CODES[code] !== undefined) record.activation = ACTIVATION_CODES[code];
      if (weight !== 0xffff) record.weight = weight;
      return record;
    }
    default:
      throw new FrameError("malformed");
  }
}

/** The body (type and fields, no length prefix, no MAC) of `frame`. */
export function encodeFrame(frame: Frame, out = new ByteWriter()): Uint8Array {
  out.u8(TYPES.indexOf(frame.type) + 1);
  switch (frame.type) {
    case "hello":
      out.u8(frame.version);
      out.string(frame.cluster, MAX_NAME);
      out.string(frame.node, MAX_NAME);
      out.bytes(frame.nonce);
      out.string(frame.bootId, MAX_NAME);
      out.string(frame.resumeBootId, MAX_NAME);
      out.id(frame.resumeId);
      break;
    case "updates":
      out.id(frame.firstId);
      out.u32(frame.records.length);
      for (const record of frame.records) encodeRecord(out, record);
      break;
    case "resync-chunk":
      out.u32(frame.records.length);
      for (const record of frame.records) encodeRecord(out, record);
      break;
    case "ack":
    case "resync-end":
      out.id(frame.id);
      break;
    case "refuse":
      out.string(frame.reason.slice(0, MAX_TEXT / 3), MAX_TEXT);
      break;
  }
  return out.view();
}

/** Reads one frame body; throws FrameError("malformed") for anything that is not exactly one frame. */
export function decodeFrame(body: Uint8Array): Frame {
  const input = new _Reader(body);
  const type = TYPES[input.u8() - 1];
  let frame: Frame;
  switch (type) {
    case "hello": {
      const version = input.u8();
      const cluster = input.string(MAX_NAME);
      const node = input.string(MAX_NAME);
      const nonce = input.bytesOf(NONCE_BYTES);
      const bootId = input.string(MAX_NAME);
      frame = { type, version, cluster, node, nonce, bootId, resumeBootId: input.string(MAX_NAME), resumeId: input.id() };
      break;
    }
    case "updates": {
      const firstId = input.id();
      frame = { type, firstId, records: _records(input) };
      break;
    }
    case "resync-chunk":
      frame = { type, records: _records(input) };
      break;
    case "ack":
    case "resync-end":
      frame = { type, id: input.id() };
      break;
    case "heartbeat":
    case "resync-request":
      frame = { type };
      break;
    case "refuse":
      frame = { type, reason: input.string(MAX_TEXT) };
      break;
    default:
      throw new FrameError("malformed");
  }
  input.end();
  return frame;
}

function _records(input: _Reader): ReplicaRecord[] {
  const count = input.u32();
  // Every record takes more than 8 bytes: a count beyond that is a lie, refused before allocating.
  if (count > input.bytes.length / 8) throw new FrameError("malformed");
  const records: ReplicaRecord[] = [];
  for (let i = 0; i < count; i++) records.push(_decodeRecord(input));
  return records;
}

/**
 * Cuts a byte stream into length-prefixed frames. Bytes are copied into one growing buffer, so a
 * frame split over many reads costs no more than one that came whole.
 */
export class FrameSplitter {
  #buffer = new Uint8Array(0);
  #start = 0;
  #end = 0;

  push(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buffer.length) {
      const pending = this.#end - this.#start;
      const needed = pending + chunk.length;
      if (needed > this.#buffer.length) {
        const bigger = new Uint8Array(Math.max(needed, this.#buffer.length * 2, 4096));
        bigger.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = bigger;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = pending;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Bytes of an incomplete frame are waiting (the stream ending now cuts a frame short). */
  get partial(): boolean {
    return this.#end > this.#start;
  }

  /** The next whole frame (without its prefix), undefined until one has arrived; throws FrameError("oversized"). */
  next(): Uint8Array | undefined {
    if (this.#end - this.#start < 4) return undefined;
    const b = this.#buffer;
    const s = this.#start;
    const length = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
    if (length > MAX_FRAME_BYTES || length === 0) throw new FrameError(length === 0 ? "malformed" : "oversized");
    if (this.#end - s - 4 < length) return undefined;
    this.#start = s + 4 + length;
    return b.slice(s + 4, s + 4 + length);
  }
}
