/**
 * Bun's side of {@link Platform.serveWeb}: `Bun.serve` with `http2` (ALPN h2 over TLS, prior
 * knowledge on plain TCP) and `http3` (QUIC on the same port number, over UDP; Bun advertises it
 * with `Alt-Svc` on its TCP answers itself). Bun's server tells neither which protocol a request
 * came over nor when it accepts a connection (tested on Bun 1.4.5), so requests carry no
 * `protocol` and the server no connection count.
 *
 * @module
 */
import type { Platform } from "../../core/platform.ts";
import type { ListenerTls } from "../../core/tls/certificate.ts";
import { tlsSecureOptions } from "./listen-connections.ts";

export const serveWeb: Platform["serveWeb"] = (hostname, port, handler, { tls, protocols, reusePort, idleTimeout }) => {
  const idleSeconds = Math.min(255, Math.max(1, Math.round(idleTimeout)));
  let server: Bun.Server<undefined>;
  try {
    server = Bun.serve({
      hostname,
      port,
      reusePort: reusePort || tls !== undefined,
      tls: tls && _sniCertificates(tls),
      http2: protocols.includes("h2"),
      http3: protocols.includes("h3"),
      // Bodies stream through; Bun's 128 MiB default would cut large uploads (tandem has no limit).
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      idleTimeout: idleSeconds,
      // Never Bun's error page with a stack trace (its default outside NODE_ENV=production).
      development: false,
      async fetch(request, server) {
        const address = server.requestIP(request);
        // Bun's idle timeout also runs while a request waits for its answer, which would cut an
        // HTTP/1.1 client whose member takes longer: off until the answer's head is there (the
        // pool's response timeout bounds that wait), then on again for the body and the next request.
        server.timeout(request, 0);
        const response = await handler(request, { address: address?.address ?? "", port: address?.port ?? 0 });
        server.timeout(request, idleSeconds);
        return response;
      },
    } as Bun.Serve.Options<undefined>);
  } catch (error) {
    return Promise.reject(error);
  }
  let stopped: Promise<void> | undefined;
  // Without closeActiveConnections Bun stops listening, sends GOAWAY on HTTP/2 connections and
  // resolves once the requests in flight are answered.
  const stop = () => (stopped ??= server.stop(false));
  return Promise.resolve({
    hostname: server.hostname ?? hostname,
    port: server.port ?? port,
    connections: undefined,
    stopAccepting: () => {
      void stop();
      return Promise.resolve();
    },
    shutdown: stop,
  });
};

/**
 * Bun picks the certificate by the ClientHello's name among entries with a `serverName` each, the
 * first entry serving clients that send none: one entry per name each certificate covers, in config
 * order, so the first certificate is the default as on the socket front end.
 */
function _sniCertificates({ certificates, minVersion }: ListenerTls) {
  const secureOptions = tlsSecureOptions(minVersion);
  const [first] = certificates;
  const entries = [{ serverName: first.leaf.dnsNames[0] ?? "default", cert: first.cert, key: first.key, secureOptions }];
  for (const pair of certificates) {
    for (const serverName of pair.leaf.dnsNames) entries.push({ serverName, cert: pair.cert, key: pair.key, secureOptions });
  }
  return entries;
}
