#!/usr/bin/env bash
# Runs the whole suite under Bun, then under Deno (the same test files), prints the counts per
# runtime with every skipped and failed test, and ends with one line:
#
#   N passed, N failed, N skipped
#
# summing both runners. Both count test cases the same way: the leaves, what test()/it() declare,
# read from each runner's JUnit report (bun test --reporter=junit, deno test --junit-path); a
# describe() is not a test (Deno reports it as a test with steps: only its leaf steps count). A
# skipped describe() is one skipped test on Deno and invisible to Bun (neither lists its tests).
# Neither runner reports skip reasons: each skipped test is listed with the lines its file printed
# as "<file>: skipped, <reason>" (test/support/tools.ts prints them).
# An error outside any test (a test file that throws on import, an uncaught error) counts as one
# failed test more. A runner that crashes, times out or writes no report counts as 1 failed; so
# does one that exits non-zero although it reported no failed test.
# Exit status is 1 when anything failed, else 0.
#
# Usage: bash test/run.sh [test files or directories, passed to both runners]
# Env:   TANDEM_TEST_TIMEOUT  seconds per runner before it is killed (default 900: a full run took
#        about 380 s per runner on the 2-core machine on 2026-12-05 with other work beside it, after
#        ACME, HTTP/2, rules and DNS tests came in; the slowest test alone up to 240 s)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
unset FORCE_COLOR

runner_timeout="${TANDEM_TEST_TIMEOUT:-900}"
logs="$(mktemp -d "${TMPDIR:-/tmp}/tandem-test-run.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

# Reads a runner's JUnit report and its console log (colour codes removed); prints "passed failed
# skipped" on the first line, then one line per skipped or failed test. Prints nothing when the
# report is missing or unreadable.
cat >"$logs/summarize.mjs" <<'EOF'
import { existsSync, readFileSync } from "node:fs";

const [runtime, junitPath, logPath] = process.argv.slice(2);
const log = existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n") : [];
// Bun writes no report when it ran no test (e.g. every describe() skipped); its summary says so.
const ranNone = runtime === "bun" && log.some((line) => /^Ran 0 tests across/.test(line));
if (!existsSync(junitPath) && !ranNone) process.exit(0);
const xml = existsSync(junitPath) ? readFileSync(junitPath, "utf8") : "<testsuites></testsuites>";
if (!/<testsuites\b/.test(xml) || !/<\/testsuites>/.test(xml)) process.exit(0);

const unescape = (text) =>
  text.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-f]+));/gi, (_, name, dec, hex) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) :
    ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[name]);
