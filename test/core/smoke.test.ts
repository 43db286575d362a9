import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { Hono } from "hono";
test("npm deps resolve on this runner", () => {
  assert.equal(typeof v.object, "function");
  assert.equal(typeof Hono, "function");
});
