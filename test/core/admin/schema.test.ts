import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { AdminSchema } from "../../../core/admin/schema.ts";

test("admin config: defaults", () => {
  assert.deepEqual(v.parse(AdminSchema, {}), { address: "127.0.0.1:8404", auth: { audience: "tandem-admin", maxTokenLifetime: 86_400_000, maxReadTokenLifetime: 30 * 86_400_000 }, publicMetrics: false });
  const full = { address: "[::1]:9000", auth: { secret: "s".repeat(32), jwksFile: "/etc/tandem/jwks.json", audience: "ops", maxTokenLifetime: 3_600_000, maxReadTokenLifetime: 7_200_000 }, publicMetrics: true };
  assert.deepEqual(v.parse(AdminSchema, full), full);
});

test("admin config: a short secret, a bad address, an empty audience and unknown keys are refused", () => {
  const problems = (input: unknown) =>
    v.safeParse(AdminSchema, input).issues?.map((issue) => `${issue.path?.map((p) => p.key).join(".")}: ${issue.message}`);
  assert.deepEqual(problems({ auth: { secret: "too short" } }), ["auth.secret: a secret of at least 32 characters"]);
  assert.match(problems({ address: "127.0.0.1:70000" })![0], /^address: an address "host:port"/);
  assert.deepEqual(problems({ auth: { audience: "" } }), ["auth.audience: a non-empty string"]);
  assert.equal(problems({ auth: { secrets: "x" } })![0].startsWith("auth.secrets: "), true);
  assert.equal(problems({ publicmetrics: true })![0].startsWith("publicmetrics: "), true);
});
