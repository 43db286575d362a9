/**
 * One GET on a TLS connection of its own (so that, with `workers: N`, the kernel picks a worker for
 * it), verified against `ca` (unverified without one, for a caller that checks the serial itself): resolves with the serial of the certificate the server showed, in
 * node:tls's spelling (upper-case hex), once the whole 200 answer came.
 */
import tls from "node:tls";
import { parseRawResponse } from "./raw-http.ts";

export function tlsGetSerial(port: number, options: { ca?: Buffer | string; servername: string; path: string }): Promise<string> {
  const { ca, servername, path } = options;
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let serial = "";
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ...(ca === undefined ? { rejectUnauthorized: false } : { ca }) });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(serial);
    };
    const timer = setTimeout(() => finish(new Error(`${path}: no answer within 10 s`)), 10_000);
    socket.on("secureConnect", () => {
      serial = String(socket.getPeerCertificate().serialNumber ?? "").toUpperCase();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    // Bun sends no `Connection: close` back and may keep the connection: the whole answer ends it.
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const response = parseRawResponse(received);
      if (response) finish(response.status === 200 ? undefined : new Error(`${path}: status ${response.status}`));
    });
    socket.on("error", (error) => finish(error));
    socket.on("close", () => finish(new Error(`${path}: closed before a whole answer: ${JSON.stringify(received.toString().slice(0, 80))}`)));
  });
}
