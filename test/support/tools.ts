/**
 * Skips for tests that need something this machine lacks (a Debian package, root): locally such a
 * test is skipped with the reason, printed once as `<file>: skipped, <reason>` (test/run.sh lists it
 * next to the skipped tests, since neither runner shows a skip reason); under `CI=true` a missing
 * tool fails the test file instead, so a package missing from .ci/run's APT_PACKAGES cannot turn
 * tests into quiet skips.
 *
 * @example
 * ```ts
 * const skip = requireTool("deploy.test.ts", existsSync("/usr/bin/systemd-analyze") ? false : "systemd-analyze is not installed (Debian package systemd)");
 * test("units pass systemd-analyze verify", { skip }, async () => { ... });
 * ```
 */

/** True when running under CI (`CI=true`, as .ci/run sets it). */
export const inCi = process.env.CI === "true";

/**
 * `reason` as a `{ skip }` value: false when nothing is missing; else, locally, the reason (printed
 * with `what`, e.g. the test file's name); under CI=true it throws, failing the test file.
 */
export function requireTool(what: string, reason: string | false | undefined): string | false {
  if (!reason) return false;
  if (inCi) throw new Error(`${what}: ${reason} - under CI=true a missing tool fails instead of skipping (add its package to .ci/run)`);
  return printedSkip(what, reason);
}

/**
 * `reason` as a `{ skip }` value, printed with `what` when there is one: for what a runtime cannot
 * do, which no package installs, so it skips under CI=true as well (README Runtime support says so).
 */
export function printedSkip(what: string, reason: string | false | undefined): string | false {
  if (!reason) return false;
  console.warn(`${what}: skipped, ${reason}`);
  return reason;
}
