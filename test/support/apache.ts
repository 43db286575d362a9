/**
 * Debian's Apache httpd (`apache2`, package apache2) as a reference balancer for runtime tests:
 * it runs the caller's whole httpd.conf in the foreground (`apache2 -DFOREGROUND -f <conf>`), in a
 * temp ServerRoot of its own on a free loopback port, with no system service involved. The config
 * names its modules itself (LoadModule lines), so it runs only what it loads.
 *
 * @example
 * ```ts
 * const httpd = await startApache((port, serverRoot) => conf.replaceAll("@LISTEN@", String(port)).replaceAll("@SERVERROOT@", serverRoot));
 * await fetch(httpd.url);
 * await httpd.stop();
 * ```
 */
import { accessSync, constants } from "node:fs";
import { type ReferenceProcess, startWithConfig } from "./reference-process.ts";

const BINARY = "/usr/sbin/apache2";

/** Why httpd comparisons cannot run, or false when Debian's apache2 is installed. */
export function apacheSkipReason(): string | false {
  try {
    accessSync(BINARY, constants.X_OK);
    return false;
  } catch {
    return "apache2 is not installed (apt-get install apache2)";
  }
}

/** Starts httpd with `render(port, serverRoot)` as its config (see {@link startWithConfig}). */
export function startApache(render: (port: number, serverRoot: string) => string, timeoutMs = 10_000): Promise<ReferenceProcess> {
  return startWithConfig((configPath) => [BINARY, "-DFOREGROUND", "-f", configPath], render, timeoutMs);
}
