#!/usr/bin/env bash
# First throughput figures: wrk straight at a backend, then through tandem on Bun and on Deno,
# in one run on one machine. Needs wrk (Debian: apt-get install wrk). Loopback only, bounded
# by DURATION. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DURATION="${DURATION:-10s}" CONNECTIONS="${CONNECTIONS:-50}" THREADS="${THREADS:-2}"
BUN=node_modules/.bin/bun DENO=node_modules/.bin/deno
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/" >/dev/null && return 0; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }

backend_port=$(free_port)
$BUN run deploy/bench/backend.ts "$backend_port" >/dev/null & pids+=($!)
wait_port "$backend_port"

measure() { # name url pid
  local out rps latency rss=""
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$2" >/dev/null # warm-up (JIT, pooled connections)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2")
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  latency=$(awk '/ 99%/ {print $2}' <<<"$out")
  [[ -n "${3:-}" ]] && rss="$(awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$3/status")"
  local errors; errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$rps" "$latency" "${rss:-n/a}" "${errors:-none}"
}

echo "| path | req/s | p99 latency | balancer RSS after | errors |"
echo "|---|---|---|---|---|"
measure "direct to the backend (no balancer)" "http://127.0.0.1:$backend_port/"

for runtime in bun deno; do
  port=$(free_port)
  cat >"$work/$runtime.yaml" <<YAML
listeners: [{address: "127.0.0.1:$port"}]
accessLog: false
pools:
  app:
    members: [{name: b1, url: "http://127.0.0.1:$backend_port"}]
YAML
  if [[ $runtime == bun ]]; then
    $BUN run runtimes/bun/main.ts serve --config "$work/$runtime.yaml" >/dev/null & pids+=($!)
  else
    $DENO run --unstable-net --allow-net --allow-read --allow-env runtimes/deno/main.ts serve --config "$work/$runtime.yaml" >/dev/null & pids+=($!)
  fi
  pid=$!
  wait_port "$port"
  measure "through tandem on $runtime" "http://127.0.0.1:$port/" "$pid"
done
