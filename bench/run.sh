#!/usr/bin/env bash
# bench/run.sh: the performance benchmark of the sidecar's binlog stream
# (`make bench`). What it measures and how to read the output:
# bench/README.md. The method is docs/lab-notes.md §4 (shared docs).
#
# Environment (all optional):
#   BENCH_QUICK=1        ~20 MB smoke version (13,000 tx, live runs of 5,000 tx)
#   BENCH_EVENTS=N       sysbench transactions in the replayed binlog (130000 ≈ 200 MB)
#   BENCH_LIVE_EVENTS=M  sysbench transactions per live-cost run (50000)
#   BENCH_RUNS=R         runs per reader, round-robin (3)
#   BENCH_READERS        replay readers ("framing sidecar raw canal mariadb-binlog full")
#   BENCH_LIVE_READERS   live-cost readers ("none framing raw sidecar replica"); empty: skip
#   BENCH_PROBE_EVERY    live sidecar runs: a latency probe row this often (50ms)
#   BENCH_CACHE=0        do not cache the built datadir + binlog
#   BENCH_CACHE_DIR      where to cache it (/var/tmp/binlog-sidecar-bench)
#   BENCH_RESULTS_DIR    where the JSON results go (bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
	EVENTS=${BENCH_EVENTS:-13000}
	LIVE_EVENTS=${BENCH_LIVE_EVENTS:-5000}
	TABLE_SIZE=10000
else
	EVENTS=${BENCH_EVENTS:-130000}
	LIVE_EVENTS=${BENCH_LIVE_EVENTS:-50000}
	TABLE_SIZE=100000
fi
RUNS=${BENCH_RUNS:-3}
READERS=${BENCH_READERS-framing sidecar raw canal mariadb-binlog full}
LIVE_READERS=${BENCH_LIVE_READERS-none framing raw sidecar replica}
PROBE_EVERY=${BENCH_PROBE_EVERY:-50ms}
CACHE=${BENCH_CACHE:-1}
CACHE_ROOT=${BENCH_CACHE_DIR:-/var/tmp/binlog-sidecar-bench}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$ROOT/bench/results}

NAME=bp        # --log-basename: binlog files are bp-bin.NNNNNN
SERVER_ID=11
REPLICA_SERVER_ID=21
BENCH_FLAGS=(--binlog-annotate-row-events=OFF --innodb-flush-log-at-trx-commit=2 --innodb-log-file-size=512M)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for tool in mariadbd mariadb mariadb-admin mariadb-install-db mariadb-binlog sysbench ss go /usr/bin/time; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binlog-bench.XXXXXX")
RAWDIR=$(mktemp -d /dev/shm/binlog-bench-raw.XXXXXX) # tmpfs, for mariadb-binlog --raw
SERVER_PIDS=()
CHILD_PGID=  # the command run() waits for
READER_PGID= # a live-cost reader running beside sysbench
BUILD_DIR= # a cache entry being built; removed if the build does not finish

# Every mariadbd this script starts dies with it (Ctrl-C, error or success).
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pg
	for pg in $CHILD_PGID $READER_PGID; do
		kill -TERM -- "-$pg" 2>/dev/null || true
	done
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		if ! gone "$pid"; then
			kill -CONT "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	for pid in "${SERVER_PIDS[@]}"; do wait_gone "$pid" 10 || log "mariadbd $pid did not go away"; done
	rm -rf "$WORK" "$RAWDIR"
	[[ -z $BUILD_DIR ]] || rm -rf "$BUILD_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run: a command in a process group of its own, waited for in the
# background, so that Ctrl-C interrupts the wait at once (bash defers traps
# while a foreground command runs, and sysbench does not die of SIGINT) and
# cleanup can end the command with its children.
run() {
	setsid -w "$@" &
	CHILD_PGID=$!
	local rc=0
	wait "$CHILD_PGID" || rc=$?
	CHILD_PGID=
	return "$rc"
}

# gone: the process no longer exists or is a zombie (lab-notes §1.4).
gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z $st || $st == Z ]]
}

wait_gone() { # pid seconds
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		gone "$1" && return 0
		sleep 0.05
	done
	return 1
}

# cpu_ticks: utime+stime of a process (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
utime_ticks() { awk '{print $14}' "/proc/$1/stat"; }
stime_ticks() { awk '{print $15}' "/proc/$1/stat"; }

free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$(shuf -i 20000-32000 -n 1) # below the ephemeral range; never 3306
		if [[ -z $(ss -Hltn "sport = :$p") ]]; then
			echo "$p"
			return 0
		fi
	done
	die "no free port"
}

