package fleet

import (
	"slices"
	"time"
)

// DefaultEvery is the longest time between two puts of a sidecar's status
// (SIDECAR_NATS_KV_EVERY); a document older than StaleAfter periods is stale.
const (
	DefaultEvery = 10 * time.Second
	StaleAfter   = 3
)

// Document is one sidecar's status as it puts it into the bucket: the
// /status document without bulky evidence, with its inventory and its own
// server_id, so that a reader of the bucket alone can compare primaries.
type Document struct {
	Cluster         string          `json:"cluster"`
	Instance        string          `json:"instance"`
	At              time.Time       `json:"at"`
	Health          string          `json:"health"`
	Server          Server          `json:"server"`
	SidecarServerID uint32          `json:"sidecar_server_id"`
	Stream          Stream          `json:"stream"`
	Replicas        []Replica       `json:"replicas"`
	Inventory       []InventoryItem `json:"inventory"`
	Problems        []Problem       `json:"problems"`
}

// Server is the primary the sidecar watches.
type Server struct {
	Flavor     string `json:"flavor"`
	Version    string `json:"version"`
	ServerID   uint32 `json:"server_id"`
	ServerUUID string `json:"server_uuid,omitempty"`
}

// Stream is the sidecar's binlog stream in brief. LagSeconds is nil when
// the lag is not known (never written as 0).
type Stream struct {
	Connected  bool     `json:"connected"`
	PerSecond  float64  `json:"per_second"`
	LagSeconds *float64 `json:"lag_seconds"`
	Position   Position `json:"position"`
}

// Position is a binlog position.
type Position struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	GTID string `json:"gtid,omitempty"`
}

// Replica is a replica as the primary's /status lists it: connected,
// missing (expected and absent), unknown (connected, not expected) or
// zombie. IPs are the addresses an expected replica's name resolved to.
type Replica struct {
	Address  string `json:"address"`
	ServerID uint32 `json:"server_id,omitempty"`
	Status   string `json:"status"`
	Expected bool   `json:"expected"`
}

// InventoryItem is one expected replica as configured, with the addresses
// its name resolved to (a replica connected elsewhere shows up by IP).
type InventoryItem struct {
	Address  string   `json:"address"`
	SemiSync bool     `json:"semisync"`
	IPs      []string `json:"ips,omitempty"`
}

// Problem is an active problem, without its evidence.
type Problem struct {
	Type     string    `json:"type"`
	Subject  string    `json:"subject"`
	Severity string    `json:"severity"`
	Since    time.Time `json:"since"`
	Summary  string    `json:"summary"`
}

// Replica statuses, as /status names them.
const (
	ReplicaConnected = "connected"
	ReplicaMissing   = "missing"
	ReplicaUnknown   = "unknown"
	ReplicaZombie    = "zombie"
)

// SameState reports whether a and b differ only in the figures that move
// all the time (when, rate, lag, position): a sidecar puts its document at
// once when the state changes and refreshes the figures every period.
func SameState(a, b Document) bool {
	return a.Cluster == b.Cluster && a.Instance == b.Instance && a.Health == b.Health &&
		a.Server == b.Server && a.SidecarServerID == b.SidecarServerID &&
		a.Stream.Connected == b.Stream.Connected &&
		slices.Equal(a.Replicas, b.Replicas) &&
		slices.EqualFunc(a.Inventory, b.Inventory, func(x, y InventoryItem) bool {
			return x.Address == y.Address && x.SemiSync == y.SemiSync && slices.Equal(x.IPs, y.IPs)
		}) &&
		slices.EqualFunc(a.Problems, b.Problems, func(x, y Problem) bool {
			return x.Type == y.Type && x.Subject == y.Subject && x.Severity == y.Severity && x.Since.Equal(y.Since)
		})
}

// Counts are a primary's replicas by status.
func (d Document) Counts() map[string]int {
	c := map[string]int{ReplicaConnected: 0, ReplicaMissing: 0, ReplicaUnknown: 0, ReplicaZombie: 0}
	for _, r := range d.Replicas {
		c[r.Status]++
	}
	return c
}
