#!/usr/bin/env bash
# Scans a TLS listener on 127.0.0.1 with testssl.sh (Debian package testssl.sh, binary `testssl`):
# protocols, cipher categories, forward secrecy, server defaults and certificate, vulnerabilities.
# Kept fast (about a minute) and offline: no DNS lookups, no OCSP/CRL fetches, nothing but
# 127.0.0.1 is contacted.
#
# Usage: test/tls/testssl.sh PORT [JSONFILE] [CAFILE]
#   PORT      the TLS listener's port on 127.0.0.1
#   JSONFILE  write testssl's structured JSON (--jsonfile-pretty) here; an existing file is replaced
#   CAFILE    a PEM of private CAs to trust in addition to the system store (--add-ca)
# Env:
#   TESTSSL       the testssl binary (default: testssl, then testssl.sh, from PATH)
#   TESTSSL_HOST  what to put in the URI (default 127.0.0.1; a name is sent as SNI and checked
#                 against the certificate, while the connection still goes to 127.0.0.1)
#
# Exit status: testssl's own (0 when it ran). Severities are in the JSON ("HIGH", "CRITICAL", ...).
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 PORT [JSONFILE] [CAFILE]" >&2
  exit 2
fi
port=$1
json=${2:-}
cafile=${3:-}
host=${TESTSSL_HOST:-127.0.0.1}

testssl=${TESTSSL:-}
if [[ -z $testssl ]]; then
  testssl=$(command -v testssl || command -v testssl.sh || true)
fi
if [[ -z $testssl ]]; then
  echo "$0: testssl not found (apt-get install testssl.sh)" >&2
  exit 127
fi

args=(
  --quiet --color 0 --warnings off --sneaky
  --nodns none --ip 127.0.0.1
  --connect-timeout 5 --openssl-timeout 5
  -p   # protocols (SSLv2 .. TLS 1.3, ALPN/NPN)
  -s   # cipher categories (NULL, export, RC4, 3DES, ...)
  -f   # forward secrecy
  -S   # server defaults: certificate, chain of trust, expiry, key size
  -U   # vulnerabilities: Heartbleed, CCS, ticketbleed, ROBOT, renegotiation, CRIME, BREACH,
       # POODLE, fallback SCSV, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13, RC4
)
if [[ -n $json ]]; then
  rm -f -- "$json"
  args+=(--jsonfile-pretty "$json")
fi
if [[ -n $cafile ]]; then
  args+=(--add-ca "$cafile")
fi

exec "$testssl" "${args[@]}" "$host:$port"
