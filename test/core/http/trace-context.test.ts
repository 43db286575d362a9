import { test } from "node:test";
import assert from "node:assert/strict";
import { newTraceparent, traceIdOf } from "../../../core/http/trace-context.ts";

const VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

test("traceIdOf reads a valid traceparent and refuses what the W3C spec calls invalid", () => {
  assert.equal(traceIdOf(VALID), "0af7651916cd43dd8448eb211c80319c");
  // A later version may carry more fields after the flags.
  assert.equal(traceIdOf(`01${VALID.slice(2)}-more`), "0af7651916cd43dd8448eb211c80319c");
  for (
    const invalid of [
      null,
      "",
      VALID.slice(0, 54),
      `${VALID}-more`, // version 00 is exactly 55 characters
      VALID.toUpperCase(),
      `ff${VALID.slice(2)}`,
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
      `01${VALID.slice(2)}x`,
    ]
  ) {
    assert.equal(traceIdOf(invalid), undefined, String(invalid));
  }
});

test("newTraceparent makes valid, sampled, distinct traceparents", () => {
  const made = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const traceparent = newTraceparent();
    assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(traceIdOf(traceparent), traceparent.slice(3, 35));
    made.add(traceparent.slice(3, 35));
  }
  assert.equal(made.size, 200);
});
