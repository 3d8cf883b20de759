# Shared by scripts/kafka.sh and scripts/redis.sh (sourced, not run). The caller sets SERVICE (its
# name, for messages and the lock file), CACHE (its state directory), PID_FILE, LOCK_WAIT (seconds)
# and PROCESS_PATTERN (what the command line of its own server process matches).

say() { printf '%s: %s\n' "$SERVICE" "$*"; }
die() { printf '%s: error: %s\n' "$SERVICE" "$*" >&2; exit 1; }

# One `up` or `down` at a time per checkout.
lock() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/$SERVICE.lock"
  flock -w "$LOCK_WAIT" 9 \
    || die "another 'scripts/$SERVICE.sh' has held $CACHE/$SERVICE.lock for $LOCK_WAIT s; is it stuck?"
}

# The pid of the server this checkout started, or nothing (a stale pid file prints nothing).
our_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE")"
  if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$PROCESS_PATTERN"; then
    echo "$pid"
  fi
}
