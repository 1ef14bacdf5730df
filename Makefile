# The two commands a new machine needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/sidecar
TEST_FLAGS ?= -race -count=1 -timeout 25m

.PHONY: all build test vet unit demo bench bench-quick bench-fleet soak fuzz clean deps

all: build

build:
	bash scripts/build.sh $(BIN)

deps:
	bash scripts/deps.sh test

# The whole suite, real MariaDB and NATS servers included (each test starts
# its own on free ports). Under CI=1 a server that cannot start fails the run.
test: deps
	$(GO) vet ./...
	BINLOG_SIDECAR_LONG=1 $(GO) test $(TEST_FLAGS) ./...

# Without real servers: pure unit tests and in-process ones (embedded NATS,
# httptest); -short makes every MariaDB, nats-server and netns test skip.
unit:
	$(GO) test -count=1 -short ./...

demo: build
	bash scripts/deps.sh demo
	bash scripts/demo.sh

bench:
	bash scripts/deps.sh bench
	bash bench/run.sh

# A ~20 MB version of the same, about a minute.
bench-quick:
	bash scripts/deps.sh bench
	BENCH_QUICK=1 bash bench/run.sh

# 1,000 simulated sidecars (the sidecar's own publisher and status writer)
# on a three-node nats-server cluster for 60 s: change-to-view latency,
# the servers' CPU, memory and bytes per second (bench/fleet). make test
# runs the same test with 20 for 5 s.
bench-fleet:
	BENCH_FLEET_SIDECARS=$${BENCH_FLEET_SIDECARS:-1000} BENCH_FLEET_DURATION=$${BENCH_FLEET_DURATION:-60s} \
		$(GO) test -count=1 -timeout 20m -run TestFleetScale -v ./bench/fleet/

# The steady state must be silent: SOAK_DURATION (default 10m) of sysbench
# load with a healthy semi-sync replica; fails if any problem fires.
soak: build
	bash scripts/deps.sh bench
	bash scripts/soak.sh

fuzz:
	$(GO) test ./mycnf -run '^$$' -fuzz FuzzParse -fuzztime 60s

clean:
	rm -rf bin .demo
