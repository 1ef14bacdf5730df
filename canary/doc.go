// Package canary is the commit-latency canary (SIDECAR_CANARY): every
// interval it upserts one row for its instance in binlog_sidecar.heartbeat
// on its own connection and measures two latencies on one clock: commit
// (how long the write took to return, semi-sync waits included: what every
// application transaction pays) and delivery (from the write to its row
// event arriving on the sidecar's own binlog stream).
//
// The pure part (latency.go: summaries, the slow streak, matching rows to
// writes) is apart from the SQL adapter (sql.go). A write never harms the
// sidecar: at most one is in flight, it runs under statement and lock
// timeouts, and one still blocked after Timeout is killed with KILL QUERY
// from another connection, as Vitess's heartbeat writer does.
package canary
