/**
 * This node's own changes, numbered from 1, kept until every peer could have them: one log shared
 * by all peers, each remembering how far it got. The log holds at most `capacity` updates; a peer
 * that falls further behind gets a full resync instead of an ever longer queue.
 *
 * @module
 */
import type { ReplicaRecord } from "./frames.ts";

export class SendLog {
  #records: (ReplicaRecord | undefined)[] = [];
  #head = 0;
  /** The oldest id still held (lastId + 1 when empty). */
  firstId = 1;
  lastId = 0;

  constructor(readonly capacity: number) {}

  /** Appends `record` and returns its id, dropping the oldest update beyond capacity. */
  push(record: ReplicaRecord): number {
    this.#records.push(record);
    this.lastId++;
    if (this.lastId - this.firstId + 1 > this.capacity) {
      this.#records[this.#head++] = undefined;
      this.firstId++;
      // Compact now and then: shifting an array of a hundred thousand on every push would cost more.
      if (this.#head >= this.capacity) {
        this.#records = this.#records.slice(this.#head);
        this.#head = 0;
      }
    }
    return this.lastId;
  }

  /** Whether every update after `id` is still held (a peer at `id` can resume). */
  holdsAfter(id: number): boolean {
    return id >= this.firstId - 1 && id <= this.lastId;
  }

  /** Up to `limit` updates after `id`; call only when holdsAfter(id). */
  after(id: number, limit: number): ReplicaRecord[] {
    const start = this.#head + (id + 1 - this.firstId);
    return this.#records.slice(start, Math.min(start + limit, this.#records.length)) as ReplicaRecord[];
  }
}
