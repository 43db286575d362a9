/**
 * Two connections joined byte for byte: what a connection becomes after a protocol switch (a
 * WebSocket after the member's 101), when neither side speaks HTTP on it any more.
 *
 * @module
 */
import type { StreamConnection } from "../ports.ts";

/**
 * Relays until either side ends or fails, then closes both: a half-open tunnel would hold a
 * member's socket for a client that is gone. `toA` and `toB` go out first (bytes already read
 * from the other side before the switch).
 */
export async function joinConnections(a: StreamConnection, b: StreamConnection, toA: Uint8Array, toB: Uint8Array): Promise<void> {
  await Promise.race([_pump(b, a, toA), _pump(a, b, toB)]);
  a.close();
  b.close();
}

async function _pump(from: StreamConnection, to: StreamConnection, first: Uint8Array): Promise<void> {
  try {
    if (first.length > 0) await to.write(first);
    for (let chunk = await from.read(); chunk !== null; chunk = await from.read()) {
      const writing = to.write(chunk);
      if (writing) await writing;
    }
  } catch {
    // A reset on either side ends the tunnel like a close does.
  }
}
