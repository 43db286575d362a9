import { test } from "node:test";
import assert from "node:assert/strict";
import { covers, renewalTime, retryDelay } from "../../../core/acme/renewal.ts";

const DAY = 24 * 60 * 60 * 1000;
const ninetyDays = { notBefore: 0, notAfter: 90 * DAY };

test("by default a renewal starts with a third of the lifetime left, up to 5 % of it earlier by the draw", () => {
  assert.equal(renewalTime(ninetyDays, { random: () => 0 }), 60 * DAY);
  assert.equal(renewalTime(ninetyDays, { random: () => 0.5 }), 60 * DAY - 2.25 * DAY);
  const earliest = renewalTime(ninetyDays, { random: () => 0.999999 });
  assert.ok(earliest > 55.5 * DAY && earliest < 60 * DAY, `${earliest / DAY} days`);
});

test("renewBefore replaces the third; a short-lived certificate keeps the same shares", () => {
  assert.equal(renewalTime(ninetyDays, { renewBefore: 7 * DAY, random: () => 0 }), 83 * DAY);
  const sixMinutes = { notBefore: 1000, notAfter: 1000 + 6 * 60_000 };
  assert.equal(renewalTime(sixMinutes, { random: () => 0 }), 1000 + 4 * 60_000);
});

test("the CA's ARI window wins, the draw placing the renewal inside it", () => {
  const window = { start: 10 * DAY, end: 12 * DAY };
  assert.equal(renewalTime(ninetyDays, { random: () => 0 }, window), 10 * DAY);
  assert.equal(renewalTime(ninetyDays, { random: () => 0.5 }, window), 11 * DAY);
  assert.equal(renewalTime(ninetyDays, { renewBefore: DAY, random: () => 0.5 }, window), 11 * DAY, "over renewBefore too");
  assert.equal(renewalTime(ninetyDays, { random: () => 0 }, { start: 5, end: 5 }), 60 * DAY, "an empty window is no window");
});

test("failures wait twice as long each time, up to the cap, never less than the CA's Retry-After", () => {
  const backoff = { min: 60_000, max: 3_600_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((failures) => retryDelay(failures, backoff)), [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]);
  assert.equal(retryDelay(1000, backoff), 3_600_000, "no overflow after many failures");
  assert.equal(retryDelay(1, backoff, 7_200_000), 7_200_000, "a rate limit's Retry-After beyond the cap");
  assert.equal(retryDelay(3, backoff, 1000), 240_000);
});

test("a certificate covers the config while it lasts and names every domain", () => {
  const certificate = { notBefore: 0, notAfter: 100, dnsNames: ["a.test", "b.test"] };
  assert.equal(covers(certificate, ["a.test", "b.test"], 50), true);
  assert.equal(covers(certificate, ["a.test"], 50), true);
  assert.equal(covers(certificate, ["a.test", "c.test"], 50), false, "a domain added to the config");
  assert.equal(covers(certificate, ["a.test"], 100), false, "expired");
});
