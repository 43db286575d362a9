/**
 * The advertisement on the wire: the VRRPv3 layout of RFC 5798 §5.1 (IPv4) followed by an
 * authentication trailer, because over UDP the RFC's TTL-255 check proves nothing.
 *
 * ```
 *  0                   1                   2                   3
 * |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
 * |(rsvd) |     Max Adver Int     |          Checksum             |
 * |                    IPv4 Address(es) (4 × count)               |
 * |           Sender (the node's own IPv4 address)                |
 * |             Epoch (u64: the sender's boot time, ms)           |
 * |             Counter (u64: +1 per advertisement)               |
 * |             HMAC-SHA256 of everything above (32 bytes)        |
 * ```
 *
 * The checksum is the Internet checksum of the VRRP part (header and addresses); there is no IP
 * pseudo-header to cover over UDP. Decoding checks everything cheap before the MAC so garbage
 * costs no hashing.
 *
 * @example
 * ```ts
 * const key = await importVrrpKey("a shared secret of 16+ chars");
 * const bytes = await encodeAdvertisement({ vrid: 51, priority: 100, maxAdvertInterval: 100, addresses: ["10.0.0.100"] },
 *   { sender: "10.0.0.11", epoch: 1, counter: 1 }, key);
 * const decoded = decodeAdvertisement(bytes);
 * if (decoded.ok && await macValid(bytes, key)) console.log(decoded.advert.priority);
 * ```
 * @module
 */

export const VRRP_VERSION = 3;
export const TYPE_ADVERTISEMENT = 1;
const HEADER_BYTES = 8;
const MAC_BYTES = 32;
/** Sender, epoch, counter. */
const TRAILER_FIELDS_BYTES = 4 + 8 + 8;
export const TRAILER_BYTES = TRAILER_FIELDS_BYTES + MAC_BYTES;
/** The count field is one byte, and 255 addresses fit any MTU anyway. */
const MAX_ADDRESSES = 255;

export interface Advertisement {
  vrid: number;
  /** 0 = the master is resigning. */
  priority: number;
  /** Centiseconds, 12 bits. */
  maxAdvertInterval: number;
  /** Virtual IPv4 addresses (without prefix length). */
  addresses: string[];
}

export interface Trailer {
  /** The sender's own IPv4 address; must match the datagram's source. */
  sender: string;
  /** Per-boot value (start time in ms), so a restarted node's counter may start again from 1. */
  epoch: number;
  counter: number;
}

/** Why a datagram was not an acceptable advertisement (the label of the drop counter). */
export type DecodeFailure = "truncated" | "version" | "type" | "count" | "checksum" | "interval";

export type Decoded = { ok: true; advert: Advertisement; trailer: Trailer } | { ok: false; reason: DecodeFailure };

/** An HMAC-SHA256 key for {@link encodeAdvertisement} and {@link macValid}. */
export function importVrrpKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

export async function encodeAdvertisement(advert: Advertisement, trailer: Trailer, key: CryptoKey): Promise<Uint8Array> {
  const count = advert.addresses.length;
  if (count > MAX_ADDRESSES) throw new RangeError(`at most ${MAX_ADDRESSES} addresses`);
  const vrrpBytes = HEADER_BYTES + 4 * count;
  const bytes = new Uint8Array(vrrpBytes + TRAILER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, (VRRP_VERSION << 4) | TYPE_ADVERTISEMENT);
  view.setUint8(1, advert.vrid);
  view.setUint8(2, advert.priority);
  view.setUint8(3, count);
  view.setUint16(4, advert.maxAdvertInterval & 0x0fff);
  advert.addresses.forEach((address, index) => _writeIpv4(view, HEADER_BYTES + 4 * index, address));
  view.setUint16(6, _internetChecksum(bytes.subarray(0, vrrpBytes)));
  _writeIpv4(view, vrrpBytes, trailer.sender);
  _writeU64(view, vrrpBytes + 4, trailer.epoch);
  _writeU64(view, vrrpBytes + 12, trailer.counter);
  const signed = bytes.subarray(0, vrrpBytes + TRAILER_FIELDS_BYTES);
  bytes.set(new Uint8Array(await crypto.subtle.sign("HMAC", key, signed)), signed.length);
  return bytes;
}

/** Structure only: size, version, type, count, checksum. The MAC is checked by {@link macValid}. */
export function decodeAdvertisement(bytes: Uint8Array): Decoded {
  if (bytes.length < HEADER_BYTES + TRAILER_BYTES) return { ok: false, reason: "truncated" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = view.getUint8(0);
  if (first >> 4 !== VRRP_VERSION) return { ok: false, reason: "version" };
  if ((first & 0x0f) !== TYPE_ADVERTISEMENT) return { ok: false, reason: "type" };
  const count = view.getUint8(3);
  const vrrpBytes = HEADER_BYTES + 4 * count;
  if (bytes.length < vrrpBytes + TRAILER_BYTES) return { ok: false, reason: "truncated" };
  if (bytes.length > vrrpBytes + TRAILER_BYTES) return { ok: false, reason: "count" };
  if (_internetChecksum(bytes.subarray(0, vrrpBytes)) !== 0) return { ok: false, reason: "checksum" };
  // An interval of 0 would make every backup's Master_Down_Interval 0: instant, endless takeovers.
  if ((view.getUint16(4) & 0x0fff) === 0) return { ok: false, reason: "interval" };
  const addresses: string[] = [];
  for (let index = 0; index < count; index++) addresses.push(_readIpv4(view, HEADER_BYTES + 4 * index));
  return {
    ok: true,
    advert: { vrid: view.getUint8(1), priority: view.getUint8(2), maxAdvertInterval: view.getUint16(4) & 0x0fff, addresses },
    trailer: { sender: _readIpv4(view, vrrpBytes), epoch: _readU64(view, vrrpBytes + 4), counter: _readU64(view, vrrpBytes + 12) },
  };
}

/** Recomputes the MAC of a decoded datagram and compares it in constant time. */
export async function macValid(bytes: Uint8Array, key: CryptoKey): Promise<boolean> {
  const signedLength = bytes.length - MAC_BYTES;
  const expected = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes.slice(0, signedLength)));
  let difference = 0;
  for (let index = 0; index < MAC_BYTES; index++) difference |= expected[index] ^ bytes[signedLength + index];
  return difference === 0;
}

/** RFC 1071: the one's complement of the one's complement sum; a valid packet sums to 0. */
function _internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let index = 0; index + 1 < bytes.length; index += 2) sum += (bytes[index] << 8) | bytes[index + 1];
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function _writeIpv4(view: DataView, offset: number, address: string): void {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    throw new RangeError(`not an IPv4 address: ${address}`);
  }
  parts.forEach((part, index) => view.setUint8(offset + index, part));
}

function _readIpv4(view: DataView, offset: number): string {
  return `${view.getUint8(offset)}.${view.getUint8(offset + 1)}.${view.getUint8(offset + 2)}.${view.getUint8(offset + 3)}`;
}

/** Values stay below 2^53 (ms since 1970, a counter): two u32 halves avoid BigInt. */
function _writeU64(view: DataView, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64 counter: ${value}`);
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value >>> 0);
}

function _readU64(view: DataView, offset: number): number {
  return view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4);
}
