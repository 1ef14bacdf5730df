package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// Every fleet finding's event, firing and resolved, is valid against the
// schema, carries the finding's stable problem id and its evidence.
func TestFromFleet_Schema(t *testing.T) {
	sch := compileSchemaV1(t)
	b := events.NewBuilder("fleet", "publisher-1")
	since := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	for _, typ := range fleet.FindingTypes() {
		for _, state := range []health.State{health.StateFiring, health.StateResolved} {
			f := fleet.Finding{Type: typ, Subject: "replica/db-3:3306", Severity: fleet.SeverityCritical, Summary: "s",
				Evidence: fleet.Evidence{ExpectedBy: []string{"prod/a"}, ConnectedTo: []string{"prod/b"}, ServerID: 3}}
			e := b.FromFleet(events.FleetTransition{Finding: f, State: state, Since: since})
			raw, err := events.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(instance(t, raw)); err != nil {
				t.Errorf("%s %s: %v\n%s", typ, state, err, raw)
			}
			for _, want := range []string{`"problem_id":"` + f.ProblemID() + `"`, `"expected_by":["prod/a"]`, `"since":"2026-12-04T21:00:00Z"`, `"state":"` + string(state) + `"`} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("%s %s: no %s in %s", typ, state, want, raw)
				}
			}
		}
	}
	if got := events.FleetSubject("mysql.health", fleet.TypeReplicaShared); got != "mysql.health.fleet.replica_shared" {
		t.Errorf("subject %q", got)
	}
}
