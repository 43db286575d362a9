import type { Candidate, Strategy } from "./strategy.ts";
import { RoundRobin } from "./roundrobin.ts";

/**
 * Ring points per unit of weight. A member's share of the ring deviates by about 1/sqrt(points)
 * (one standard deviation): ketama's 160 left 4 equal members up to 28% off an even split in
 * trials over 300 member-name sets, 1000 keeps the worst under 10%. Lookups stay O(log points).
 */
const POINTS_PER_WEIGHT = 1000;
/**
 * Caps the ring at 8 MB of typed arrays when weights are large (HAProxy-style 1..256). Past the
 * cap every member's point count scales with the total weight, so a weight change there also
 * moves a proportional sliver of other members' keys.
 */
const MAX_POINTS = 1 << 20;

/**
 * 32-bit string hash: FNV-1a over UTF-16 code units, then murmur3's fmix32 finalizer.
 * FNV-1a is tiny and allocation-free, but keys that differ only in their last characters
 * (10.0.0.1 / 10.0.0.2, sequential session ids) land close together because the last multiply
 * barely reaches the high bits; the finalizer gives every input bit avalanche over all 32 bits,
 * which is what spreads such keys (and a member's "name-i" ring points) around the ring.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Consistent hashing with optional bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016).
 *
 * The ring is built from all members, not from the candidates of a call, so a member going
 * down moves only its own keys (to the next member clockwise) and they come back when it does.
 * Each member owns points named "name-0", "name-1", ... so changing one member's weight adds or
 * removes only that member's points.
 *
 * With a bound factor c > 0 a member whose in-flight count would exceed
 * ceil(c * (totalActive + 1) / candidates) is passed over and the walk continues clockwise,
 * which caps every member near c times the average while keeping most keys in place.
 *
 * Without a key (the configured hash source is missing from the request) there is nothing to be
 * consistent about, so requests are spread by smooth weighted round robin instead.
 */
export class ConsistentHash implements Strategy {
  readonly #boundedLoad: number;
  readonly #fallback = new RoundRobin();
  readonly #memberIndex = new Map<string, number>();
  #points = new Uint32Array(0);
  #owners = new Uint32Array(0);
  /**
   * Marks which members are candidates of the current call: a member is one when its stamp
   * equals the call's epoch. Float64 so the epoch cannot wrap (2^53 calls), and no per-call Set.
   */
  #stamp = new Float64Array(0);
  #present: Candidate[] = [];
  #epoch = 0;

  constructor(boundedLoad: number) {
    this.#boundedLoad = boundedLoad;
  }

  update(members: readonly { name: string; weight: number }[]): void {
    const totalWeight = members.reduce((sum, member) => sum + member.weight, 0);
    const perWeight = Math.min(POINTS_PER_WEIGHT, MAX_POINTS / Math.max(totalWeight, 1));
    const hashes: number[] = [];
    const owners: number[] = [];
    this.#memberIndex.clear();
    members.forEach((member, index) => {
      this.#memberIndex.set(member.name, index);
      const count = member.weight > 0 ? Math.max(1, Math.round(member.weight * perWeight)) : 0;
      for (let i = 0; i < count; i++) {
        hashes.push(hash32(`${member.name}-${i}`));
        owners.push(index);
      }
    });
    // Colliding points are ordered by name so the ring does not depend on the members' order.
    const order = hashes.map((_, i) => i).sort((a, b) =>
      hashes[a] - hashes[b] ||
      (members[owners[a]].name < members[owners[b]].name ? -1 : 1)
    );
    this.#points = Uint32Array.from(order, (i) => hashes[i]);
    this.#owners = Uint32Array.from(order, (i) => owners[i]);
    this.#stamp = new Float64Array(members.length);
    this.#present = new Array(members.length);
    this.#fallback.update(members);
  }

  select(candidates: readonly Candidate[], key?: string): Candidate {
    if (key === undefined) return this.#fallback.select(candidates);
    const epoch = ++this.#epoch;
    let totalActive = 0;
    for (const candidate of candidates) {
      const index = this.#memberIndex.get(candidate.name);
      if (index !== undefined) {
        this.#stamp[index] = epoch;
        this.#present[index] = candidate;
      }
      totalActive += candidate.active;
    }
    const limit = this.#boundedLoad > 0
      ? Math.ceil((this.#boundedLoad * (totalActive + 1)) / candidates.length)
      : Infinity;

    const points = this.#points;
    const n = points.length;
    let i = lowerBound(points, hash32(key));
    // Only reachable with a factor below 1, where every candidate can be over the bound.
    let firstOverLimit: Candidate | undefined;
    for (let step = 0; step < n; step++, i++) {
      if (i === n) i = 0;
      const owner = this.#owners[i];
      if (this.#stamp[owner] !== epoch) continue;
      const candidate = this.#present[owner];
      if (candidate.active + 1 <= limit) return candidate;
      firstOverLimit ??= candidate;
    }
    return firstOverLimit ?? this.#fallback.select(candidates);
  }
}

/** Index of the first point >= value, or points.length (wrap to 0) when there is none. */
function lowerBound(points: Uint32Array, value: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (points[mid] < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
