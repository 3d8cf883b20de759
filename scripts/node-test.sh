#!/usr/bin/env bash
# The Node.js event library's tests (packages/event-producer-js), against the real Kafka broker.
#
#   scripts/node-test.sh          install the package's dependencies when needed, then run node --test
#   scripts/node-test.sh FILE...  run only these test files (paths relative to the package)
#
# Invariants:
# - Needs Node.js 20.19+ (the Kafka client, @platformatic/kafka, is an ES module loaded with
#   require) and npm (Debian: apt-get install nodejs npm); fails saying so otherwise.
# - `npm ci` runs only when node_modules is missing or package-lock.json changed since the last
#   install (its hash is kept in node_modules/.carbonplane-npm-stamp); quiet otherwise. Nothing is
#   built natively: LZ4 ships inside the Kafka client.
# - The tests need the broker on 127.0.0.1:9092 (`make kafka-up`) and the Python library in .venv
#   (`make setup`); they fail, never skip, when either is missing. Test files run one at a time
#   (2-core machines), each bounded by a timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="$ROOT/packages/event-producer-js"
LOGDIR="$ROOT/.cache/setup"
STAMP="$PKG/node_modules/.carbonplane-npm-stamp"

say() { printf 'node-test: %s\n' "$*"; }
die() { printf 'node-test: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found: install Node.js 20+ (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found: install it (apt-get install npm)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || die "node $(node --version) found; the event library needs Node.js 20.19+"

cd "$PKG"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  mkdir -p "$LOGDIR"
  say "installing the package's dependencies (npm ci)"
  npm ci --no-audit --no-fund >"$LOGDIR/npm.log" 2>&1 </dev/null \
    || { tail -n 30 "$LOGDIR/npm.log" >&2; die "npm ci failed (log: $LOGDIR/npm.log)"; }
  echo "$want" >"$STAMP"
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  files=(test/*.test.js)
fi
exec node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
