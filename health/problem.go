package health

import (
	"encoding/json"
	"fmt"
	"time"
)

// Severity is how urgent a finding is; the values are the contract's.
type Severity string

// Severities, from least to most urgent.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// State is a problem's life-cycle state in its events.
type State string

// Problem states.
const (
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Problem is one active finding, e.g. a replica that is missing. Its ID is
// stable from firing to resolution, so consumers can pair the two events.
type Problem struct {
	Type        string         `json:"type"` // short event type, e.g. "replica.missing"
	ID          string         `json:"problem_id"`
	Subject     string         `json:"subject"` // the object it is about, e.g. "replica/db-2:3306"
	Severity    Severity       `json:"severity"`
	Since       time.Time      `json:"since"`
	Summary     string         `json:"summary"`
	Remediation string         `json:"remediation"`
	Evidence    map[string]any `json:"evidence"`
}

// Transition is a problem that started firing or was resolved.
type Transition struct {
	Problem Problem
	State   State
	At      time.Time
}

// Status is the overall health of the server as the sidecar sees it.
type Status int

// Statuses; the numbers are the value of binlog_sidecar_health_status.
const (
	StatusOK Status = iota
	StatusDegraded
	StatusCritical
)

// String returns the contract's name for the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusDegraded:
		return "degraded"
	case StatusCritical:
		return "critical"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// MarshalJSON writes the status by name.
func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// StatusOf is critical while any critical problem fires, degraded while any
// warning fires, else ok.
func StatusOf(problems []Problem) Status {
	st := StatusOK
	for _, p := range problems {
		switch p.Severity {
		case SeverityCritical:
			return StatusCritical
		case SeverityWarning:
			st = StatusDegraded
		}
	}
	return st
}

// Server identifies the database server the sidecar watches.
type Server struct {
	Flavor     string `json:"flavor"`
	Version    string `json:"version"`
	ServerID   uint32 `json:"server_id"`
	ServerUUID string `json:"server_uuid,omitempty"`
}
