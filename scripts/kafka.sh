#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, broker+controller in one JVM) on 127.0.0.1:9092.
#
#   scripts/kafka.sh up       start it (fetch jars and format storage when needed); returns once the
#                             broker answers a metadata request, or fails after KAFKA_UP_TIMEOUT s
#   scripts/kafka.sh down     stop the broker this checkout started; exit 0 when it is not running
#   scripts/kafka.sh status   print "up" or "down" (exit 0 when up, 3 when down)
#
# Invariants:
# - No Docker, no tarball: org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies
#   come from Maven Central through Maven, into .cache/kafka/<version>/lib (reused when present; a
#   fetch lands in a temporary dir and is renamed, so a half-fetched lib is never used).
# - Storage lives in .cache/kafka/data, formatted once; reformatted when meta.properties is missing.
#   KAFKA_DATA_RESET=1 wipes it on `up` (stopping this checkout's broker first).
# - Listeners and broker settings are the ones in the project's kafka-local reference: PLAINTEXT on
#   127.0.0.1:9092, controller on 127.0.0.1:9093, no topic auto-creation, replication factor 1.
# - `up` and `down` hold an exclusive lock (flock), so concurrent callers start one broker only.
# - The broker is started in its own session (setsid), so it outlives the shell that started it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_UP_TIMEOUT="${KAFKA_UP_TIMEOUT:-90}"
BOOTSTRAP="127.0.0.1:9092"
CACHE="$ROOT/.cache/kafka"
LIB="$CACHE/$KAFKA_VERSION/lib"
DATA="$CACHE/data"
LOG="$CACHE/kafka.log"
OUT="$CACHE/kafka.out"
PID_FILE="$CACHE/kafka.pid"
CONF="$CACHE/server.properties"
LOG4J="$CACHE/log4j2.properties"

SERVICE=kafka LOCK_WAIT=300 PROCESS_PATTERN='kafka\.Kafka'
# shellcheck source=scripts/service-lib.sh
source "$ROOT/scripts/service-lib.sh"  # say, die, lock, our_pid

# Exit 0 when a broker on $BOOTSTRAP answers a metadata request within $1 seconds.
broker_answers() {
  local wait_s="${1:-2}"
  local py="$ROOT/.venv/bin/python"
  if [[ -x "$py" ]] && "$py" -c 'import confluent_kafka' 2>/dev/null; then
    "$py" - "$BOOTSTRAP" "$wait_s" 2>/dev/null <<'EOF'
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0})
sys.exit(0 if admin.list_topics(timeout=float(sys.argv[2])).brokers else 1)
EOF
  elif command -v kcat >/dev/null; then
    kcat -b "$BOOTSTRAP" -L -m "$wait_s" >/dev/null 2>&1
  else
    die "cannot probe the broker: neither .venv (with confluent-kafka) nor kcat exists; run 'make setup'"
  fi
}

fetch_jars() {
  [[ -d "$LIB" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven) or run scripts/setup.sh"
  local work="$CACHE/$KAFKA_VERSION"
  mkdir -p "$work"
  say "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies with Maven"
  cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Throwaway pom written by scripts/kafka.sh: only used to resolve the broker's runtime jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>carbonplane.dev</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- log4j2 binding for slf4j 1.7 (the version the broker uses), so its logging reaches $LOG -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$work/lib.partial"
  if ! mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$work/lib.partial" >"$work/mvn.log" 2>&1; then
    tail -n 40 "$work/mvn.log" >&2
    die "Maven could not fetch kafka_2.13:$KAFKA_VERSION (full log: $work/mvn.log)"
  fi
  mv "$work/lib.partial" "$LIB"
}

write_config() {
  cat >"$CONF" <<EOF
# Written by scripts/kafka.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
log.retention.check.interval.ms=10000
EOF
  cat >"$LOG4J" <<EOF
# Written by scripts/kafka.sh: the broker logs to $LOG.
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

format_storage() {
  if [[ "${KAFKA_DATA_RESET:-0}" == "1" ]]; then
    say "KAFKA_DATA_RESET=1: wiping $DATA"
    rm -rf "$DATA"
  fi
  [[ -f "$DATA/meta.properties" ]] && return 0
  rm -rf "$DATA"
  local cluster_id
  # 16 random bytes, URL-safe base64 without padding; never starting with '-', which the storage
  # tool's argument parser would take for an option
  cluster_id="A$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c2-)"
  say "formatting KRaft storage in $DATA (cluster id $cluster_id)"
  java -Dlog4j2.configurationFile="$LOG4J" -cp "$LIB/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$CONF" >>"$OUT" 2>&1 || { tail -n 30 "$OUT" >&2; die "formatting $DATA failed"; }
}

start_broker() {
  [[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
  : >"$OUT"
  setsid java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" -cp "$LIB/*" kafka.Kafka "$CONF" \
    </dev/null >>"$OUT" 2>&1 9>&- &
  echo $! >"$PID_FILE"
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + KAFKA_UP_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail
      die "the broker (pid $pid) exited during startup; see $LOG and $OUT"
    fi
    broker_answers 2 && return 0
    sleep 1
  done
  show_log_tail
  die "the broker (pid $pid) did not answer on $BOOTSTRAP within ${KAFKA_UP_TIMEOUT}s; see $LOG"
}

show_log_tail() {
  { echo "--- last lines of $LOG ---"; tail -n 40 "$LOG" 2>/dev/null || true
    echo "--- last lines of $OUT ---"; tail -n 20 "$OUT" 2>/dev/null || true; } >&2
}

stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  # tail --pid returns as soon as the process is gone: an awaited exit, not a polling sleep.
  if ! timeout 60 tail --pid="$pid" -f /dev/null; then
    say "broker (pid $pid) ignored SIGTERM for 60 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    timeout 10 tail --pid="$pid" -f /dev/null || true
  fi
  rm -f "$PID_FILE"
}

cmd_up() {
  lock
  local pid
  pid="$(our_pid)"
  if [[ "${KAFKA_DATA_RESET:-0}" == "1" && -n "$pid" ]]; then
    say "KAFKA_DATA_RESET=1: stopping the running broker (pid $pid) first"
    stop_pid "$pid"
    pid=""
  fi
  if [[ -n "$pid" ]]; then
    wait_ready "$pid"
    say "already up on $BOOTSTRAP (pid $pid)"
    return 0
  fi
  command -v java >/dev/null || die "java not found: Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jdk-headless)"
  fetch_jars  # also when another broker answers: tests start throwaway brokers from these jars
  if broker_answers 2; then
    say "a broker not started by this checkout already answers on $BOOTSTRAP; using it"
    return 0
  fi
  write_config
  format_storage
  start_broker
  pid="$(cat "$PID_FILE")"
  wait_ready "$pid"
  say "up on $BOOTSTRAP (pid $pid, Kafka $KAFKA_VERSION, log $LOG)"
}

cmd_down() {
  lock
  local pid
  pid="$(our_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    say "not running (nothing started by this checkout)"
    return 0
  fi
  stop_pid "$pid"
  say "stopped (pid $pid)"
}

cmd_status() {
  local pid
  pid="$(our_pid)"
  if broker_answers 2; then
    echo "up ($BOOTSTRAP${pid:+, pid $pid})"
  else
    echo "down${pid:+ (pid $pid is running but does not answer on $BOOTSTRAP)}"
    return 3
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
