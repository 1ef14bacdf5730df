#!/usr/bin/env bash
# make demo: the incident binlog-sidecar exists for, told in about two minutes.
#
# A primary with semi-sync on, one real semi-sync replica that is in the
# inventory, and an inventory entry for a replica that does not exist. A write
# load runs. Then the real replica freezes (SIGSTOP, as a hung VM would): its
# dump thread lingers, commits wait for a semi-sync ACK that never comes. The
# sidecar's canary (SIDECAR_CANARY) shows what that costs a commit: from a
# few milliseconds to the 20 s semi-sync timeout. `sidecar fleet`, the
# command an operator runs, shows within seconds what is wrong: the
# primary's health, replicas and problems, and each event as it arrives
# (its stdout is a pipe, so it appends rather than redraws and the story's
# lines stay on screen); then the replica resumes and the problems clear.
# Everything is torn down on exit or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/binlog-sidecar-demo.XXXXXX)
export WORK
# shellcheck source=scripts/mariadb.sh
. scripts/mariadb.sh

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "== cleaning up"
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_all
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }

say "starting a throwaway primary and a semi-sync replica (MariaDB $(mariadbd --version | awk '{print $3}'))"
build_template
# A commit waits up to 20 s for a semi-sync ACK before semi-sync falls back
# to async: long enough to show commits stuck behind a frozen replica.
start_instance primary 1 --rpl-semi-sync-master-enabled=ON --rpl-semi-sync-master-timeout=20000
start_instance replica 2 --rpl-semi-sync-slave-enabled=ON --report-host=127.0.0.1
sql replica "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PORT_primary, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE;"
for _ in $(seq 1 100); do
  sql replica "SHOW SLAVE STATUS\G" | grep -q 'Slave_IO_Running: Yes' && break; sleep 0.1
done
# The canary's grants (the README's "The canary"): it creates its table.
sql primary "GRANT SELECT, INSERT, UPDATE, CREATE ON binlog_sidecar.* TO 'sidecar'@'%'"
sql primary "CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer INT, amount DECIMAL(10,2), note VARCHAR(64), created TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB"
echo "primary 127.0.0.1:$PORT_primary (server_id 1), replica 127.0.0.1:$PORT_replica (server_id 2)"

say "starting the sidecar with its embedded NATS bus"
HTTP_PORT=$(free_port); NATS_PORT=$(free_port)
INVENTORY="127.0.0.1:$PORT_replica semisync, db-ghost.invalid:3306"
echo "inventory (SIDECAR_EXPECTED_REPLICAS): $INVENTORY"
echo "  - 127.0.0.1:$PORT_replica is the real replica"
echo "  - db-ghost.invalid:3306 was decommissioned but is still expected"
env SIDECAR_MYSQL_ADDR="127.0.0.1:$PORT_primary" SIDECAR_MYSQL_USER=sidecar SIDECAR_MYSQL_PASSWORD=sidecar \
  SIDECAR_CLUSTER=demo SIDECAR_INSTANCE=primary SIDECAR_EXPECTED_REPLICAS="$INVENTORY" \
  SIDECAR_HEARTBEAT_PERIOD=500ms SIDECAR_POLL_INTERVAL=1s SIDECAR_STATS_INTERVAL=10s \
  SIDECAR_PROBE_TIMEOUT=500ms SIDECAR_ZOMBIE_GRACE=3s \
  SIDECAR_CANARY=true SIDECAR_CANARY_INTERVAL=500ms SIDECAR_CANARY_SLOW=1s SIDECAR_CANARY_TIMEOUT=30s \
  SIDECAR_HTTP_ADDR="127.0.0.1:$HTTP_PORT" SIDECAR_NATS_URL=embedded SIDECAR_NATS_EMBEDDED_ADDR="127.0.0.1:$NATS_PORT" \
  SIDECAR_DATA_DIR="$WORK/sidecar-data" SIDECAR_LOG_LEVEL=warn SIDECAR_LOG_FORMAT=console \
  "$ROOT/bin/sidecar" run 2>"$WORK/sidecar.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1
done
echo "sidecar ready: http://127.0.0.1:$HTTP_PORT/status, nats://127.0.0.1:$NATS_PORT, subjects mysql.health.demo.primary.>"

say "the fleet view: sidecar fleet (the bus's status bucket and its events, read as an anonymous client)"
SIDECAR_NATS_URL="nats://127.0.0.1:$NATS_PORT" SIDECAR_DATA_DIR="$WORK/fleet-data" \
  "$ROOT/bin/sidecar" fleet > >(cat) &
PIDS+=($!)

# The application: orders committed in a loop, one client session.
load() {
  local i=0
  while :; do
    i=$((i + 1))
    mariadb --no-defaults --socket="$WORK/primary/mysqld.sock" -uroot -e \
      "INSERT INTO shop.orders (customer, amount, note) VALUES ($((RANDOM % 1000)), $((RANDOM % 500)).99, 'order $i'), ($((RANDOM % 1000)), 10.00, 'gift');
       UPDATE shop.orders SET amount = amount + 1 WHERE id = $(((RANDOM % i) + 1));" 2>/dev/null || true
    sleep 0.05
  done
}
load & PIDS+=($!)
load & PIDS+=($!)

say "write load running; db-ghost.invalid:3306 is expected but has no dump thread"
sleep 15

say "the replica freezes (SIGSTOP pid $PID_replica): its dump thread stays, commits wait for its semi-sync ACK (the canary's commit latency climbs to the 20 s semi-sync timeout)"
kill -STOP "$PID_replica"
sleep 30

say "the replica resumes (SIGCONT): problems resolve"
kill -CONT "$PID_replica"
sleep 20

say "final /status"
curl -fsS "http://127.0.0.1:$HTTP_PORT/status" | python3 -m json.tool | head -60 || true
say "done; the sidecar's log is in $WORK/sidecar.log until cleanup"
