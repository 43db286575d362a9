#!/usr/bin/env bash
# TLS termination, same run, same machine: tandem on Bun and on Deno against HAProxy's native
# `ssl` and against stunnel -> HAProxy (the seeds' setup). Each proxy has one worker/thread,
# round robin over two nginx members with a sticky insert cookie, checks every 2 s and
# X-Forwarded-For. Two figures per proxy:
#   - keep-alive: wrk over TLS, connections reused (bulk request cost through TLS)
#   - handshakes: wrk with "Connection: close", so every request is a new TCP + full TLS
#     handshake (wrk does not resume sessions)
# plus the proxy's CPU time per request (utime+stime of all its processes, from /proc).
# Rounds are interleaved (A B C D, A B C D, ...) and medians reported.
#
# Needs: haproxy stunnel4 nginx wrk openssl (apt-get install -y haproxy stunnel4 nginx wrk).
# Loopback only; every load run is bounded by DURATION. Usage:
#   bash test/bench/tls.sh            # ROUNDS=3 DURATION=8s CONNECTIONS=64
#   ROUNDS=1 DURATION=3s bash test/bench/tls.sh   # quick
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-8s}" CONNECTIONS="${CONNECTIONS:-64}" HANDSHAKE_CONNECTIONS="${HANDSHAKE_CONNECTIONS:-16}"
BUN=$PWD/node_modules/.bin/bun DENO=$PWD/node_modules/.bin/deno
for tool in haproxy stunnel nginx wrk openssl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y haproxy stunnel4 nginx wrk openssl" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_url() { for _ in $(seq 150); do curl -fsk "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "$1 never answered" >&2; exit 1; }
cpu_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }
# The process and every descendant (stunnel and haproxy fork, deno task spawns deno).
family() { local all=("$1") child; for child in $(pgrep -P "$1" || true); do all+=($(family "$child")); done; echo "${all[@]}"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
  -addext "subjectAltName=DNS:bench.test" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/combined.pem"

# Backends: one nginx, one worker, two members answering a small body.
b1=$(free_port) b2=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$b1; location / { return 200 "hello from b1\n"; } }
  server { listen 127.0.0.1:$b2; location / { return 200 "hello from b2\n"; } }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work/nginx" & pids+=($!)
wait_url "http://127.0.0.1:$b1/"

# HAProxy: native ssl on one port, plain on another (stunnel's target).
haproxy_tls=$(free_port) haproxy_plain=$(free_port)
cat >"$work/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option forwardfor
frontend tls
  bind 127.0.0.1:$haproxy_tls ssl crt $work/combined.pem alpn http/1.1
  default_backend members
frontend plain
  bind 127.0.0.1:$haproxy_plain
  default_backend members
backend members
  balance roundrobin
  cookie SERVERID insert indirect nocache
  option httpchk GET /
  server b1 127.0.0.1:$b1 check inter 2s cookie b1
  server b2 127.0.0.1:$b2 check inter 2s cookie b2
HAPROXY
haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!)
haproxy_pid=$!
wait_url "https://127.0.0.1:$haproxy_tls/"

stunnel_port=$(free_port)
cat >"$work/stunnel.conf" <<STUNNEL
foreground = yes
pid =
[https]
accept = 127.0.0.1:$stunnel_port
connect = 127.0.0.1:$haproxy_plain
cert = $work/cert.pem
key = $work/key.pem
sslVersionMin = TLSv1.2
STUNNEL
stunnel "$work/stunnel.conf" >/dev/null 2>&1 & pids+=($!)
stunnel_pid=$!
wait_url "https://127.0.0.1:$stunnel_port/"

