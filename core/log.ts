/**
 * Event lines: one JSON object per line on stdout, `{time, event, worker?, ...fields}`. With
 * workers each of them logs its own reload, drain and stop, so the line says whose it is.
 *
 * @module
 */
import type { Platform } from "./platform.ts";

export function logEvent(platform: Platform, event: string, fields: Record<string, unknown> = {}): void {
  const worker = platform.worker === undefined ? {} : { worker: platform.worker.index };
  platform.stdout(JSON.stringify({ time: new Date(platform.clock.now()).toISOString(), event, ...worker, ...fields }));
}
