/**
 * Health detection benchmark: `bun test/bench/health.ts [--rounds=10]` (tandem on Bun) or
 * `deno run -A --unstable-net test/bench/health.ts [--rounds=10]` (tandem on Deno).
 *
 * The figures test/runtimes/health.test.ts used to bound and now only prints, over several rounds
 * on one tandem process in front of two node:http members on loopback; each is measured from the
 * moment the member changed to the `time` of tandem's `health` line:
 *
 * - active checks (interval 200 ms, fall 2, rise 2, timeout 150 ms): DOWN after /health answers
 *   503, UP after it answers 200 again, DOWN after it stops answering;
 * - passive ejection (errorLimit 3, backoff 500 ms): DOWN after the member starts answering 500
 *   to traffic, and the re-admission after the backoff.
 *
 * The window each figure should fall in is printed beside it: with checks every `interval`
 * (±10 % jitter), `fall` failures take between (fall − 1) and fall intervals after the change,
 * plus `fall` check timeouts when the member stops answering (the next check waits for the last).
 * Prints a markdown table; run it on an otherwise idle machine.
 *
 * @module
 */
import { type SwitchableBackend, startSwitchableBackend } from "../support/backends.ts";
import { runtime, startTandem, type TandemProcess } from "../support/tandem.ts";
import { sleep } from "../support/waiting.ts";
import { formatNumber, median } from "./report.ts";

const ROUNDS = Number(process.argv.find((arg) => arg.startsWith("--rounds="))?.split("=")[1] ?? 10);
const INTERVAL = 200;
const FALL = 2;
const RISE = 2;
const CHECK_TIMEOUT = 150;
const ERROR_LIMIT = 3;
const BACKOFF = 500;

type Line = Record<string, unknown>;

/** Milliseconds from `since` to the next `health` line about `member` going `up`/down. */
async function transition(tandem: TandemProcess, member: string, up: boolean, since: number, change: () => void): Promise<number> {
  const from = tandem.lines.length;
  change();
  const line = await tandem.waitForLine((l) => l.event === "health" && l.member === member && l.up === up && tandem.lines.indexOf(l) >= from, 30_000);
  return _lineTime(line) - since;
}

const _lineTime = (line: Line) => Date.parse(String(line.time));

async function activeRounds(): Promise<Record<string, number[]>> {
  const [a, b] = [await startSwitchableBackend("a"), await startSwitchableBackend("b")];
  const tandem = await startTandem({
    listeners: [{ address: "127.0.0.1:0" }],
    accessLog: false,
    pools: {
      app: {
        health: { check: { path: "/health", interval: `${INTERVAL}ms`, rise: RISE, fall: FALL, timeout: `${CHECK_TIMEOUT}ms` } },
        members: [a, b].map(({ backend }) => ({ name: backend.name, url: backend.url })),
      },
    },
  });
  const figures: Record<string, number[]> = { down503: [], up: [], downHang: [] };
  try {
    const set = (health: SwitchableBackend["state"]["health"]) => () => void (b.state.health = health);
    // A transition happens at a check: changing the member right after it would always land just
    // after a check. A random pause first puts the change anywhere in the interval, as in life.
    const at = async () => (await sleep(Math.random() * INTERVAL), Date.now());
    for (let round = 0; round < ROUNDS; round++) {
      figures.down503.push(await transition(tandem, "b", false, await at(), set("503")));
      figures.up.push(await transition(tandem, "b", true, await at(), set("ok")));
      figures.downHang.push(await transition(tandem, "b", false, await at(), set("hang")));
      await transition(tandem, "b", true, await at(), set("ok"));
    }
  } finally {
    await tandem.stop();
    await Promise.all([a, b].map(({ backend }) => backend.close()));
  }
  return figures;
}

async function passiveRounds(): Promise<Record<string, number[]>> {
  const [a, c] = [await startSwitchableBackend("a"), await startSwitchableBackend("c")];
  const figures: Record<string, number[]> = { ejected: [], readmitted: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // A fresh process each round: the backoff doubles with every ejection of a member.
    const tandem = await startTandem({
      listeners: [{ address: "127.0.0.1:0" }],
      accessLog: false,
      pools: {
        app: {
          health: { passive: { errorLimit: ERROR_LIMIT, backoff: `${BACKOFF}ms` } },
          members: [a, c].map(({ backend }) => ({ name: backend.name, url: backend.url })),
        },
      },
    });
    try {
      const from = tandem.lines.length;
      const broke = Date.now();
      c.state.status = 500;
      for (let i = 0; i < 4 * ERROR_LIMIT; i++) await (await fetch(tandem.url)).arrayBuffer();
      const down = await tandem.waitForLine((l) => l.event === "health" && l.member === "c" && l.up === false && tandem.lines.indexOf(l) >= from, 30_000);
      const up = await tandem.waitForLine((l) => l.event === "health" && l.member === "c" && l.up === true && tandem.lines.indexOf(l) >= from, 30_000);
      figures.ejected.push(_lineTime(down) - broke);
      figures.readmitted.push(_lineTime(up) - _lineTime(down));
    } finally {
      c.state.status = 200;
      await tandem.stop();
    }
  }
  await Promise.all([a, c].map(({ backend }) => backend.close()));
  return figures;
}

/** One table line: the figure's median, p90 and maximum over the rounds, beside its expected window. */
function _line(label: string, values: number[], window: string): string {
  const sorted = [...values].sort((x, y) => x - y);
  const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
  return `| ${label} | ${window} | ${[median(values)!, p90, sorted[sorted.length - 1]].map((value) => formatNumber(value)).join(" | ")} |`;
}

const active = await activeRounds();
const passive = await passiveRounds();
const window = (from: number, to: number) => `${formatNumber(from)}-${formatNumber(to)}`;
console.log([
  `### Health detection, tandem on ${runtime}, ${ROUNDS} rounds (ms)`,
  "",
  `Loopback, one tandem process, node:http members. Active: check interval ${INTERVAL} ms (±10 %), fall ${FALL}, rise ${RISE}, ` +
  `timeout ${CHECK_TIMEOUT} ms. Passive: errorLimit ${ERROR_LIMIT}, backoff ${BACKOFF} ms, a fresh process per round. ` +
  "From the change on the member to the time of tandem's health line.",
  "",
  "| transition | from the config | median | p90 | max |",
  "|---|---|---:|---:|---:|",
  _line("DOWN after /health → 503", active.down503, window((FALL - 1) * INTERVAL * 0.9, FALL * INTERVAL * 1.1)),
  _line("UP after /health → 200", active.up, window((RISE - 1) * INTERVAL * 0.9, RISE * INTERVAL * 1.1)),
  _line("DOWN after /health hangs", active.downHang, window((FALL - 1) * INTERVAL * 0.9 + FALL * CHECK_TIMEOUT, FALL * (INTERVAL * 1.1 + CHECK_TIMEOUT))),
  _line(`DOWN after ${ERROR_LIMIT} errors of traffic, sent back to back`, passive.ejected, "the 3 requests"),
  _line("re-admitted after the ejection", passive.readmitted, `${BACKOFF}`),
].join("\n"));
