#!/usr/bin/env bash
# Installs, from Debian's packages, the servers and tools the tests, the
# demo and the benchmarks start themselves. Only what is missing is
# installed, so on a prepared machine this is a no-op. Packaged services are
# not started (and need not be): every test starts its own throwaway server.
#   usage: scripts/deps.sh [test|demo|bench]
set -euo pipefail
want=(mariadbd:mariadb-server mariadb-install-db:mariadb-server mariadb-admin:mariadb-client
      mariadb-binlog:mariadb-client nats-server:nats-server curl:curl python3:python3)
case "${1:-test}" in
  test) want+=(puppet:puppet puppet-lint:puppet-lint promtool:prometheus ip:iproute2 tc:iproute2 chromium:chromium) ;;
  bench) want+=(sysbench:sysbench /usr/bin/time:time ss:iproute2) ;;
  demo) ;;
esac
missing=()
for pair in "${want[@]}"; do
  bin=${pair%%:*} pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
done
# natscli, the operators' NATS client, reads the events in the end-to-end
# test; it comes from the Go module proxy, not Debian.
if [ "${1:-test}" = test ] && ! command -v nats >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/nats" ]; then
  echo "deps: installing natscli v0.5.0 with go install" >&2
  go install github.com/nats-io/natscli/nats@v0.5.0
fi
# Compose v2+ (`docker-compose config` checks deploy/compose/compose.yaml):
# Debian's docker-compose is the old 1.x, so it is built from its Go module
# into GOPATH/bin, where the test looks first.
compose=github.com/docker/compose/v5
if [ "${1:-test}" = test ] && [ ! -x "$(go env GOPATH)/bin/docker-compose" ]; then
  echo "deps: building docker-compose (Compose v5.6.0) from its Go module" >&2
  dir=$(go mod download -json "$compose@v5.6.0" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  (cd "$dir" && go build -trimpath -ldflags "-X $compose/internal.Version=v5.6.0" -o "$(go env GOPATH)/bin/docker-compose" ./cmd)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d may refuse to start the packaged services; that is fine.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
