package events

import (
	"encoding/json"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// FleetSubject is the subject of a fleet finding's event:
// <prefix>.fleet.<type>, e.g. mysql.health.fleet.replica_misdirected (the
// finding's type already starts with "fleet.").
func FleetSubject(prefix, typ string) string { return prefix + "." + typ }

// FleetTransition is a cross-primary finding that started firing or was
// resolved, as `sidecar fleet --publish` sends it.
type FleetTransition struct {
	Finding fleet.Finding
	State   health.State
	Since   time.Time
}

// FromFleet is the problem event of a fleet finding's transition: the
// usual envelope and problem data, the finding's stable problem id, its
// evidence as an object. The builder's cluster and instance name the
// publisher, not a primary.
func (b *Builder) FromFleet(t FleetTransition) Event {
	f := t.Finding
	summary := f.Summary
	if t.State == health.StateResolved {
		summary = "Resolved: " + summary
	}
	var evidence map[string]any
	if raw, err := json.Marshal(f.Evidence); err == nil {
		_ = json.Unmarshal(raw, &evidence) // a struct of strings, numbers and lists: it round-trips
	}
	e := b.envelope(f.Type, f.Subject)
	e.Data = ProblemData{
		Common: b.common(health.Severity(f.Severity), clip(summary, maxTextBytes)), State: t.State, ProblemID: f.ProblemID(),
		Since: rfc3339(t.Since), Remediation: fleetRemediation[f.Type], Evidence: boundMap(evidence),
	}
	return e
}

// fleetRemediation says what to do about each finding type.
var fleetRemediation = map[string]string{
	fleet.TypeReplicaMisdirected: "Point the replica back at the primary that expects it (CHANGE MASTER TO / CHANGE REPLICATION SOURCE TO), or move it to the other primary's inventory if the move was intended.",
	fleet.TypeReplicaShared:      "Stop replication on one of the two primaries' connections: a replica must have one source per channel.",
	fleet.TypeSidecarSilent:      "Check the sidecar's process and its connection to NATS (its /livez and logs); its primary is unwatched meanwhile.",
	fleet.TypeServerIDConflict:   "Give each server and each sidecar its own server_id (SIDECAR_SERVER_ID for a sidecar).",
}
