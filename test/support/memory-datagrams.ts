/**
 * An in-memory UDP segment for the VRRP agent's tests: nodes are addresses, sockets bind a port
 * on a node, multicast reaches every socket bound to the port (the sender's own too, as Linux
 * loops multicast back by default), and a `blocked` predicate models partitions and loss.
 * Delivery is asynchronous (a microtask), like a real socket's.
 */
import type { BindDatagram, DatagramOptions, RemoteAddress } from "../../core/ports.ts";

interface BoundSocket {
  node: string;
  options: DatagramOptions;
  onMessage: (data: Uint8Array, from: RemoteAddress) => void;
  closed: boolean;
}

export class MemoryDatagramNetwork {
  #sockets: BoundSocket[] = [];
  /** Return true to lose a datagram from `from` to `to` (node addresses). */
  blocked: (from: string, to: string) => boolean = () => false;
  /** Addresses whose datagrams are refused at the send, as Bun does for a dead unicast peer. */
  readonly refusing = new Set<string>();
  /** Every datagram sent, for replay by tests. */
  readonly sent: { from: string; to: string; data: Uint8Array }[] = [];

  /** The BindDatagram port of the node with address `node`. */
  bindFor(node: string): BindDatagram {
    return (options, onMessage) => {
      const socket: BoundSocket = { node, options, onMessage, closed: false };
      this.#sockets.push(socket);
      return Promise.resolve({
        port: options.port,
        send: (data, address, port) => {
          if (socket.closed) return true;
          // A node that is gone answers with ICMP port unreachable: Bun reports it on a later send.
          if (this.refusing.has(address)) return false;
          this.sent.push({ from: node, to: address, data: data.slice() });
          this.inject(data, { address: node, port: options.port }, address, port);
          return true;
        },
        close: () => {
          socket.closed = true;
        },
      });
    };
  }

  /** Delivers `data` as if sent from `from` to `to`:`port` (forged packets from tests). */
  inject(data: Uint8Array, from: RemoteAddress, to: string, port: number): void {
    const copy = data.slice();
    for (const socket of this.#sockets) {
      if (socket.closed || socket.options.port !== port) continue;
      const reaches = socket.options.multicast?.group === to || socket.node === to;
      if (!reaches || this.blocked(from.address, socket.node)) continue;
      queueMicrotask(() => {
        if (!socket.closed) socket.onMessage(copy, from);
      });
    }
  }
}
