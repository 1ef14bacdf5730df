#!/usr/bin/env bash
# make soak: the steady state must be silent. A primary with a healthy
# semi-sync replica and a correct inventory runs sysbench oltp_write_only for
# SOAK_DURATION (default 10m) with the real sidecar attached; at the end the
# script prints what the sidecar published and measured, and fails if any
# problem fired. It also reports what the sidecar cost (its own CPU seconds
# against the primary's).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${SOAK_DURATION:-10m}
RATE=${SOAK_RATE:-200}
secs=$(python3 -c "import re,sys; d='$DURATION'; m={'s':1,'m':60,'h':3600}; print(sum(int(n)*m[u] for n,u in re.findall(r'(\d+)([smh])', d)))")
WORK=$(mktemp -d /tmp/binlog-sidecar-soak.XXXXXX)
export WORK
. scripts/mariadb.sh
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  stop_all
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

build_template
start_instance primary 1 --rpl-semi-sync-master-enabled=ON --rpl-semi-sync-master-timeout=10000
start_instance replica 2 --rpl-semi-sync-slave-enabled=ON --report-host=127.0.0.1
sql replica "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PORT_primary, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE;"
sql primary "CREATE DATABASE IF NOT EXISTS sbtest"
SB=(sysbench --db-driver=mysql --mysql-socket="$WORK/primary/mysqld.sock" --mysql-user=app --mysql-password=app
    --mysql-db=sbtest --tables=4 --table-size=10000)
"${SB[@]}" oltp_write_only prepare --threads=2 >/dev/null

HTTP_PORT=$(free_port); NATS_PORT=$(free_port)
env SIDECAR_MYSQL_ADDR="127.0.0.1:$PORT_primary" SIDECAR_MYSQL_USER=sidecar SIDECAR_MYSQL_PASSWORD=sidecar \
  SIDECAR_CLUSTER=soak SIDECAR_INSTANCE=primary SIDECAR_EXPECTED_REPLICAS="127.0.0.1:$PORT_replica semisync" \
  SIDECAR_HTTP_ADDR="127.0.0.1:$HTTP_PORT" SIDECAR_NATS_EMBEDDED_ADDR="127.0.0.1:$NATS_PORT" \
  SIDECAR_DATA_DIR="$WORK/sidecar-data" SIDECAR_LOG_LEVEL=warn \
  "$ROOT/bin/sidecar" run 2>"$WORK/sidecar.log" &
SIDECAR=$!; PIDS+=("$SIDECAR")
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 6 # one poll with everything connected

echo "soak: $DURATION of sysbench oltp_write_only at $RATE tps, primary :$PORT_primary, semi-sync replica :$PORT_replica, sidecar :$HTTP_PORT"
side0=$(cpu_of "$SIDECAR"); prim0=$(cpu_of "$PID_primary"); rep0=$(cpu_of "$PID_replica")
"${SB[@]}" oltp_write_only run --threads=2 --rate="$RATE" --time="$secs" --report-interval=60 >"$WORK/sysbench.log" 2>&1 &
SBPID=$!; PIDS+=("$SBPID")
worst=ok
while kill -0 "$SBPID" 2>/dev/null; do
  h=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["health"])' || echo unreachable)
  [ "$h" = ok ] || { worst=$h; echo "soak: health $h at $(date +%T)"; }
  sleep 10
done
wait "$SBPID" || true
side1=$(cpu_of "$SIDECAR"); prim1=$(cpu_of "$PID_primary"); rep1=$(cpu_of "$PID_replica")
curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/metrics.txt"

grep -E '^\s+transactions:' "$WORK/sysbench.log" || true
python3 - "$WORK/metrics.txt" "$side0" "$side1" "$prim0" "$prim1" "$worst" "$rep0" "$rep1" <<'PY'
import re, sys
path, s0, s1, p0, p1, worst, r0, r1 = sys.argv[1:]
m = {}
for line in open(path):
    if line.startswith('#'): continue
    k, _, v = line.rpartition(' ')
    m[k] = float(v)
g = lambda k: m.get(k, 0)
problems = {k: v for k, v in m.items() if k.startswith('binlog_sidecar_events_published_total') and any(
    t in k for t in ('replica.', 'dump_thread.', 'semisync.', 'source.', 'stream.down', 'stream.stalled', 'stream.gap'))}
side, prim, rep = float(s1) - float(s0), float(p1) - float(p0), float(r1) - float(r0)
tx = g('binlog_sidecar_stream_transactions_total')
print(f"stream: {tx:.0f} transactions, {g('binlog_sidecar_stream_bytes_total')/1e6:.1f} MB, "
      f"{sum(v for k, v in m.items() if k.startswith('binlog_sidecar_stream_rows_total')):.0f} rows, "
      f"reconnects {g('binlog_sidecar_stream_reconnects_total'):.0f}")
print(f"cpu during the run: sidecar {side:.2f} s, primary {prim:.2f} s (sidecar/primary {side/prim if prim else 0:.3f}), "
      f"the real replica's mariadbd {rep:.2f} s (sidecar/replica {side/rep if rep else 0:.3f})")
stats = g('binlog_sidecar_events_published_total{type="stream.stats"}')
print(f"events published: stats {stats:.0f}, "
      f"problems {sum(problems.values()):.0f}, pending {g('binlog_sidecar_events_pending'):.0f}, dropped {g('binlog_sidecar_events_dropped_total'):.0f}")
print(f"worst health seen: {worst}; health now {['ok','degraded','critical'][int(g('binlog_sidecar_health_status'))]}")
bad = sum(problems.values()) > 0 or worst != 'ok' or g('binlog_sidecar_health_status') != 0
for k, v in problems.items():
    if v: print("  problem event:", k, v)
print("SOAK", "FAILED: problems were raised" if bad else "PASSED: zero problems")
sys.exit(1 if bad else 0)
PY
