// Package stream holds the pure model of the binlog stream the sidecar tails:
// positions, the meter that turns received events into rates, sizes and lag,
// and the backoff used by reconnect loops. It imports only the standard
// library; stream/binlog is the only package that talks to go-mysql.
//
// The Meter has one writer, the binlog adapter, which fills a Batch per
// transaction without locking and commits it with one lock (Meter.Commit),
// allocation-free in steady state; and any number of readers, which take
// copies (Meter.Snapshot for the cumulative state, Meter.TakeInterval for
// the figures of one stream.stats interval). Per-table figures are kept in
// bounded space-saving summaries, never in a map of every table seen. Lag,
// liveness (Snapshot.Stalled) and catch-up are defined on Meter.
package stream