const attributes = (text) => Object.fromEntries([...text.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], unescape(m[2])]));
const clean = (path) => (path ?? "").replace(/^\.\//, "");

// Every <testcase>, with the names of the <testsuite>s around it and what it contains.
const cases = [];
const suites = [];
let current;
for (const m of xml.matchAll(/<(\/?)(testsuite|testcase|skipped|failure|error)\b((?:[^>"]|"[^"]*")*?)(\/?)>/g)) {
  const [, closing, tag, attrText, selfClosing] = m;
  if (tag === "testsuite") {
    if (closing) suites.pop();
    else if (!selfClosing) suites.push(attributes(attrText));
  } else if (tag === "testcase") {
    if (closing) current = undefined;
    else {
      current = { ...attributes(attrText), suites: suites.map((s) => s.name), status: "passed" };
      cases.push(current);
      if (selfClosing) current = undefined;
    }
  } else if (current && !closing) {
    current.status = tag === "skipped" ? (current.status === "failed" ? "failed" : "skipped") : "failed";
  }
}

let tests;
if (runtime === "bun") {
  // Bun: every testcase is a test; its describe()s are the <testsuite>s inside the file's.
  tests = cases.map((c) => ({ file: clean(c.file), name: [...c.suites.slice(1), c.name].join(" > "), status: c.status }));
} else {
  // Deno: top-level tests (describe()s included) sit in their file's suite; steps in one suite of
  // their own, named "describe > … > test". A testcase with steps is not a test.
  const parents = new Set();
  for (const c of cases) {
    const parts = c.name.split(" > ");
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" > "));
  }
  const topFiles = new Map();
  for (const c of cases) if (!/^ext:/.test(c.classname ?? "")) topFiles.set(c.name, clean(c.classname));
  const fileOf = (name) => {
    if (topFiles.has(name)) return topFiles.get(name);
    const parts = name.split(" > ");
    for (let i = parts.length - 1; i > 0; i--) {
      const top = parts.slice(0, i).join(" > ");
      if (topFiles.has(top)) return topFiles.get(top);
    }
    return "?";
  };
  tests = cases.filter((c) => !parents.has(c.name)).map((c) => ({ file: fileOf(c.name), name: c.name, status: c.status }));
}

const count = (status) => tests.filter((t) => t.status === status).length;
let passed = count("passed"), failed = count("failed"), skipped = count("skipped");
const details = [];

// Errors outside any test are not in the report.
if (runtime === "bun") {
  // Bun's own summary block: " N fail" counts them as well (and " N error" says how many).
  let fail, seen = false, consoleFail;
  for (const line of log) {
    if (line === "") { fail = undefined; seen = false; continue; }
    let m;
    if ((m = /^ *(\d+) fail$/.exec(line))) { fail = Number(m[1]); seen = true; }
    else if (/^ *\d+ (pass|skip|todo|error|expect\(\) calls)$/.test(line)) seen = true;
    else if (/^Ran \d+ tests? across/.test(line) && seen) consoleFail = fail ?? 0;
  }
  if (consoleFail !== undefined && consoleFail > failed) {
    details.push(`  failed: ${consoleFail - failed} error(s) outside any test (see "# Unhandled error" / "error:" above)`);
    failed = consoleFail;
  }
} else {
  // Deno lists them as "<file> (uncaught error)" under FAILURES (and under ERRORS with the error).
  let inFailures = false;
  for (const line of log) {
    if (/^\s*FAILURES\s*$/.test(line)) inFailures = true;
    else if (/^(ok|FAILED) \|/.test(line)) inFailures = false;
    else if (inFailures && /\(uncaught error\)\s*$/.test(line)) {
      failed++;
      details.push(`  failed: ${clean(line.trim())} (see ERRORS above)`);
    }
  }
}

// Skip reasons, as the test files printed them: "<file>[: <what>]: skipped, <reason>".
const reasons = new Map();
for (const line of log) {
  const m = /(?:^|\s|\/)([\w.-]+\.test\.ts)(?:: (.*?))?: skipped, (.*)$/.exec(line);
  if (!m) continue;
  const text = m[2] ? `${m[2]}: ${m[3]}` : m[3];
  const list = reasons.get(m[1]) ?? [];
  if (!list.includes(text)) list.push(text);
  reasons.set(m[1], list);
}
for (const t of tests) {
  if (t.status === "failed") details.push(`  failed: ${t.file} > ${t.name}`);
}
for (const t of tests) {
  if (t.status !== "skipped") continue;
  const why = reasons.get(t.file.split("/").pop());
  details.push(`  skipped: ${t.file} > ${t.name} - ${why ? why.join("; ") : "no reason printed (see its skip option)"}`);
}
// A reason no skipped test matches still shows: a skipped describe() (whose tests Bun leaves out
// of its report altogether) or a check skipped inside a passing test.
const skippedFiles = new Set(tests.filter((t) => t.status === "skipped").map((t) => t.file.split("/").pop()));
for (const [file, why] of reasons) {
  if (!skippedFiles.has(file)) details.push(`  skipped, no test counted: ${file} - ${why.join("; ")}`);
}
console.log(`${passed} ${failed} ${skipped}`);
for (const line of details) console.log(line);
EOF

if command -v node >/dev/null; then summarize=(node); else summarize=(node_modules/.bin/bun); fi

total_passed=0
total_failed=0
total_skipped=0
report=()

# run_runner NAME JUNIT COMMAND... : runs COMMAND (which writes its JUnit report to JUNIT) with a
# time limit, shows its output, adds its counts.
run_runner() {
  local name="$1" junit="$2"
  shift 2
  local log="$logs/$name.log" status summary counts passed failed skipped note="" details=()
  echo "=== $name: $* ==="
  rm -f "$junit"
  if [[ ! -x "$1" ]]; then
    echo "$name: $1 not found (run npm ci first)" | tee "$log"
    status=127
  elif command -v timeout >/dev/null; then
    # timeout puts the runner in its own process group and kills the whole group (incl. servers
    # the tests started) when the limit is reached.
    timeout --kill-after=15 "$runner_timeout" "$@" </dev/null 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
  else
    "$@" </dev/null 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
  fi

  sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\r$//' "$log" >"$log.clean"
  summary="$("${summarize[@]}" "$logs/summarize.mjs" "$name" "$junit" "$log.clean" 2>&1)"
  counts="$(head -n 1 <<<"$summary")"
  if [[ ! "$counts" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; then
    passed=0 failed=1 skipped=0
    if [[ $status -eq 124 || $status -eq 137 ]]; then
      note=" - timed out after ${runner_timeout}s, counted as 1 failed"
    else
      note=" - no test report (crashed?), counted as 1 failed"
    fi
    [[ -z "$summary" ]] || details+=("  (reading its report: $(head -n 3 <<<"$summary" | tr '\n' ' '))")
  else
    read -r passed failed skipped <<<"$counts"
    mapfile -t -s 1 details <<<"$summary"
    if [[ $status -eq 124 || $status -eq 137 ]] && [[ $failed -eq 0 ]]; then
      failed=1
      note=" - still running ${runner_timeout}s after its report (leaked process or handle?), counted as 1 failed"
    elif [[ $status -ne 0 && $failed -eq 0 ]]; then
      failed=1
      note=" - exited non-zero although no test failed (error outside a test?), counted as 1 failed"
    fi
  fi
  report+=("$name: $passed passed, $failed failed, $skipped skipped (exit $status)$note")
  [[ ${#details[@]} -eq 0 ]] || report+=("${details[@]}")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
  echo
}

if [[ $# -gt 0 ]]; then
  bun_args=("$@")
  deno_args=("$@")
else
  bun_args=()       # bunfig.toml: root = "./test"
  deno_args=(test/)
fi

# Integration tests start real processes (Tomcat takes seconds); Bun's default per-test limit is 5 s.
run_runner bun "$logs/bun.xml" node_modules/.bin/bun test --timeout 60000 --reporter=junit --reporter-outfile="$logs/bun.xml" "${bun_args[@]}"
run_runner deno "$logs/deno.xml" node_modules/.bin/deno test -A --junit-path="$logs/deno.xml" "${deno_args[@]}"

echo "=== test cases (test()/it(), counted the same way on both runtimes) ==="
printf '%s\n' "${report[@]}"
echo "both: $total_passed passed, $total_failed failed, $total_skipped skipped"
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[[ $total_failed -eq 0 ]]
