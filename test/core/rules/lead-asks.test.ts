/** A worker's questions to worker 0: settled by the answer, or let through after the timeout or at close. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LeadAsks } from "../../../core/rules/lead-asks.ts";
import { FakeClock } from "../../support/fake-clock.ts";

test("an answer settles its question once; a late or unknown answer changes nothing", () => {
  const clock = new FakeClock();
  const asks = new LeadAsks<string>(clock, 1_000);
  const sent: number[] = [];
  const settled: string[] = [];
  asks.ask((id) => sent.push(id), (answer) => settled.push(answer), () => "through");
  assert.equal(sent.length, 1);
  asks.answer(sent[0], "granted");
  asks.answer(sent[0], "again");
  asks.answer(sent[0] + 1, "to nobody");
  assert.deepEqual(settled, ["granted"]);
  clock.advance(1_000);
  assert.deepEqual(settled, ["granted"], "an answered question is not let through as well");
});

test("unanswered questions are let through in the order asked, each at its own timeout, on one timer", () => {
  const clock = new FakeClock();
  const asks = new LeadAsks<number>(clock, 1_000);
  const settled: [string, number][] = [];
  for (const name of ["a", "b", "c"]) {
    asks.ask(() => {}, (until) => settled.push([name, until]), (until) => until);
    clock.advance(100);
  }
  assert.equal(clock.pending, 1);
  clock.advance(699);
  assert.deepEqual(settled, [], "none due before its timeout");
  clock.advance(1);
  assert.deepEqual(settled, [["a", 2_000]]);
  clock.advance(200);
  assert.deepEqual(settled, [["a", 2_000], ["b", 2_100], ["c", 2_200]]);
  assert.equal(clock.pending, 0);
});

test("close lets every waiting question through for good and stops the timer", () => {
  const clock = new FakeClock();
  const asks = new LeadAsks<number>(clock, 1_000);
  const settled: number[] = [];
  asks.ask(() => {}, (until) => settled.push(until), (until) => until);
  asks.ask(() => {}, (until) => settled.push(until), (until) => until);
  asks.close();
  assert.deepEqual(settled, [Infinity, Infinity]);
  assert.equal(clock.pending, 0);
});
