/**
 * The `limit` busiest of many keys without sorting them all: a rate table may hold millions of
 * keys, and the dashboard asks for its top 10 every 2 s from the thread that serves traffic. A
 * min-heap of `limit` entries keeps the selection at O(n log limit) and allocates only for keys
 * that enter it. Busier means a higher rate, then more in flight, then seen first: the order a
 * stable sort of the offers would give.
 *
 * @example
 * ```ts
 * const busiest = new Busiest(2);
 * busiest.offer("a", 1, 0); busiest.offer("b", 5, 0); busiest.offer("c", 3, 1);
 * busiest.sorted(); // [{ key: "b", rate: 5, inFlight: 0 }, { key: "c", rate: 3, inFlight: 1 }]
 * ```
 * @module
 */
/** A key's counts, as the admin API shows them. */
export interface RateKeyView {
  key: string;
  /** The sliding estimate of requests in the last `per`, this node's and its peers'. */
  rate: number;
  inFlight: number;
}

interface _Entry extends RateKeyView {
  order: number;
}

export class Busiest {
  readonly #limit: number;
  /** A min-heap: the least busy kept entry at the root, the first to give way. */
  readonly #heap: _Entry[] = [];
  #offers = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  offer(key: string, rate: number, inFlight: number): void {
    const order = this.#offers++;
    const heap = this.#heap;
    if (heap.length < this.#limit) {
      heap.push({ key, rate, inFlight, order });
      this.#up(heap.length - 1);
    } else if (heap.length > 0 && _busier(rate, inFlight, order, heap[0])) {
      heap[0] = { key, rate, inFlight, order };
      this.#down(0);
    }
  }

  /** The kept keys, busiest first. */
  sorted(): RateKeyView[] {
    return [...this.#heap]
      .sort((a, b) => (_busier(a.rate, a.inFlight, a.order, b) ? -1 : 1))
      .map(({ key, rate, inFlight }) => ({ key, rate, inFlight }));
  }

  #up(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!_lessBusy(heap[index], heap[parent])) return;
      [heap[index], heap[parent]] = [heap[parent], heap[index]];
      index = parent;
    }
  }

  #down(index: number): void {
    const heap = this.#heap;
    for (;;) {
      let least = index;
      for (const child of [2 * index + 1, 2 * index + 2]) {
        if (child < heap.length && _lessBusy(heap[child], heap[least])) least = child;
      }
      if (least === index) return;
      [heap[index], heap[least]] = [heap[least], heap[index]];
      index = least;
    }
  }
}

function _busier(rate: number, inFlight: number, order: number, than: _Entry): boolean {
  if (rate !== than.rate) return rate > than.rate;
  if (inFlight !== than.inFlight) return inFlight > than.inFlight;
  return order < than.order;
}

function _lessBusy(a: _Entry, b: _Entry): boolean {
  return _busier(b.rate, b.inFlight, b.order, a);
}
