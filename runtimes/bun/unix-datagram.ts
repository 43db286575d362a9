/**
 * A Unix datagram socket on Bun ({@link Platform.connectUnixDatagram}), for syslog's `/dev/log`.
 * Bun has no API for one (`Bun.udpSocket` and `node:dgram` take UDP only, `Bun.connect({ unix })`
 * is a stream), so the socket comes from libc through `bun:ffi`: socket, connect, send, close.
 * Non-blocking: a datagram the receiver has no room for is dropped, as syslog over UDP would be,
 * rather than stalling requests behind a slow syslog daemon.
 *
 * @module
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import type { Platform } from "../../core/platform.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(struct sockaddr_un) on Linux: a 2-byte family and a 108-byte path. */
const SOCKADDR_UN_SIZE = 110;
const MAX_PATH = 107;

let _libc: ReturnType<typeof _openLibc> | undefined;

function _openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }).symbols;
}

export const connectUnixDatagram: Platform["connectUnixDatagram"] = (path) => {
  try {
    const libc = _libc ??= _openLibc();
    const name = new TextEncoder().encode(path);
    if (name.length > MAX_PATH) throw new Error(`socket path longer than ${MAX_PATH} bytes: ${path}`);
    const address = new Uint8Array(SOCKADDR_UN_SIZE);
    new DataView(address.buffer).setUint16(0, AF_UNIX, true);
    address.set(name, 2);
    const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("cannot create a Unix datagram socket");
    if (libc.connect(fd, ptr(address), SOCKADDR_UN_SIZE) !== 0) {
      libc.close(fd);
      throw new Error(`nothing receives datagrams at ${path}`);
    }
    let open = true;
    return Promise.resolve({
      send: (data: Uint8Array) => open && data.length > 0 && Number(libc.send(fd, ptr(data), data.length, 0)) === data.length,
      close() {
        if (!open) return;
        open = false;
        libc.close(fd);
      },
    });
  } catch (error) {
    return Promise.reject(error);
  }
};
