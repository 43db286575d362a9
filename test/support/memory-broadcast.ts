/**
 * BroadcastChannel semantics in memory, for core tests of what workers say to each other: every
 * other channel of the hub gets each message (a structured clone), in order, at once.
 */
export class MemoryBroadcastHub<T> {
  readonly channels = new Set<MemoryBroadcastChannel<T>>();

  open(): MemoryBroadcastChannel<T> {
    const channel = new MemoryBroadcastChannel(this);
    this.channels.add(channel);
    return channel;
  }
}

export class MemoryBroadcastChannel<T> {
  readonly #listeners: ((event: MessageEvent<T>) => void)[] = [];
  /** Messages this channel sent. */
  sent = 0;

  constructor(readonly hub: MemoryBroadcastHub<T>) {}

  postMessage(message: T): void {
    this.sent++;
    for (const channel of this.hub.channels) {
      if (channel === this) continue;
      for (const listener of channel.#listeners) listener({ data: structuredClone(message) } as MessageEvent<T>);
    }
  }

  addEventListener(_type: "message", listener: (event: MessageEvent<T>) => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    this.hub.channels.delete(this);
  }
}
