/**
 * UDP sockets on `node:dgram`, as the core's {@link BindDatagram} port (the VRRP agent's
 * transport), with multicast membership, outgoing interface and TTL. `node:dgram` needs no
 * `--unstable-net`, unlike `Deno.listenDatagram`, and has the multicast options.
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
import { createSocket } from "node:dgram";
import type { BindDatagram } from "../../core/ports.ts";

export const bindDatagram: BindDatagram = ({ hostname, port, multicast }, onMessage) =>
  new Promise((resolve, reject) => {
    const socket = createSocket(hostname.includes(":") ? "udp6" : "udp4");
    socket.on("message", (data, from) => onMessage(new Uint8Array(data.buffer, data.byteOffset, data.length), { address: from.address, port: from.port }));
    socket.once("error", reject);
    socket.bind(port, hostname, () => {
      socket.off("error", reject);
      // A send that fails later (ICMP unreachable, no route) is a lost datagram, as UDP allows.
      socket.on("error", () => {});
      try {
        if (multicast) {
          socket.addMembership(multicast.group, multicast.interfaceAddress);
          socket.setMulticastInterface(multicast.interfaceAddress);
          socket.setMulticastTTL(multicast.ttl);
          socket.setMulticastLoopback(true);
        }
      } catch (error) {
        socket.close();
        return reject(error);
      }
      let closed = false;
      resolve({
        port: socket.address().port,
        send(data, address, toPort) {
          // After close, like a datagram lost; node would throw ERR_SOCKET_DGRAM_NOT_RUNNING.
          if (closed) return true;
          try {
            socket.send(data, toPort, address);
            return true;
          } catch {
            return false;
          }
        },
        close() {
          if (closed) return;
          closed = true;
          socket.close();
        },
      });
    });
  });