start_tandem() { # runtime port
  cat >"$work/$1.yaml" <<YAML
listeners:
  - address: "127.0.0.1:$2"
    tls: { certificates: [{ cert: cert.pem, key: key.pem }] }
accessLog: false
pools:
  members:
    strategy: roundrobin
    sticky: { mode: insert }
    health: { check: { path: /, interval: 2s } }
    members:
      - { name: b1, url: "http://127.0.0.1:$b1" }
      - { name: b2, url: "http://127.0.0.1:$b2" }
YAML
  if [[ $1 == bun ]]; then
    $BUN run runtimes/bun/main.ts serve --config "$work/$1.yaml" >/dev/null & pids+=($!)
  else
    $DENO run --unstable-net --allow-net --allow-read --allow-env runtimes/deno/main.ts serve --config "$work/$1.yaml" >/dev/null & pids+=($!)
  fi
  wait_url "https://127.0.0.1:$2/"
}
bun_port=$(free_port); start_tandem bun "$bun_port"; bun_pid=${pids[-1]}
deno_port=$(free_port); start_tandem deno "$deno_port"; deno_pid=${pids[-1]}

names=("HAProxy 2.6 ssl" "stunnel 5.68 -> HAProxy" "tandem on Bun" "tandem on Deno")
urls=("https://127.0.0.1:$haproxy_tls/" "https://127.0.0.1:$stunnel_port/" "https://127.0.0.1:$bun_port/" "https://127.0.0.1:$deno_port/")
procs=("$haproxy_pid" "$stunnel_pid $haproxy_pid" "$bun_pid" "$deno_pid")
hz=$(getconf CLK_TCK)

run() { # index kind -> "rps p99 cpu_us_per_request errors"
  local url=${urls[$1]} out pids_now before after rps requests
  read -r -a pids_now <<<"$(for p in ${procs[$1]}; do family "$p"; done | tr '\n' ' ')"
  local extra=() connections=$CONNECTIONS
  if [[ $2 == handshakes ]]; then extra=(-H "Connection: close"); connections=$HANDSHAKE_CONNECTIONS; fi
  before=$(cpu_ticks "${pids_now[@]}")
  out=$(wrk -t1 -c"$connections" -d"$DURATION" --latency "${extra[@]}" "$url")
  after=$(cpu_ticks "${pids_now[@]}")
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  local p99; p99=$(awk '/ 99%/ {v = $2; m = 1; if (v ~ /us$/) m = 0.001; else if (v ~ /ms$/) m = 1; else if (v ~ /s$/) m = 1000; gsub(/[a-z]+$/, "", v); printf "%.2f", v * m}' <<<"$out")
  local errors; errors=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out" | tr -s ' ' | tr '\n' ';')
  local cpu_us; cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  echo "$rps $p99 $cpu_us ${errors:-none}"
}

declare -A results
for kind in keepalive handshakes; do
  for i in "${!urls[@]}"; do wrk -t1 -c16 -d1s "${urls[$i]}" >/dev/null; done # warm-up
  for round in $(seq "$ROUNDS"); do
    for i in "${!urls[@]}"; do
      results[$kind,$i,$round]=$(run "$i" "$kind")
      echo "round $round $kind ${names[$i]}: ${results[$kind,$i,$round]}" >&2
    done
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
field() { for round in $(seq "$ROUNDS"); do awk -v f="$3" '{print $f}' <<<"${results[$1,$2,$round]}"; done | median; }

echo
echo "TLS, wrk -t1, $DURATION x $ROUNDS interleaved rounds, medians; keep-alive with $CONNECTIONS connections, handshakes with $HANDSHAKE_CONNECTIONS (Connection: close)"
echo
echo "| proxy | keep-alive req/s | p99 | CPU µs/req | new handshakes/s | p99 | CPU µs/handshake | errors |"
echo "|---|---|---|---|---|---|---|---|"
for i in "${!urls[@]}"; do
  errors=""
  for round in $(seq "$ROUNDS"); do
    for kind in keepalive handshakes; do
      e=$(cut -d' ' -f4- <<<"${results[$kind,$i,$round]}"); [[ $e != none ]] && errors+="$kind r$round: $e "
    done
  done
  printf '| %s | %.0f | %s ms | %s | %.0f | %s ms | %s | %s |\n' "${names[$i]}" \
    "$(field keepalive "$i" 1)" "$(field keepalive "$i" 2)" "$(field keepalive "$i" 3)" \
    "$(field handshakes "$i" 1)" "$(field handshakes "$i" 2)" "$(field handshakes "$i" 3)" \
    "${errors:-none}"
done
