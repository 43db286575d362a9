/**
 * IPv4/IPv6 addresses and CIDR ranges, for deciding which clients are trusted proxies.
 *
 * @example
 * ```ts
 * const trusted = compileCidrs(["10.0.0.0/8", "::1"]);
 * trusted("10.1.2.3"); // true
 * ```
 * @module
 */

/** Address as a 128-bit bigint (IPv4 mapped into ::ffff:0:0/96), or undefined if not an IP. */
export function parseIp(text: string): bigint | undefined {
  let address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = address.indexOf("%");
  if (zone !== -1) address = address.slice(0, zone);
  if (address.includes(":")) return _parseIpv6(address);
  const v4 = _parseIpv4(address);
  return v4 === undefined ? undefined : 0xffff00000000n | BigInt(v4);
}

function _parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

function _parseIpv6(text: string): bigint | undefined {
  let groups: string[];
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  let tailGroups: string[] = [];
  if (tail.includes(".")) {
    // Embedded IPv4 (::ffff:10.0.0.1) stands for the last two groups.
    const v4 = _parseIpv4(tail);
    if (v4 === undefined) return undefined;
    tailGroups = [(v4 >>> 16).toString(16), (v4 & 0xffff).toString(16)];
    text = text.slice(0, lastColon + 1) + "0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  let rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  if (tailGroups.length) {
    if (halves.length === 2) rest = [...rest.slice(0, -1), ...tailGroups];
    else head.splice(head.length - 1, 1, ...tailGroups);
  }
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups = [...head, ...Array(missing).fill("0"), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

/** A predicate matching any of `cidrs`; entries that do not parse match nothing (config validates them). */
export function compileCidrs(cidrs: readonly string[]): (address: string) => boolean {
  const ranges: { base: bigint; mask: bigint }[] = [];
  for (const cidr of cidrs) {
    const [text, bitsText] = cidr.split("/");
    const base = parseIp(text);
    if (base === undefined) continue;
    const isV4 = !text.includes(":");
    const bits = bitsText === undefined ? 128 : Number(bitsText) + (isV4 ? 96 : 0);
    const mask = bits >= 128 ? (1n << 128n) - 1n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
    ranges.push({ base: base & mask, mask });
  }
  if (ranges.length === 0) return () => false;
  return (address) => {
    const value = parseIp(address);
    return value !== undefined && ranges.some((range) => (value & range.mask) === range.base);
  };
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, so logs and X-Forwarded-For show what operators expect. */
export function displayIp(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
