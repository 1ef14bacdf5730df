package stream

// LatencySummary is a latency distribution in milliseconds over some
// window: the median, the 99th percentile (nearest rank) and the maximum.
type LatencySummary struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// CanaryInterval is the commit-latency canary's figures for one stats
// interval (stream.stats `canary`). A summary is nil when the interval had
// no sample of it: an unknown figure is left out, never a fake 0.
type CanaryInterval struct {
	Writes     int             `json:"writes"`
	CommitMS   *LatencySummary `json:"commit_ms,omitempty"`
	DeliveryMS *LatencySummary `json:"delivery_ms,omitempty"`
	// State and Reason say why there are no writes (skipped on a
	// read-only server, unavailable without privileges).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}
