/**
 * The real clock, from web-standard timers: what every runtime (and edge platform) passes as the
 * Clock port. Tests pass a fake one instead.
 *
 * @module
 */
import type { Clock } from "./ports.ts";

export const systemClock: Clock = {
  // Wall-clock based, not process-relative: insert cookies carry times that another balancer
  // (or this one after a restart) must read the same way.
  now: () => performance.timeOrigin + performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
