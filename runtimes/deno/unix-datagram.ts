/**
 * A Unix datagram socket on Deno ({@link Platform.connectUnixDatagram}), for syslog's `/dev/log`:
 * `Deno.listenDatagram` with the `unixpacket` transport (a datagram socket, --unstable-net), bound
 * to a path of its own in a private temporary directory, since Deno sends only from a bound one.
 *
 * @module
 */
import type { Platform } from "../../core/platform.ts";

export const connectUnixDatagram: Platform["connectUnixDatagram"] = async (path) => {
  await Deno.stat(path).catch(() => {
    throw new Error(`nothing receives datagrams at ${path}`);
  });
  const directory = await Deno.makeTempDir({ prefix: "tandem-log-" });
  const socket = Deno.listenDatagram({ transport: "unixpacket", path: `${directory}/socket` });
  const target: Deno.UnixAddr = { transport: "unixpacket", path };
  let open = true;
  return {
    send(data) {
      if (!open) return false;
      // Deno sends asynchronously: a datagram refused later is lost, as one over UDP would be.
      socket.send(data, target).catch(() => {});
      return true;
    },
    close() {
      if (!open) return;
      open = false;
      socket.close();
      Deno.remove(directory, { recursive: true }).catch(() => {});
    },
  };
};
