/**
 * The real clock, from web-standard timers: what every runtime (and edge platform) passes as the
 * Clock port. Tests pass a fake one instead.
 *
 * @module
 */
import type { Clock } from "./ports.ts";

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
