# Bash functions that start throwaway mariadbd instances for the demo, as
# internal/testdb does for the tests (lab-notes §1.2–1.4): a template datadir
# built once without binlog or networking, then one copy per instance with
# its own port, server_id, binlog and socket. Source it; set WORK first.

: "${WORK:?set WORK to a scratch directory}"

free_port() {
  python3 - <<'PY' 2>/dev/null || shuf -i 20000-39999 -n 1
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

wait_ping() { # socket
  for _ in $(seq 1 600); do
    mariadb-admin --no-defaults --socket="$1" -uroot ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

build_template() {
  local t="$WORK/template"
  [ -d "$t/data/mysql" ] && return 0
  mkdir -p "$t"
  mariadb-install-db --no-defaults --user=root --datadir="$t/data" \
    --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve >"$t/install.log" 2>&1
  mariadbd --no-defaults --user=root --datadir="$t/data" --skip-networking \
    --socket="$t/boot.sock" --pid-file="$t/boot.pid" --log-error="$t/boot.err" </dev/null >/dev/null 2>&1 &
  local pid=$!
  wait_ping "$t/boot.sock" || { cat "$t/boot.err" >&2; return 1; }
  # Users are created before any binlog exists, so replicas never replay them.
  mariadb --no-defaults --socket="$t/boot.sock" -uroot <<'SQL'
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, PROCESS, REPLICATION MASTER ADMIN, SELECT ON *.* TO 'repl'@'%';
CREATE USER 'sidecar'@'%' IDENTIFIED BY 'sidecar';
GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR, PROCESS ON *.* TO 'sidecar'@'%';
CREATE USER 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL ON *.* TO 'app'@'%';
CREATE DATABASE shop;
SQL
  mariadb-admin --no-defaults --socket="$t/boot.sock" -uroot shutdown
  wait "$pid" 2>/dev/null || true
  rm -f "$t"/boot.* "$t"/data/*.err
}

# start_instance NAME SERVER_ID [extra mariadbd flags...]; sets PORT_<NAME> and PID_<NAME>.
start_instance() {
  local name=$1 sid=$2; shift 2
  local d="$WORK/$name" port
  port=$(free_port)
  rm -rf "$d"; mkdir -p "$d"
  cp -a "$WORK/template/data" "$d/data"
  mariadbd --no-defaults --user=root --log-basename="$name" \
    --datadir="$d/data" --socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" --log-error="$d/error.log" \
    --bind-address=127.0.0.1 --port="$port" --server-id="$sid" --log-bin="$name-bin" \
    --binlog-format=ROW --log-slave-updates=ON --skip-name-resolve \
    --innodb-buffer-pool-size=64M --max-connections=200 \
    --innodb-buffer-pool-dump-at-shutdown=OFF --innodb-buffer-pool-load-at-startup=OFF \
    "$@" </dev/null >/dev/null 2>&1 &
  local pid=$!
  echo "$pid" >"$d/pid"
  wait_ping "$d/mysqld.sock" || { echo "mariadbd $name did not start:" >&2; tail -20 "$d/error.log" >&2; return 1; }
  printf -v "PORT_$name" '%s' "$port"
  printf -v "PID_$name" '%s' "$pid"
}

sql() { # NAME SQL...
  local name=$1; shift
  mariadb --no-defaults --socket="$WORK/$name/mysqld.sock" -uroot -e "$*"
}

stop_all() {
  local p
  for p in "$WORK"/*/pid; do
    [ -f "$p" ] || continue
    kill -CONT "$(cat "$p")" 2>/dev/null || true
    kill -KILL "$(cat "$p")" 2>/dev/null || true
  done
}
