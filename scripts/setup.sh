#!/usr/bin/env bash
# Idempotent developer/CI setup on a Debian machine: system packages, toolchain checks, .venv.
#
# Invariants:
# - Quiet when there is nothing to do; every failure says what failed and how to fix it.
# - System packages (redis-server, nginx-light, wrk, kcat) are installed only when their command
#   is missing, with one `apt-get update` first; that needs root (CI and these machines run as root).
# - java (17+) and mvn must already exist: Kafka is run from Maven Central jars (scripts/kafka.sh).
# - .venv is created with python3 (>= 3.11) when missing; `pip install -e '.[test]'` runs only when
#   the stamp .venv/.carbonplane-setup differs from the hash of CARBONPLANE_NO_COMPILE's setting,
#   pyproject.toml, setup.py, _accel.py and the compiled modules' sources (_accel.source_files:
#   .py, .pxd, .c), or the package is not importable, or (when compiling) a compiled copy does not
#   match the build record, so a changed dependency list or compiled module is picked up on the
#   next run. gcc (build-essential) builds the optional compiled modules; without it the
#   install still succeeds and the pure-Python code runs alone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.carbonplane-setup"
LOGDIR="$ROOT/.cache/setup"
mkdir -p "$LOGDIR"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# command -> Debian package providing it
declare -A APT_FOR=([redis-server]=redis-server [redis-cli]=redis-tools [nginx]=nginx-light [wrk]=wrk [kcat]=kcat [gcc]=gcc)

install_system_packages() {
  local missing=() cmd
  for cmd in "${!APT_FOR[@]}"; do
    command -v "$cmd" >/dev/null || [[ -x "/usr/sbin/$cmd" ]] || missing+=("${APT_FOR[$cmd]}")
  done
  ((${#missing[@]})) || return 0
  [[ "$(id -u)" == 0 ]] || die "missing packages ${missing[*]}: run as root or 'sudo apt-get install ${missing[*]}'"
  say "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    >"$LOGDIR/apt.log" 2>&1 </dev/null \
    || { tail -n 30 "$LOGDIR/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: $LOGDIR/apt.log)"; }
}

check_toolchain() {
  command -v java >/dev/null || die "java not found: Kafka needs Java 17+ (apt-get install openjdk-17-jdk-headless)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${major%%.*}" -ge 17 ]] 2>/dev/null || die "java $major found, Kafka 4 needs Java 17+ (set JAVA_HOME or PATH)"
  command -v mvn >/dev/null || die "mvn not found: Kafka's jars are fetched with Maven (apt-get install maven)"
}

create_venv() {
  [[ -x "$VENV/bin/python" ]] && return 0
  local py
  py="$(command -v python3)" || die "python3 not found: install Python 3.11+"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$py is Python $("$py" -c 'import platform; print(platform.python_version())'); carbonplane needs 3.11+"
  say "creating .venv with $py"
  "$py" -m venv "$VENV" >"$LOGDIR/venv.log" 2>&1 \
    || { cat "$LOGDIR/venv.log" >&2; die "python3 -m venv failed (on Debian: apt-get install python3-venv)"; }
}

install_project() {
  local want compile=1
  [[ "${CARBONPLANE_NO_COMPILE:-}" == "" || "${CARBONPLANE_NO_COMPILE:-}" == 0 ]] || compile=0
  # the compiled modules' sources too (the list is _accel.py's): an edited one is rebuilt, and
  # until then `import carbonplane` runs all of it pure
  want="$( { echo "compile=$compile"; cat pyproject.toml setup.py src/carbonplane/_accel.py
    python3 -c 'import json, runpy; a = runpy.run_path("src/carbonplane/_accel.py")
print(json.dumps(a["source_files"]("src/carbonplane"), sort_keys=True))'; } | sha256sum | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && "$VENV/bin/python" -c '
import sys
from carbonplane import _accel as a
sys.exit(bool(a.check_build(a.install().root)[1]) if '"$compile"' else 0)' 2>/dev/null; then
    return 0  # importable and, when compiling, no compiled copy out of date
  fi
  say "installing carbonplane and its test dependencies into .venv"
  { "$VENV/bin/python" -m pip install -q --upgrade pip && "$VENV/bin/python" -m pip install -q -e '.[test]'; } \
    >"$LOGDIR/pip.log" 2>&1 </dev/null \
    || { tail -n 40 "$LOGDIR/pip.log" >&2; die "pip install -e '.[test]' failed (log: $LOGDIR/pip.log)"; }
  echo "$want" >"$STAMP"
}

# Two `make test` runs at once must not run apt-get or pip into the same .venv together.
exec 9>"$LOGDIR/setup.lock"
flock -w 600 9 || die "another scripts/setup.sh has held $LOGDIR/setup.lock for 600 s; is it stuck?"
install_system_packages
check_toolchain
create_venv
install_project
