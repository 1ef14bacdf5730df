package fleet

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func doc(cluster, instance string, serverID, sidecarID uint32, replicas []Replica, inv ...InventoryItem) *Document {
	return &Document{Cluster: cluster, Instance: instance, At: t0, Health: "ok",
		Server: Server{Flavor: "mariadb", ServerID: serverID}, SidecarServerID: sidecarID,
		Replicas: replicas, Inventory: inv}
}

func withBinlog(d *Document, file string) *Document { d.Stream.Position.File = file; return d }
func withUUID(d *Document, uuid string) *Document   { d.Server.ServerUUID = uuid; return d }

func entry(d *Document, updated time.Time) Entry {
	return Entry{Key: d.Cluster + "." + d.Instance, Doc: d, Updated: updated}
}

type found struct{ typ, subject string }

func findings(v View) []found {
	var out []found
	for _, f := range v.Findings {
		out = append(out, found{f.Type, f.Subject})
	}
	return out
}

func TestCompute(t *testing.T) {
	every := 10 * time.Second
	r3 := InventoryItem{Address: "db-3:3306", IPs: []string{"10.0.0.3"}}
	for _, tc := range []struct {
		name    string
		entries []Entry
		want    []found
		stale   []bool // by primary, sorted
	}{
		{name: "healthy pair: nothing", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", ServerID: 3, Status: ReplicaConnected, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9002, nil), t0),
		}, stale: []bool{false, false}},
		{name: "misdirected: missing at a, connected to b by IP and port", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", Status: ReplicaMissing, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9002, []Replica{{Address: "10.0.0.3:3306", ServerID: 3, Status: ReplicaUnknown}}), t0),
		}, want: []found{{TypeReplicaMisdirected, "replica/db-3:3306"}}, stale: []bool{false, false}},
		{name: "misdirected: a bare connection IP matches the resolved address", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", Status: ReplicaMissing, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9002, []Replica{{Address: "10.0.0.3", Status: ReplicaConnected}}), t0),
		}, want: []found{{TypeReplicaMisdirected, "replica/db-3:3306"}}, stale: []bool{false, false}},
		{name: "not misdirected: another port on that host", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", Status: ReplicaMissing, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9002, []Replica{{Address: "10.0.0.3:3307", ServerID: 4, Status: ReplicaUnknown}}), t0),
		}, stale: []bool{false, false}},
		{name: "not misdirected: the other primary is stale, so silent only", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", Status: ReplicaMissing, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9002, []Replica{{Address: "db-3:3306", ServerID: 3, Status: ReplicaUnknown}}), t0.Add(-31*time.Second)),
		}, want: []found{{TypeSidecarSilent, "sidecar/prod/b"}}, stale: []bool{false, true}},
		{name: "shared: one server_id connected to two primaries", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", ServerID: 3, Status: ReplicaConnected, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9002, []Replica{{Address: "10.0.0.3:3306", ServerID: 3, Status: ReplicaUnknown}}), t0),
		}, want: []found{{TypeReplicaShared, "server_id/3"}}, stale: []bool{false, false}},
		{name: "shared: no server_id, same address", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "10.0.0.3", Status: ReplicaConnected}}), t0),
			entry(doc("prod", "b", 2, 9002, []Replica{{Address: "10.0.0.3", Status: ReplicaZombie}}), t0),
		}, want: []found{{TypeReplicaShared, "replica/10.0.0.3"}}, stale: []bool{false, false}},
		{name: "silent: exactly three periods is not stale yet", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, nil), t0.Add(-30*time.Second)),
		}, stale: []bool{false}},
		{name: "silent: gone key without a document", entries: []Entry{
			{Key: "prod.c", Gone: true, Updated: t0},
		}, want: []found{{TypeSidecarSilent, "sidecar/prod.c"}}, stale: []bool{}},
		{name: "silent: the document's time when the server's is unknown", entries: []Entry{
			{Key: "prod.a", Doc: &Document{Cluster: "prod", Instance: "a", At: t0.Add(-time.Hour)}},
		}, want: []found{{TypeSidecarSilent, "sidecar/prod/a"}}, stale: []bool{true}},
		{name: "server_id conflict: two primaries (binlog names differ)", entries: []Entry{
			entry(withBinlog(doc("prod", "a", 7, 9001, nil), "a-bin.000003"), t0),
			entry(withBinlog(doc("prod", "b", 7, 9002, nil), "b-bin.000001"), t0),
		}, want: []found{{TypeServerIDConflict, "server_id/7"}}, stale: []bool{false, false}},
		{name: "server_id conflict: two MySQL primaries (server_uuid differs)", entries: []Entry{
			entry(withUUID(doc("prod", "a", 7, 9001, nil), "u1"), t0),
			entry(withUUID(doc("prod", "b", 7, 9002, nil), "u2"), t0),
		}, want: []found{{TypeServerIDConflict, "server_id/7"}}, stale: []bool{false, false}},
		{name: "no conflict: two sidecars of one MySQL primary", entries: []Entry{
			entry(withUUID(doc("prod", "a", 7, 9001, nil), "u1"), t0),
			entry(withUUID(doc("prod", "b", 7, 9002, nil), "u1"), t0),
		}, stale: []bool{false, false}},
		{name: "server_id conflict: two sidecars", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, nil), t0),
			entry(doc("prod", "b", 2, 9001, nil), t0),
		}, want: []found{{TypeServerIDConflict, "server_id/9001"}}, stale: []bool{false, false}},
		{name: "no conflict: another sidecar of the same primary, listed as its replica", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "10.0.0.9", ServerID: 9003, Status: ReplicaUnknown}}), t0),
			entry(doc("prod", "c", 1, 9003, []Replica{{Address: "10.0.0.9", ServerID: 9001, Status: ReplicaUnknown}}), t0),
		}, stale: []bool{false, false}},
		{name: "conflict: a sidecar's id on a replica of another primary", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "10.0.0.9", ServerID: 9003, Status: ReplicaConnected}}), t0),
			entry(doc("prod", "c", 2, 9003, nil), t0),
		}, want: []found{{TypeServerIDConflict, "server_id/9003"}}, stale: []bool{false, false}},
		{name: "no conflict: a primary that is a replica of another (a chain)", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-b:3306", ServerID: 2, Status: ReplicaConnected}}), t0),
			entry(doc("prod", "b", 2, 9002, nil), t0),
		}, stale: []bool{false, false}},
		{name: "all four", entries: []Entry{
			entry(doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", Status: ReplicaMissing, Expected: true}}, r3), t0),
			entry(doc("prod", "b", 2, 9001, []Replica{{Address: "10.0.0.3:3306", ServerID: 3, Status: ReplicaUnknown}}), t0),
			entry(doc("prod", "c", 4, 9003, []Replica{{Address: "db-3:3306", ServerID: 3, Status: ReplicaConnected}}), t0),
			entry(doc("prod", "d", 5, 9005, nil), t0.Add(-time.Minute)),
		}, want: []found{
			{TypeReplicaMisdirected, "replica/db-3:3306"},
			{TypeReplicaShared, "server_id/3"},
			{TypeServerIDConflict, "server_id/9001"},
			{TypeSidecarSilent, "sidecar/prod/d"},
		}, stale: []bool{false, false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Compute(tc.entries, t0, every)
			if got := findings(v); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v\n%+v", got, tc.want, v.Findings)
			}
			var stale []bool
			for _, p := range v.Primaries {
				stale = append(stale, p.Stale)
			}
			if !slices.Equal(stale, tc.stale) {
				t.Errorf("stale %v, want %v", stale, tc.stale)
			}
			// Deterministic: the same entries in another order give the same view.
			rev := slices.Clone(tc.entries)
			slices.Reverse(rev)
			if got := findings(Compute(rev, t0, every)); !slices.Equal(got, findings(v)) {
				t.Errorf("reversed input: findings %v, want %v", got, findings(v))
			}
		})
	}
}

