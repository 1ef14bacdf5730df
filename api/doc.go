// Package api serves the sidecar's HTTP endpoints: /livez, /readyz,
// /metrics (Prometheus text, OpenMetrics on request) and /status (JSON).
// Handlers only render: the figures come from snapshots taken from the
// stream meter, the health monitor and the event publisher, so that a
// scrape never holds a lock on the binlog hot path and every endpoint agrees.
package api
