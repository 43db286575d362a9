/**
 * Trackers (keepalived's `track_script`): a check run every interval whose result, smoothed by
 * rise and fall, lowers an instance's priority or sends it to Fault. A tracker starts passing,
 * as keepalived's scripts do, so a fresh node is not held back until its first checks finish.
 *
 * @module
 */
import type { Clock, RunCommand } from "../../ports.ts";

export interface TrackerOptions {
  clock: Clock;
  /** One check; resolves true when it passes. Must not reject. */
  check: () => Promise<boolean> | boolean;
  interval: number;
  rise: number;
  fall: number;
  /** Called when the smoothed result changes. */
  onChange(passing: boolean): void;
}

export interface Tracker {
  readonly passing: boolean;
  stop(): void;
}

export function startTracker(options: TrackerOptions): Tracker {
  const { clock, rise, fall } = options;
  let passing = true;
  let streak = 0;
  let stopped = false;
  let cancel: (() => void) | undefined;
  const run = async () => {
    const ok = await options.check();
    if (stopped) return;
    if (ok === passing) streak = 0;
    else if (++streak >= (passing ? fall : rise)) {
      passing = ok;
      streak = 0;
      options.onChange(passing);
    }
    cancel = clock.setTimer(run, options.interval);
  };
  cancel = clock.setTimer(run, 0);
  return {
    get passing() {
      return passing;
    },
    stop() {
      stopped = true;
      cancel?.();
    },
  };
}

/** A check that runs `argv` and passes on exit code 0. */
export function commandCheck(runCommand: RunCommand, argv: readonly string[], timeoutMs: number): () => Promise<boolean> {
  return async () => (await runCommand(argv, { timeoutMs })).code === 0;
}
