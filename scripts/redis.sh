#!/usr/bin/env bash
# A throwaway Redis on 127.0.0.1:6379 for development and tests (rate-limit counters, caches).
#
#   scripts/redis.sh up       start it; returns once it answers PING, or fails after 30 s
#   scripts/redis.sh down     stop the server this checkout started; exit 0 when it is not running
#   scripts/redis.sh status   print "up" or "down" (exit 0 when up, 3 when down)
#
# Invariants:
# - Debian's redis-server, installed with apt-get when missing (as root, non-interactive).
# - Daemonized, bound to loopback only, pid file, log and working dir under .cache/redis/.
# - No persistence (no RDB snapshots, no AOF): its contents are test data.
# - `up` and `down` hold an exclusive lock (flock), so concurrent callers start one server only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="127.0.0.1"
PORT="6379"
CACHE="$ROOT/.cache/redis"
PID_FILE="$CACHE/redis.pid"
LOG="$CACHE/redis.log"

SERVICE=redis LOCK_WAIT=120 PROCESS_PATTERN='redis-server'
# shellcheck source=scripts/service-lib.sh
source "$ROOT/scripts/service-lib.sh"  # say, die, lock, our_pid

install_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  [[ "$(id -u)" == 0 ]] || die "redis-server is missing; install it as root: apt-get install redis-server"
  say "installing redis-server with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q --no-install-recommends redis-server; } \
    >"$CACHE/apt.log" 2>&1 || { tail -n 30 "$CACHE/apt.log" >&2; die "apt-get install redis-server failed"; }
}

answers_ping() {
  command -v redis-cli >/dev/null || return 1
  [[ "$(timeout 3 redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" == "PONG" ]]
}

wait_ping() {
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    answers_ping && return 0
    sleep 0.2
  done
  tail -n 30 "$LOG" >&2 2>/dev/null || true
  die "redis-server did not answer PING on $HOST:$PORT within 30 s; see $LOG"
}

cmd_up() {
  lock
  if answers_ping; then
    local pid who
    pid="$(our_pid)"
    who="${pid:+pid $pid}"
    say "already up on $HOST:$PORT (${who:-not started by this checkout})"
    return 0
  fi
  install_redis
  redis-server --daemonize yes --bind "$HOST" --port "$PORT" --protected-mode yes \
    --pidfile "$PID_FILE" --dir "$CACHE" --logfile "$LOG" --save "" --appendonly no 9>&- \
    || die "redis-server failed to start; see $LOG"
  wait_ping
  say "up on $HOST:$PORT (pid $(cat "$PID_FILE"), log $LOG)"
}

cmd_down() {
  lock
  local pid
  pid="$(our_pid)"
  if [[ -z "$pid" ]]; then
    say "not running (nothing started by this checkout)"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # tail --pid returns as soon as the process is gone: an awaited exit, not a polling sleep.
  timeout 30 tail --pid="$pid" -f /dev/null || { kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$PID_FILE"
  say "stopped (pid $pid)"
}

cmd_status() {
  if answers_ping; then echo "up ($HOST:$PORT)"; else echo "down"; return 3; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
