// Package fleetbench measures the fleet on a real three-node nats-server
// cluster: N simulated sidecars, each the sidecar's own events publisher
// (spool, JetStream, a stream.stats every 10 s) and key-value status
// writer (fleet/kv.Writer, a put on every change of state and every 10
// s), and one reader doing what `sidecar fleet`'s live view does every
// second (kv.Follower, fleet.Compute). It changes the state of one
// sidecar after another and reports how long each change took to show in
// the view (p50, p99), the nats-server processes' CPU and memory, and the
// bytes per second through them.
//
// `make bench-fleet` runs it with 1,000 sidecars for 60 s; `make test` runs
// the same test with 20 sidecars for 5 s as a smoke test. Knobs:
// BENCH_FLEET_SIDECARS, BENCH_FLEET_DURATION, BENCH_FLEET_CHANGES (state
// changes per second).
package fleetbench
