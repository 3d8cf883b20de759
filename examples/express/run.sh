#!/usr/bin/env bash
# Run the Express example: installs its dependencies on first use, then `node server.js "$@"`.
#   examples/express/run.sh           serve on 127.0.0.1:3000 until Ctrl-C
#   examples/express/run.sh --demo    send itself a few requests, print the counters, exit
# Needs Node.js 20.19+, npm, and Kafka on $KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092) with
# the catalog topics (`make kafka-up`, then `.venv/bin/carbonplane topics apply`).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKG="$HERE/../../packages/event-producer-js"
cd "$HERE"
if [[ ! -d "$PKG/node_modules/@platformatic" ]]; then
  echo "example: installing the event library's dependencies (npm ci)"
  (cd "$PKG" && npm ci --omit=dev --no-audit --no-fund >/dev/null)
fi
if [[ ! -d node_modules/express ]]; then
  echo "example: installing the example's dependencies (npm install)"
  npm install --no-audit --no-fund --no-package-lock >/dev/null
fi
exec node server.js "$@"
