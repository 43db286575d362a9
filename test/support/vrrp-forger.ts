/**
 * The attacker of the VRRP namespace test, run inside the client namespace: it captures one real
 * advertisement from the multicast group and says so; once the test has added the master's
 * address to the namespace's interface (a local source address would have made the kernel drop
 * the capture), it sends the target a replay of it, a forged, a wrong-VRID, a truncated, a
 * wrongly signed and a garbage datagram, all from the master's address, and prints what it sent.
 *
 * Usage: vrrp-forger.ts <own address> <master address (spoofed)> <target address>
 */
import { createSocket } from "node:dgram";
import { encodeAdvertisement, importVrrpKey } from "../../core/cluster/vrrp/packet.ts";

const [ownAddress, masterAddress, targetAddress] = process.argv.slice(-3);
const PORT = 5798;

const captured = await new Promise<Uint8Array>((resolve, reject) => {
  const listener = createSocket({ type: "udp4", reuseAddr: true });
  const timer = setTimeout(() => reject(new Error("no advertisement captured")), 10_000);
  listener.on("message", (data, from) => {
    if (from.address !== masterAddress) return;
    clearTimeout(timer);
    listener.close();
    resolve(new Uint8Array(data));
  });
  listener.bind(PORT, "0.0.0.0", () => listener.addMembership("224.0.0.18", ownAddress));
});

/** A copy with `change` applied and the VRRP checksum made right again, so only the MAC can tell. */
function edited(change: (bytes: Uint8Array) => void): Uint8Array {
  const bytes = captured.slice();
  change(bytes);
  const vrrpLength = 8 + 4 * bytes[3];
  bytes[6] = bytes[7] = 0;
  let sum = 0;
  for (let i = 0; i < vrrpLength; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const checksum = ~sum & 0xffff;
  bytes[6] = checksum >> 8;
  bytes[7] = checksum & 0xff;
  return bytes;
}

const wrongKey = await encodeAdvertisement(
  { vrid: captured[1], priority: 254, maxAdvertInterval: 100, addresses: [] },
  { sender: masterAddress, epoch: Date.now() + 1e9, counter: 1 },
  await importVrrpKey("not the key the nodes share"),
);
const datagrams: [string, Uint8Array][] = [
  ["replay", captured],
  ["forged", edited((bytes) => (bytes[2] = 255))],
  ["wrong-vrid", edited((bytes) => (bytes[1] = 99))],
  ["truncated", captured.slice(0, 20)],
  ["wrong-key", wrongKey],
  ["garbage", new Uint8Array(100)],
];
console.log(JSON.stringify({ event: "captured" }));
type Socket = ReturnType<typeof createSocket>;
let sender: Socket | undefined;
for (let attempt = 0; sender === undefined; attempt++) {
  if (attempt === 100) throw new Error(`${masterAddress} never became local`);
  const socket = createSocket("udp4");
  sender = await new Promise<Socket | undefined>((resolve) => {
    socket.once("error", () => (socket.close(), resolve(undefined)));
    socket.bind(0, masterAddress, () => resolve(socket));
  });
  if (sender === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
}
for (const [, bytes] of datagrams) {
  await new Promise<void>((resolve, reject) => sender!.send(bytes, PORT, targetAddress, (error) => (error ? reject(error) : resolve())));
}
sender!.close();
console.log(JSON.stringify({ event: "sent", kinds: datagrams.map(([kind]) => kind) }));
