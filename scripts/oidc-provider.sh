#!/usr/bin/env bash
# The local OpenID provider the openid-connect plugin's integration tests run against
# (tests/integration/gateway/oidc: the npm oidc-provider package and a small script).
#
#   scripts/oidc-provider.sh install     install its npm packages when needed (make test does it)
#
# Invariants:
# - Needs Node.js 20.19+ and npm (Debian: apt-get install nodejs npm); fails saying so otherwise.
# - `npm ci` runs only when node_modules is missing or package-lock.json changed since the last
#   install (its hash is kept in node_modules/.carbonplane-npm-stamp); quiet otherwise.
# - The tests start and stop the provider themselves (node provider.js PORT JWKS_FILE); they
#   fail, never skip, when it is not installed, naming this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/tests/integration/gateway/oidc"
LOGDIR="$ROOT/.cache/setup"
STAMP="$DIR/node_modules/.carbonplane-npm-stamp"

say() { printf 'oidc-provider: %s\n' "$*"; }
die() { printf 'oidc-provider: error: %s\n' "$*" >&2; exit 1; }

[[ "${1:-}" == "install" ]] || die "usage: scripts/oidc-provider.sh install"
command -v node >/dev/null || die "node not found: install Node.js 20+ (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found: install it (apt-get install npm)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || die "node $(node --version) found; oidc-provider needs Node.js 20.19+"

cd "$DIR"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  mkdir -p "$LOGDIR"
  say "installing the test provider's packages (npm ci)"
  npm ci --no-audit --no-fund >"$LOGDIR/oidc-npm.log" 2>&1 </dev/null \
    || { tail -n 30 "$LOGDIR/oidc-npm.log" >&2; die "npm ci failed (log: $LOGDIR/oidc-npm.log)"; }
  echo "$want" >"$STAMP"
fi
