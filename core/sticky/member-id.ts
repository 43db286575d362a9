/**
 * Opaque member ids for insert and prefix cookies: a client learns nothing about the farm (names,
 * addresses) from its cookie, and two balancers with the same config derive the same ids, so a
 * VRRP failover keeps every session where it was.
 *
 * @module
 */

/** FNV-1a 32-bit: tiny, deterministic, no async crypto on the hot path; not a secret. */
function _fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Ids for `members` of `pool`, unique within the pool: a member's configured `cookie` as it is,
 * else a derived one (a collision, with another derived id or a configured one, is salted away).
 */
export function memberIds(pool: string, members: readonly { name: string; cookie?: string }[]): Map<string, string> {
  const ids = new Map<string, string>();
  const taken = new Set(members.flatMap((member) => member.cookie === undefined ? [] : [member.cookie]));
  for (const member of members) {
    if (member.cookie !== undefined) {
      ids.set(member.name, member.cookie);
      continue;
    }
    let salt = 0;
    let id: string;
    do {
      id = _fnv1a(`${pool}\u0000${member.name}\u0000${salt++}`).toString(36);
    } while (taken.has(id));
    taken.add(id);
    ids.set(member.name, id);
  }
  return ids;
}
