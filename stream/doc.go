// Package stream holds the pure model of the binlog stream the sidecar tails:
// positions, the meter that turns received events into rates, sizes and lag,
// and the backoff used by reconnect loops. It imports only the standard
// library; stream/binlog is the only package that talks to go-mysql.
package stream
