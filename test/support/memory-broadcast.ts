/**
 * BroadcastChannel semantics in memory, for core tests of what workers say to each other: every
 * other channel of the hub gets each message (a structured clone), in order, at once, or, while
 * `held`, when {@link MemoryBroadcastHub.release} is called (as other threads get them later).
 */
export class MemoryBroadcastHub<T> {
  readonly channels = new Set<MemoryBroadcastChannel<T>>();
  /** Deliveries waiting for {@link release}; undefined: at once. */
  held: (() => void)[] | undefined;

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const deliver of held) deliver();
  }

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
      const data = structuredClone(message);
      const deliver = () => {
        for (const listener of channel.#listeners) listener({ data } as MessageEvent<T>);
      };
      if (this.hub.held) this.hub.held.push(deliver);
      else deliver();
    }
  }

  addEventListener(_type: "message", listener: (event: MessageEvent<T>) => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    this.hub.channels.delete(this);
  }
}
