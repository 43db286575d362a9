/**
 * UDP sockets on `Bun.udpSocket`, as the core's {@link BindDatagram} port (the VRRP agent's
 * transport), with multicast membership, outgoing interface and TTL.
 *
 * Multicast loopback stays on: other sockets on this host joined to the group receive what this
 * one sends (two agents on one machine, tests), so the agent must recognise its own adverts.
 *
 * @example
 * ```ts
 * const socket = await bindDatagram({ hostname: "0.0.0.0", port: 0 }, (data, from) => console.log(data, from));
 * socket.send(new Uint8Array([1]), "127.0.0.1", 9999);
 * ```
 *
 * @module
 */
import type { BindDatagram } from "../../core/ports.ts";

export const bindDatagram: BindDatagram = async ({ hostname, port, multicast }, onMessage) => {
  const socket = await Bun.udpSocket({
    hostname,
    port,
    binaryType: "uint8array",
    socket: {
      data: (_socket, data, fromPort, address) => onMessage(data, { address, port: fromPort }),
      // A send that fails later (ICMP unreachable, no route) is a lost datagram, as UDP allows.
      error: () => {},
    },
  });
  if (multicast) {
    try {
      _check(socket.addMembership(multicast.group, multicast.interfaceAddress), `join multicast group ${multicast.group} on ${multicast.interfaceAddress}`);
      _check(socket.setMulticastInterface(multicast.interfaceAddress), `send multicast out of ${multicast.interfaceAddress}`);
      socket.setMulticastTTL(multicast.ttl);
      socket.setMulticastLoopback(true);
    } catch (error) {
      socket.close();
      throw error;
    }
  }
  return {
    port: socket.port,
    send(data, address, toPort) {
      // After close, like a datagram lost.
      if (socket.closed) return true;
      try {
        socket.send(data, toPort, address);
        return true;
      } catch {
        // ECONNREFUSED: an earlier datagram, to whichever peer, found no listener (ICMP port
        // unreachable); Linux reports it on the socket's next send, which it then drops. That
        // earlier one is lost; this one, maybe to a live peer, goes out again once.
        try {
          socket.send(data, toPort, address);
        } catch {
          // Another report of the same kind: this datagram is lost as well.
        }
        return false;
      }
    },
    close: () => socket.close(),
  };
};

function _check(done: boolean, what: string): void {
  if (!done) throw new Error(`cannot ${what}`);
}
