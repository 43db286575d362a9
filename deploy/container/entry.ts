/**
 * The container image's program: tandem on Bun, compiled to one binary, plus `healthcheck`.
 *
 * The image is built from scratch, so it has no shell, curl or wget for a HEALTHCHECK to call.
 * `healthcheck [URL]` asks the admin plane's `/healthz` and exits 0 on a 2xx answer, 1 otherwise
 * (within 3 s). Every other command line is tandem's own (`serve`, `check`, `schema`, `token`, `ctl`, `version`).
 *
 * ```sh
 * node_modules/.bin/bun build --compile deploy/container/entry.ts deploy/container/worker.ts --outfile tandem
 * ./tandem serve --config /etc/tandem/tandem.yaml
 * ./tandem healthcheck http://127.0.0.1:8404/healthz
 * ```
 * @module
 */

/** The admin plane's default address (core/config/schema.ts), as seen from inside the container. */
const DEFAULT_HEALTH_URL = "http://127.0.0.1:8404/healthz";
const HEALTH_TIMEOUT_MS = 3000;

if (Bun.argv[2] === "healthcheck") {
  process.exit(await _healthcheck(Bun.argv[3] ?? DEFAULT_HEALTH_URL));
} else {
  await import("../../runtimes/bun/main.ts");
}

async function _healthcheck(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    await response.body?.cancel();
    if (response.ok) return 0;
    console.error(`healthcheck: ${url} answered ${response.status}`);
  } catch (error) {
    console.error(`healthcheck: ${url}: ${(error as Error).message}`);
  }
  return 1;
}
