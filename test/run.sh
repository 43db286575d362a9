#!/usr/bin/env bash
# Runs the whole suite under Bun, then under Deno (the same test files), and ends with one line:
#
#   N passed, N failed, N skipped
#
# summing both runners. Deno counts each top-level test once (steps, e.g. describe/it children,
# are not counted); Bun counts every test. A runner that crashes, times out or prints no summary
# counts as 1 failed; so does one that exits non-zero although it reported no failed test.
# Exit status is 1 when anything failed, else 0.
#
# Usage: bash test/run.sh [test files or directories, passed to both runners]
# Env:   TANDEM_TEST_TIMEOUT  seconds per runner before it is killed (default 420)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
unset FORCE_COLOR

runner_timeout="${TANDEM_TEST_TIMEOUT:-420}"
logs="$(mktemp -d "${TMPDIR:-/tmp}/tandem-test-run.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

total_passed=0
total_failed=0
total_skipped=0
report=()

# run_runner NAME PARSER COMMAND... : runs COMMAND with a time limit, shows its output, adds its counts.
run_runner() {
  local name="$1" parser="$2"
  shift 2
  local log="$logs/$name.log" status counts passed failed skipped note=""
  echo "=== $name: $* ==="
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

  counts="$(sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\r$//' "$log" | "$parser")"
  if [[ -z "$counts" ]]; then
    passed=0 failed=1 skipped=0
    if [[ $status -eq 124 || $status -eq 137 ]]; then
      note=" - timed out after ${runner_timeout}s, counted as 1 failed"
    else
      note=" - no summary (crashed?), counted as 1 failed"
    fi
  else
    read -r passed failed skipped <<<"$counts"
    if [[ $status -eq 124 || $status -eq 137 ]] && [[ $failed -eq 0 ]]; then
      failed=1
      note=" - still running ${runner_timeout}s after its summary (leaked process or handle?), counted as 1 failed"
    elif [[ $status -ne 0 && $failed -eq 0 ]]; then
      failed=1
      note=" - exited non-zero although no test failed (error outside a test?), counted as 1 failed"
    fi
  fi
  report+=("$name: $passed passed, $failed failed, $skipped skipped (exit $status)$note")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
  echo
}

# Bun's summary is the block of " N pass" / " N skip" / " N todo" / " N fail" lines right before
# "Ran N tests across M files."; only that block counts, not look-alike lines a test printed.
parse_bun() {
  awk '
    /^$/ { p = 0; f = 0; s = 0; seen = 0; next }
    /^ *[0-9]+ pass$/ { p = $1; seen = 1; next }
    /^ *[0-9]+ fail$/ { f = $1; seen = 1; next }
    /^ *[0-9]+ (skip|todo)$/ { s += $1; seen = 1; next }
    /^Ran [0-9]+ tests? across/ { if (seen) { out = p " " f " " s } }
    END { if (out != "") print out }
  '
}

parse_deno() {
  # "ok | 18 passed (74 steps) | 1 failed (2 steps) | 1 ignored": Deno counts a describe() as one
  # test and its tests as steps; adding both keeps the total close to what bun test counts.
  awk '
    /^(ok|FAILED) \| [0-9]+ passed/ {
      p = 0; f = 0; s = 0
      n = split($0, parts, "|")
      for (i = 2; i <= n; i++) {
        count = split(parts[i], words, " ")
        steps = 0
        if (count >= 3 && words[3] ~ /^\([0-9]+$/) steps = substr(words[3], 2) + 0
        if (words[2] == "passed") p = words[1] + steps
        else if (words[2] == "failed") f = words[1] + steps
        else if (words[2] == "ignored") s = words[1] + steps
      }
      out = p " " f " " s
    }
    END { if (out != "") print out }
  '
}

if [[ $# -gt 0 ]]; then
  bun_args=("$@")
  deno_args=("$@")
else
  bun_args=()       # bunfig.toml: root = "./test"
  deno_args=(test/)
fi

# Integration tests start real processes (Tomcat takes seconds); Bun's default per-test limit is 5 s.
run_runner bun parse_bun node_modules/.bin/bun test --timeout 60000 "${bun_args[@]}"
run_runner deno parse_deno node_modules/.bin/deno test -A "${deno_args[@]}"

printf '%s\n' "${report[@]}"
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[[ $total_failed -eq 0 ]]
