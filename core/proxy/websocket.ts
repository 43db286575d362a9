/**
 * The member side of a proxied WebSocket, shared by the runtimes: open the upstream socket before
 * answering the client, so a refused member becomes a 502 instead of an accepted-then-dropped
 * client socket, and so the client is told the subprotocol the member actually chose.
 *
 * @module
 */

/** Opens `url` with the forwarded handshake headers; resolves once open, rejects if it fails. */
export function openUpstreamWebSocket(target: { url: string; headers: Headers; protocols: string[] }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // Bun and Deno both accept this non-standard options object (the headers carry cookies and
    // the forwarding fields the application relies on).
    const options = { headers: target.headers, protocols: target.protocols } as unknown as string[];
    const socket = new WebSocket(target.url, options);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      socket.onerror = null;
      resolve(socket);
    };
    socket.onerror = () => reject(new Error("connection failed"));
  });
}

/** Close codes a peer may not send on the wire (RFC 6455 §7.4.1); they are replaced by 1000. */
export function sendableCloseCode(code: number): number {
  return code === 1005 || code === 1006 || code === 1015 || code < 1000 || code >= 5000 ? 1000 : code;
}
