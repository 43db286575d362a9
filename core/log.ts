/**
 * The one way records become log lines: one JSON object per line, stamped with the Clock's time
 * (unless the record carries its own, as an access line carries its request's start) and, with
 * workers, with the worker that wrote it, since each of them logs its own reload, drain and stop.
 * Modules hand plain records (`{event, ...fields}`) to their LogSink and never build a time.
 *
 * @module
 */
import type { Platform } from "./platform.ts";
import type { Clock, LogSink } from "./ports.ts";

export function lineSink(clock: Clock, write: (line: string) => void, worker?: number): LogSink {
  const who = worker === undefined ? {} : { worker };
  return (record) => write(JSON.stringify({ time: new Date(clock.now()).toISOString(), ...record, ...who }));
}

/** The process's sink: lines on stdout. */
export function processLog(platform: Platform): LogSink {
  return lineSink(platform.clock, (line) => platform.stdout(line), platform.worker?.index);
}

export function logEvent(platform: Platform, event: string, fields: Record<string, unknown> = {}): void {
  processLog(platform)({ event, ...fields });
}