func TestSameState(t *testing.T) {
	lag := 1.5
	base := *doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", ServerID: 3, Status: ReplicaConnected}})
	moved := base
	moved.At = t0.Add(time.Second)
	moved.Stream = Stream{Connected: false, PerSecond: 12, LagSeconds: &lag, Position: Position{File: "b.000002", Pos: 9}}
	if !SameState(base, moved) {
		t.Error("a change of time, rate, lag or position is a change of state")
	}
	for name, change := range map[string]func(d *Document){
		"health":    func(d *Document) { d.Health = "critical" },
		"connected": func(d *Document) { d.Stream.Connected = true },
		"replica":   func(d *Document) { d.Replicas = []Replica{{Address: "db-3:3306", ServerID: 3, Status: ReplicaZombie}} },
		"problem":   func(d *Document) { d.Problems = []Problem{{Type: "replica.missing", Subject: "replica/x"}} },
		"inventory": func(d *Document) { d.Inventory = []InventoryItem{{Address: "x:1"}} },
		"server_id": func(d *Document) { d.Server.ServerID = 2 },
	} {
		d := base
		d.Replicas = slices.Clone(base.Replicas)
		change(&d)
		if SameState(base, d) {
			t.Errorf("%s: a change not seen", name)
		}
	}
}

func TestWriteText(t *testing.T) {
	lag := 0.25
	a := doc("prod", "a", 1, 9001, []Replica{{Address: "db-3:3306", Status: ReplicaMissing, Expected: true}, {Address: "db-4:3306", Status: ReplicaConnected}})
	a.Stream = Stream{Connected: true, PerSecond: 12.5, LagSeconds: &lag}
	a.Problems = []Problem{{Type: "replica.missing", Subject: "replica/db-3:3306"}}
	v := Compute([]Entry{entry(a, t0), entry(doc("prod", "b", 2, 9002, nil), t0.Add(-time.Hour))}, t0, 10*time.Second)
	var b strings.Builder
	if err := WriteText(&b, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"fleet at 2026-12-04T12:00:00Z: 2 primaries, 1 findings",
		"prod/a", "12.5 ev/s", "0.2s", "1 connected, 1 missing", "replica.missing replica/db-3:3306",
		"prod/b (stale)", "down", "?", "none",
		"fleet.sidecar_silent", "sidecar/prod/b",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}

func TestFilter(t *testing.T) {
	es := []Entry{entry(doc("prod", "a", 1, 1, nil), t0), entry(doc("stage", "a", 1, 1, nil), t0), {Key: "prod.gone", Gone: true}, {Key: "production.x", Gone: true}}
	got := Filter(es, "prod", "prod")
	if len(got) != 2 || got[0].Doc.Cluster != "prod" || got[1].Key != "prod.gone" {
		t.Errorf("filtered %+v", got)
	}
	if len(Filter(es, "", "")) != 4 {
		t.Error("no filter dropped entries")
	}
}

func TestSameView(t *testing.T) {
	base := View{At: t0, Primaries: []Primary{{Document: *doc("prod", "a", 1, 9001, nil)}},
		Findings: []Finding{{Type: TypeSidecarSilent, Subject: "sidecar/prod/b", Summary: "silent for 30s"}}}
	lag := 2.0
	for _, tt := range []struct {
		name   string
		change func(v *View)
		want   bool
	}{
		{"figures and times", func(v *View) {
			v.At = t0.Add(time.Minute)
			v.Primaries[0].Stream.LagSeconds = &lag
			v.Findings[0].Summary = "silent for 40s"
		}, true},
		{"health", func(v *View) { v.Primaries[0].Health = "critical" }, false},
		{"stale", func(v *View) { v.Primaries[0].Stale = true }, false},
		{"a primary more", func(v *View) { v.Primaries = append(v.Primaries, Primary{Document: *doc("prod", "c", 3, 9003, nil)}) }, false},
		{"a finding resolved", func(v *View) { v.Findings = nil }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			v.Primaries, v.Findings = slices.Clone(base.Primaries), slices.Clone(base.Findings)
			tt.change(&v)
			if got := SameView(base, v); got != tt.want {
				t.Errorf("SameView: got %v, want %v", got, tt.want)
			}
		})
	}
}
