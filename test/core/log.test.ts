import { test } from "node:test";
import assert from "node:assert/strict";
import { lineSink } from "../../core/log.ts";
import { FakeClock } from "../support/fake-clock.ts";

test("a record becomes one JSON line stamped with the clock's time, a record's own time kept, the worker added", () => {
  const lines: string[] = [];
  const clock = new FakeClock(Date.UTC(2026, 11, 5, 3, 0, 0));
  const log = lineSink(clock, (line) => lines.push(line), 2);
  log({ event: "reloaded", reloads: 1 });
  clock.advance(1500);
  log({ time: "2026-12-05T02:59:59.000Z", client: "10.0.0.1", status: 200 });
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    { time: "2026-12-05T03:00:00.000Z", event: "reloaded", reloads: 1, worker: 2 },
    { time: "2026-12-05T02:59:59.000Z", client: "10.0.0.1", status: 200, worker: 2 },
  ]);
  const single: string[] = [];
  lineSink(clock, (line) => single.push(line))({ event: "x" });
  assert.deepEqual(JSON.parse(single[0]), { time: "2026-12-05T03:00:01.500Z", event: "x" });
});
