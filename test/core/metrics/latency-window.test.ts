import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyWindow } from "../../../core/metrics/latency-window.ts";

test("percentiles use nearest rank over the most recent samples only", () => {
  const window = new LatencyWindow(100);
  assert.equal(window.percentile(0.5), null);
  for (let ms = 1; ms <= 100; ms++) window.record(ms);
  assert.equal(window.percentile(0.5), 50);
  assert.equal(window.percentile(0.99), 99);
  assert.equal(window.percentile(1), 100);
  for (let i = 0; i < 100; i++) window.record(1000);
  assert.equal(window.percentile(0.5), 1000, "old samples fell out of the ring");
});
