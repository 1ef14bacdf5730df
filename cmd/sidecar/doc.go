// Command sidecar watches the health of a MySQL/MariaDB replication stream
// from the inside: it tails the binlog as a pseudo-replica, reads the
// server's replication state, decides health, serves probes and metrics,
// and publishes events to NATS. See README.md and contract.md.
package main