wait_ping() { # socket pid errorlog
	local i
	for ((i = 0; i < 1200; i++)); do
		if mariadb-admin --no-defaults --socket="$1" -uroot ping >/dev/null 2>&1; then
			return 0
		fi
		if gone "$2"; then
			tail -n 20 "$3" >&2 || true
			die "mariadbd exited during start-up (log: $3)"
		fi
		sleep 0.05
	done
	die "mariadbd not ready after 60 s"
}

sql() { # dir, then mariadb arguments
	local dir=$1
	shift
	mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot "$@"
}

# stop_clean: shutdown that leaves a datadir fit to copy (lab-notes §1.4).
stop_clean() { # dir pid
	kill -CONT "$2" 2>/dev/null || true
	mariadb-admin --no-defaults --socket="$1/mysqld.sock" -uroot shutdown >/dev/null 2>&1 || kill -TERM "$2" 2>/dev/null || true
	wait_gone "$2" 60 || die "mariadbd $2 did not stop"
}

# build_template: an initialised datadir with the users made in a boot
# without binlog and networking (lab-notes §1.2).
build_template() { # datadir
	local data=$1 t
	t=$(dirname "$data")
	run mariadb-install-db --no-defaults --user=root --datadir="$data" \
		--auth-root-authentication-method=socket --skip-test-db --skip-name-resolve >"$t/install.log" 2>&1 ||
		die "mariadb-install-db failed: $(tail -n 20 "$t/install.log")"
	mariadbd --no-defaults --user=root --datadir="$data" --skip-networking \
		--socket="$t/boot.sock" --pid-file="$t/boot.pid" --log-error="$t/boot.err" </dev/null >/dev/null 2>&1 &
	local pid=$!
	disown "$pid" # no "Killed" job notice at cleanup
	SERVER_PIDS+=("$pid")
	wait_ping "$t/boot.sock" "$pid" "$t/boot.err"
	mariadb --no-defaults --socket="$t/boot.sock" -uroot <<'SQL'
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, PROCESS, REPLICATION MASTER ADMIN, SELECT ON *.* TO 'repl'@'%';
CREATE USER 'bench'@'%' IDENTIFIED BY 'bench';
GRANT ALL ON *.* TO 'bench'@'%';
CREATE DATABASE sbtest;
SQL
	mariadb-admin --no-defaults --socket="$t/boot.sock" -uroot shutdown >/dev/null
	wait_gone "$pid" 60 || die "template boot did not stop"
	rm -f "$t"/boot.* "$data"/*.err
}

# start_primary: the benchmark primary of lab-notes §1.3 on $dir/data.
# Sets PORT and PRIMARY_PID.
start_primary() { # dir
	local dir=$1
	PORT=$(free_port)
	setsid mariadbd --no-defaults --user=root --log-basename="$NAME" \
		--datadir="$dir/data" --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
		--bind-address=127.0.0.1 --port="$PORT" --server-id="$SERVER_ID" --log-bin="$NAME-bin" \
		--binlog-format=ROW --log-slave-updates=ON --skip-name-resolve \
		--innodb-buffer-pool-size=256M --max-connections=200 \
		--innodb-buffer-pool-dump-at-shutdown=OFF --innodb-buffer-pool-load-at-startup=OFF \
		"${BENCH_FLAGS[@]}" </dev/null >/dev/null 2>&1 &
	PRIMARY_PID=$!
	disown "$PRIMARY_PID" # no "Killed" job notice at cleanup
	SERVER_PIDS+=("$PRIMARY_PID")
	wait_ping "$dir/mysqld.sock" "$PRIMARY_PID" "$dir/error.log"
	local filepid
	filepid=$(cat "$dir/mysqld.pid")
	[[ $filepid == "$PRIMARY_PID" ]] || die "mariadbd pid $filepid is not the started $PRIMARY_PID"
}

# start_replica: a real MariaDB replica of the primary with its own fresh
# datadir, no binlog, replication not started. Sets REPLICA_PID.
start_replica() { # dir
	local dir=$1 rport
	run mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
		--auth-root-authentication-method=socket --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1 ||
		die "mariadb-install-db (replica) failed: $(tail -n 20 "$dir/install.log")"
	rport=$(free_port)
	setsid mariadbd --no-defaults --user=root --datadir="$dir/data" --socket="$dir/mysqld.sock" \
		--pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" --bind-address=127.0.0.1 --port="$rport" \
		--server-id="$REPLICA_SERVER_ID" --skip-log-bin --skip-slave-start --relay-log=relay --skip-name-resolve \
		--innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 </dev/null >/dev/null 2>&1 &
	REPLICA_PID=$!
	disown "$REPLICA_PID"
	SERVER_PIDS+=("$REPLICA_PID")
	wait_ping "$dir/mysqld.sock" "$REPLICA_PID" "$dir/error.log"
}

# slave_field: one field of SHOW SLAVE STATUS on the replica.
slave_field() { # name
	sql "$REP" -e 'SHOW SLAVE STATUS\G' | sed -n "s/^ *$1: //p"
}

sysbench_cmd() { # dir, then sysbench arguments
	local dir=$1
	shift
	run sysbench --db-driver=mysql --mysql-socket="$dir/mysqld.sock" --mysql-user=bench --mysql-password=bench \
		--mysql-db=sbtest --tables=4 --table-size="$TABLE_SIZE" "$@"
}

master_status() { sql "$1" -N -e 'SHOW MASTER STATUS' | awk '{print $1, $2}'; }

# build_workload: prepare the tables and write the benchmark binlog file of
# lab-notes §4.1 into a file of its own. Writes $dir/meta.
build_workload() { # dir
	local dir=$1 file pos size t0 t1
	log "sysbench prepare: 4 tables x $TABLE_SIZE rows"
	sysbench_cmd "$dir" oltp_write_only prepare --threads=2 >"$dir/prepare.log" 2>&1 ||
		die "sysbench prepare failed: $(tail -n 20 "$dir/prepare.log")"
	sql "$dir" -e 'FLUSH BINARY LOGS'
	read -r file pos < <(master_status "$dir")
	log "sysbench run: $EVENTS transactions into $file"
	t0=$(cpu_ticks "$PRIMARY_PID")
	sysbench_cmd "$dir" oltp_write_only run --threads=2 --events="$EVENTS" --time=0 >"$dir/run.log" 2>&1 ||
		die "sysbench run failed: $(tail -n 20 "$dir/run.log")"
	t1=$(cpu_ticks "$PRIMARY_PID")
	sql "$dir" -e 'FLUSH BINARY LOGS'
	size=$(stat -c %s "$dir/data/$file")
	cat >"$dir/meta" <<EOF
FILE=$file
SIZE=$size
EVENTS=$EVENTS
TABLE_SIZE=$TABLE_SIZE
BUILD_TPS=$(sysbench_tps "$dir/run.log")
BUILD_PRIMARY_CPU=$(cpu_s $((t1 - t0)))
EOF
}

sysbench_tps() { sed -n 's/^ *transactions: .*(\([0-9.]*\) per sec.*/\1/p' "$1"; }
sysbench_wall() { sed -n 's/^ *total time: *\([0-9.]*\)s.*/\1/p' "$1"; }
cpu_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", t / hz}'; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# ---------------------------------------------------------------- build

log "building bench/replay and bench/report"
TAGS=()
[[ " $READERS $LIVE_READERS " == *" sidecar "* ]] || TAGS=(-tags nosidecar)
(cd "$ROOT" && go build "${TAGS[@]}" -o "$WORK/replay" ./bench/replay && go build -o "$WORK/report" ./bench/report) ||
	die "go build failed"
REPLAY=$WORK/replay

# ---------------------------------------------------------------- primary

VERSION=$(mariadbd --version)
KEY=$(printf '%s|%s|%s|%s|v1' "$VERSION" "$EVENTS" "$TABLE_SIZE" "${BENCH_FLAGS[*]}" | md5sum | cut -c1-12)
CACHED=$CACHE_ROOT/$KEY
P=$WORK/primary
mkdir -p "$P"
if [[ $CACHE == 1 && -f $CACHED/meta ]]; then
	log "using the cached datadir and binlog $CACHED"
	cp -a "$CACHED/data" "$P/data"
	cp "$CACHED/meta" "$P/meta"
	start_primary "$P"
elif [[ $CACHE == 1 ]]; then
	mkdir -p "$CACHE_ROOT"
	B=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
	BUILD_DIR=$B
	log "building the workload in $B (cached for later runs)"
	build_template "$B/data"
	start_primary "$B"
	build_workload "$B"
	stop_clean "$B" "$PRIMARY_PID"
	rm -f "$B/mysqld.sock" "$B/mysqld.pid"
	rm -rf "$CACHED"
	mv "$B" "$CACHED"
	BUILD_DIR=
	cp -a "$CACHED/data" "$P/data"
	cp "$CACHED/meta" "$P/meta"
	start_primary "$P"
else
	build_template "$P/data"
	start_primary "$P"
	build_workload "$P"
fi
# shellcheck source=/dev/null
. "$P/meta"
log "primary pid $PRIMARY_PID on 127.0.0.1:$PORT; replaying $FILE, $SIZE bytes ($EVENTS tx, built at $BUILD_TPS tps)"
# Ensure the file is in the page cache, as in lab-notes §4.2.
cat "$P/data/$FILE" >/dev/null

RECORDS=$WORK/records.jsonl
: >"$RECORDS"

# ---------------------------------------------------------------- replay

# run_timed: run a command under /usr/bin/time; sets WALL USER SYS RSS.
run_timed() { # out err command...
	local out=$1 err=$2
	shift 2
	if ! run /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >"$out" 2>"$err"; then
		cat "$err" >&2
		return 1
	fi
	read -r WALL USER SYS RSS < <(tail -n 1 "$WORK/time")
}

replay_one() { # reader round
	local r=$1 round=$2 c0 c1 json la
	sync
	sleep 1
	la=$(loadavg)
	c0=$(cpu_ticks "$PRIMARY_PID")
	if [[ $r == mariadb-binlog ]]; then
		run_timed "$WORK/out" "$WORK/err" mariadb-binlog --no-defaults --read-from-remote-server \
			--host=127.0.0.1 --port="$PORT" --user=repl --password=repl --raw --result-file="$RAWDIR/" "$FILE" ||
			die "reader mariadb-binlog failed"
		local got
		got=$(stat -c %s "$RAWDIR/$FILE" 2>/dev/null || echo 0)
		[[ $got == "$SIZE" ]] || die "reader mariadb-binlog wrote $got bytes, want $SIZE"
		if [[ $round == 1 ]]; then
			cmp -s "$RAWDIR/$FILE" "$P/data/$FILE" || die "mariadb-binlog --raw output differs from $FILE"
		fi
		rm -f "$RAWDIR/$FILE"
		json=$(printf '{"mode":"mariadb-binlog","file":"%s","start":4,"end":%d,"bytes":%d}' "$FILE" "$SIZE" $((SIZE - 4)))
	else
		run_timed "$WORK/out" "$WORK/err" "$REPLAY" -mode "$r" -addr "127.0.0.1:$PORT" -user repl -password repl \
			-file "$FILE" -end "$SIZE" || die "reader $r failed (it must read all of $FILE, $SIZE bytes)"
		json=$(cat "$WORK/out")
	fi
	c1=$(cpu_ticks "$PRIMARY_PID")
	printf '{"phase":"replay","reader":"%s","round":%d,"wall_s":%s,"user_s":%s,"sys_s":%s,"rss_kib":%s,"primary_cpu_s":%s,"loadavg":%s,"result":%s}\n' \
		"$r" "$round" "$WALL" "$USER" "$SYS" "$RSS" "$(cpu_s $((c1 - c0)))" "$la" "$json" >>"$RECORDS"
	log "replay $round/$RUNS $(printf '%-14s' "$r") wall $WALL s  user $USER s  sys $SYS s  rss $((RSS / 1024)) MiB  primary $(cpu_s $((c1 - c0))) s  (load $la)"
}

if [[ -n ${READERS// /} ]]; then
	for ((round = 1; round <= RUNS; round++)); do
		for r in $READERS; do replay_one "$r" "$round"; done
	done
fi

# ---------------------------------------------------------------- live cost

# live_one: a reader attached at the current end while sysbench writes
# LIVE_EVENTS transactions; FLUSH BINARY LOGS ends the file and the reader
# (lab-notes §4.4). The reader `replica` is a real MariaDB replica with only
# its IO thread running; its CPU is its mariadbd's from START SLAVE
# IO_THREAD until it has read the file's ROTATE.
live_one() { # reader round
	local r=$1 round=$2 file pos c0 c1 size la rpid json='null' tps wall u0 s0 next i
	sync
	sleep 1
	la=$(loadavg)
	read -r file pos < <(master_status "$P")
	c0=$(cpu_ticks "$PRIMARY_PID")
	WALL=0 USER=0 SYS=0 RSS=0
	if [[ $r == replica ]]; then
		sql "$REP" -e "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PORT, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_LOG_FILE='$file', MASTER_LOG_POS=$pos, MASTER_USE_GTID=no, MASTER_HEARTBEAT_PERIOD=1"
		u0=$(utime_ticks "$REPLICA_PID")
		s0=$(stime_ticks "$REPLICA_PID")
		sql "$REP" -e 'START SLAVE IO_THREAD'
		sleep 0.3
	elif [[ $r != none ]]; then
		local probe=()
		[[ $r == sidecar ]] && probe=(-probe-every "$PROBE_EVERY")
		# Own process group, so cleanup can stop it with its child.
		setsid -w /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$REPLAY" -mode "$r" -addr "127.0.0.1:$PORT" \
			-user repl -password repl -file "$file" -start "$pos" -end 0 "${probe[@]}" >"$WORK/out" 2>"$WORK/err" &
		rpid=$!
		READER_PGID=$rpid
		sleep 0.3
	fi
	sysbench_cmd "$P" oltp_write_only run --threads=2 --events="$LIVE_EVENTS" --time=0 >"$WORK/sb.log" 2>&1 ||
		die "sysbench run failed: $(tail -n 5 "$WORK/sb.log")"
	sql "$P" -e 'FLUSH BINARY LOGS'
	size=$(stat -c %s "$P/data/$file")
	if [[ $r == replica ]]; then
		# Read to the end: the IO thread moved on to the next file.
		for ((i = 0; i < 2400; i++)); do
			next=$(slave_field Master_Log_File)
			[[ -n $next && $next != "$file" ]] && break
			sleep 0.05
		done
		[[ -n $next && $next != "$file" ]] ||
			die "replica IO thread did not read $file to its end: $(slave_field Last_IO_Error)"
		USER=$(cpu_s $(($(utime_ticks "$REPLICA_PID") - u0)))
		SYS=$(cpu_s $(($(stime_ticks "$REPLICA_PID") - s0)))
		RSS=$(awk '/^VmRSS:/{print $2}' "/proc/$REPLICA_PID/status")
		sql "$REP" -e 'STOP SLAVE IO_THREAD'
		json=$(printf '{"mode":"replica","file":"%s","start":%d,"end":%d,"bytes":%d}' "$file" "$pos" "$size" $((size - pos)))
	elif [[ $r != none ]]; then
		if ! wait "$rpid"; then
			cat "$WORK/err" >&2
			die "live reader $r failed"
		fi
		READER_PGID=
		read -r WALL USER SYS RSS < <(tail -n 1 "$WORK/time")
		json=$(cat "$WORK/out")
		local bytes
		bytes=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' <<<"$json")
		[[ $bytes == $((size - pos)) ]] || die "live reader $r read $bytes bytes of $file, want $((size - pos))"
	fi
	c1=$(cpu_ticks "$PRIMARY_PID")
	tps=$(sysbench_tps "$WORK/sb.log")
	wall=$(sysbench_wall "$WORK/sb.log")
	printf '{"phase":"live","reader":"%s","round":%d,"tps":%s,"sysbench_wall_s":%s,"wall_s":%s,"user_s":%s,"sys_s":%s,"rss_kib":%s,"primary_cpu_s":%s,"loadavg":%s,"result":%s}\n' \
		"$r" "$round" "$tps" "$wall" "$WALL" "$USER" "$SYS" "$RSS" "$(cpu_s $((c1 - c0)))" "$la" "$json" >>"$RECORDS"
	log "live   $round/$RUNS $(printf '%-8s' "$r") sysbench $tps tps in $wall s  reader user $USER s sys $SYS s  primary $(cpu_s $((c1 - c0))) s  (load $la)"
}

if [[ " $LIVE_READERS " == *" replica "* ]]; then
	REP=$WORK/replica
	mkdir -p "$REP"
	log "starting a replica for the live part (IO thread only)"
	start_replica "$REP"
fi

if [[ -n ${LIVE_READERS// /} ]]; then
	for ((round = 1; round <= RUNS; round++)); do
		for r in $LIVE_READERS; do live_one "$r" "$round"; done
	done
fi

# ---------------------------------------------------------------- report

mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y-%m-%d-%H%M%S)
[[ $QUICK == 1 ]] && STAMP=$STAMP-quick
"$WORK/report" -records "$RECORDS" -out "$RESULTS_DIR/$STAMP.json" \
	-file "$FILE" -size "$SIZE" -transactions "$EVENTS" -build-tps "$BUILD_TPS" \
	-live-transactions "$LIVE_EVENTS" -mariadbd "$VERSION" -quick="$([[ $QUICK == 1 ]] && echo true || echo false)"
log "results written to $RESULTS_DIR/$STAMP.json"
