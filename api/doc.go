// Package api serves the sidecar's HTTP endpoints: /livez, /readyz,
// /metrics (Prometheus text, OpenMetrics on request), /status (JSON) and
// the status page at / (HTML with its style and script inline, fed by the
// same snapshot as /status and by History, the page's in-memory 15 minutes
// of stream rates and last 50 problem transitions).
// Handlers only render: the figures come from snapshots taken from the
// stream meter, the health monitor and the event publisher, so that a
// scrape never holds a lock on the binlog hot path and every endpoint agrees.
package api
