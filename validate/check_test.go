package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
)

// input loads fixtures from testdata: option files (one server each) and an
// optional inventory.
func input(t *testing.T, files []string, inv string, sc *Sidecar) Input {
	t.Helper()
	in := Input{Sidecar: sc}
	for _, f := range files {
		path := filepath.Join("testdata", f)
		file, err := mycnf.Load(path)
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		in.Servers = append(in.Servers, Server{Name: path, File: file})
	}
	if inv != "" {
		path := filepath.Join("testdata", inv)
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		entries, err := inventory.Parse(fh)
		if err != nil {
			t.Fatalf("inventory %s: %v", inv, err)
		}
		in.Inventory, in.InventoryFile, in.HasInventory = entries, path, true
	}
	return in
}

// brief renders a finding as "severity file:line" for comparison.
func brief(f Finding) string {
	return fmt.Sprintf("%s %s:%d", f.Severity, strings.TrimPrefix(f.File, "testdata/"), f.Line)
}

func only(fs []Finding, id string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// TestCheck runs every check on a failing and a passing fixture and
// compares that check's findings (other checks may also speak).
func TestCheck(t *testing.T) {
	sidecarID := &Sidecar{ServerID: 4000000001, ServerIDFrom: "SIDECAR_SERVER_ID"}
	tests := []struct {
		name    string
		check   string
		give    []string
		inv     string
		sidecar *Sidecar
		role    Role // of every file
		want    []string
	}{
		{name: "server_id unset", check: "V1", give: []string{"V1/fail-unset.cnf"}, want: []string{"error V1/fail-unset.cnf:0"}},
		{name: "server_id 0", check: "V1", give: []string{"V1/fail-zero.cnf"}, want: []string{"error V1/fail-zero.cnf:3"}},
		{name: "server_id not a number", check: "V1", give: []string{"V1/fail-word.cnf"}, want: []string{"error V1/fail-word.cnf:3"}},
		{name: "server_id shared", check: "V1", give: []string{"V1/fail-dup-a.cnf", "V1/fail-dup-b.cnf"}, want: []string{"error V1/fail-dup-a.cnf:3", "error V1/fail-dup-b.cnf:4"}},
		{name: "server_id of the sidecar", check: "V1", give: []string{"V1/fail-sidecar.cnf"}, sidecar: sidecarID, want: []string{"error V1/fail-sidecar.cnf:3", "warning V1/fail-sidecar.cnf:3"}},
		{name: "server_ids unique", check: "V1", give: []string{"V1/pass-a.cnf", "V1/pass-b.cnf"}, sidecar: sidecarID},

		{name: "semi-sync source with skip-log-bin", check: "V3", give: []string{"V3/fail-skip.cnf"}, want: []string{"error V3/fail-skip.cnf:4"}},
		{name: "inventory source without log_bin on MariaDB", check: "V3", give: []string{"V3/fail-default.cnf"}, inv: "V6/no-semisync.txt", want: []string{"error V3/fail-default.cnf:0"}},
		{name: "binlog off, role unknown", check: "V3", give: []string{"V3/fail-unknown-role.cnf"}, want: []string{"warning V3/fail-unknown-role.cnf:4"}},
		{name: "source with binlog, replica without", check: "V3", give: []string{"V3/pass-source.cnf", "V3/pass-replica.cnf"}},

		{name: "MIXED and MINIMAL", check: "V4", give: []string{"V4/fail-mixed.cnf"}, want: []string{"error V4/fail-mixed.cnf:5", "error V4/fail-mixed.cnf:6"}},
		{name: "MariaDB default MIXED", check: "V4", give: []string{"V4/fail-mariadb-default.cnf"}, want: []string{"error V4/fail-mariadb-default.cnf:0"}},
		{name: "ROW and FULL", check: "V4", give: []string{"V4/pass.cnf"}},

		{name: "gtid_mode without consistency", check: "V5", give: []string{"V5/fail-consistency.cnf"}, want: []string{"error V5/fail-consistency.cnf:4"}},
		{name: "gtid_mode ON and OFF", check: "V5", give: []string{"V5/fail-mismatch-a.cnf", "V5/fail-mismatch-b.cnf"}, want: []string{"error V5/fail-mismatch-b.cnf:0"}},
		{name: "gtid_mode on MariaDB", check: "V5", give: []string{"V5/fail-mariadb.cnf"}, want: []string{"error V5/fail-mariadb.cnf:4", "warning V5/fail-mariadb.cnf:5"}},
		{name: "MySQL 5.7 without log_slave_updates", check: "V5", give: []string{"V5/fail-57.cnf"}, want: []string{"error V5/fail-57.cnf:5"}},
		{name: "gtid_mode ON everywhere", check: "V5", give: []string{"V5/pass-a.cnf", "V5/pass-b.cnf"}},

		{name: "wait count above semi-sync replicas", check: "V6", give: []string{"V6/fail-mysql.cnf"}, inv: "V6/one-semisync.txt", want: []string{"error V6/fail-mysql.cnf:6"}},
		{name: "MariaDB semi-sync without semi-sync replicas", check: "V6", give: []string{"V6/fail-mariadb.cnf"}, inv: "V6/no-semisync.txt", want: []string{"error V6/fail-mariadb.cnf:6"}},
		{name: "semi-sync without inventory", check: "V6", give: []string{"V6/pass.cnf"}, want: []string{"info V6/pass.cnf:5"}},
		{name: "enough semi-sync replicas", check: "V6", give: []string{"V6/pass.cnf"}, inv: "V6/two-semisync.txt"},

		{name: "timeout never falls back", check: "V7", give: []string{"V7/fail-never.cnf"}, want: []string{"error V7/fail-never.cnf:4"}},
		{name: "timeout two minutes", check: "V7", give: []string{"V7/fail-long.cnf"}, want: []string{"warning V7/fail-long.cnf:4"}},
		{name: "timeout ten seconds", check: "V7", give: []string{"V7/pass.cnf"}},

		{name: "Bug 117291 name", check: "V8", give: []string{"V8/fail-bug117291.cnf"}, want: []string{"error V8/fail-bug117291.cnf:6"}},
		{name: "both source plugins", check: "V8", give: []string{"V8/fail-both-plugins.cnf"}, want: []string{"error V8/fail-both-plugins.cnf:5"}},
		{name: "old name, new plugin", check: "V8", give: []string{"V8/fail-family.cnf"}, want: []string{"error V8/fail-family.cnf:5"}},
		{name: "both families, not loose", check: "V8", give: []string{"V8/fail-mixed.cnf"}, want: []string{"error V8/fail-mixed.cnf:4"}},
		{name: "both families disagree", check: "V8", give: []string{"V8/fail-disagree.cnf"}, want: []string{"error V8/fail-disagree.cnf:5"}},
		{name: "MySQL names on MariaDB", check: "V8", give: []string{"V8/fail-mariadb.cnf"}, want: []string{"error V8/fail-mariadb.cnf:4", "error V8/fail-mariadb.cnf:5", "warning V8/fail-mariadb.cnf:6"}},
		{name: "new plugin, new names", check: "V8", give: []string{"V8/pass-mysql.cnf"}},
		{name: "loose compatibility names that agree", check: "V8", give: []string{"V8/pass-compat.cnf"}},
		{name: "version groups with their own names", check: "V8", give: []string{"V8/pass-versions.cnf"}},
		{name: "MariaDB names", check: "V8", give: []string{"V8/pass-mariadb.cnf"}},

		{name: "replica without report_host", check: "V10", give: []string{"V10/fail.cnf"}, want: []string{"warning V10/fail.cnf:0"}},
		{name: "replica with report_host", check: "V10", give: []string{"V10/pass.cnf"}},

		{name: "net timeout an hour", check: "V11", give: []string{"V11/fail.cnf"}, want: []string{"warning V11/fail.cnf:4"}},
		{name: "net timeout a minute", check: "V11", give: []string{"V11/pass.cnf"}},

		{name: "source listed as its own replica", check: "V13", give: []string{"V13/source.cnf"}, inv: "V13/fail.txt", want: []string{"error V13/fail.txt:3"}},
		{name: "other replicas only", check: "V13", give: []string{"V13/source.cnf"}, inv: "V13/pass.txt"},

		{name: "replicate_same_server_id with log_slave_updates", check: "V14", give: []string{"V14/fail-same-id.cnf"}, want: []string{"error V14/fail-same-id.cnf:6"}},
		{name: "intermediate replica without log_slave_updates", check: "V14", give: []string{"V14/fail-chain.cnf"}, want: []string{"warning V14/fail-chain.cnf:0"}},
		{name: "intermediate replica with log_slave_updates", check: "V14", give: []string{"V14/pass.cnf"}},

		{name: "semi-sync replica relay log", check: "V15", give: []string{"V15/fail.cnf"}, want: []string{"warning V15/fail.cnf:5", "warning V15/fail.cnf:6"}},
		{name: "semi-sync replica sync_relay_log=1", check: "V15", give: []string{"V15/pass.cnf"}},

		{name: "replica retry count", check: "V17", give: []string{"V17/fail.cnf"}, want: []string{"info V17/fail.cnf:6"}},
		{name: "no replica", check: "V17", give: []string{"V17/pass.cnf"}},

		{name: "purge needs more replicas than expected", check: "V18", give: []string{"V18/fail.cnf"}, inv: "V18/one.txt", want: []string{"warning V18/fail.cnf:6"}},
		{name: "MariaDB 11.4 variable on MySQL", check: "V18", give: []string{"V18/fail-mysql.cnf"}, want: []string{"error V18/fail-mysql.cnf:4"}},
		{name: "purge needs one of two", check: "V18", give: []string{"V18/pass.cnf"}, inv: "V13/pass.txt"},

		{name: "sidecar flavor and variables", check: "V19", give: []string{"V19/mariadb.cnf"}, role: RoleSource,
			sidecar: &Sidecar{ServerID: 4000000001, Flavor: "mysql", Problems: []string{"SIDECAR_HEARTBEAT_PERIOD: 45s: want at most 30s"}},
			want:    []string{"error SIDECAR_HEARTBEAT_PERIOD:0", "error V19/mariadb.cnf:0"}},
		{name: "sidecar flavor of an auto-role file that shows no role", check: "V19", give: []string{"V19/mariadb.cnf"},
			sidecar: &Sidecar{ServerID: 4000000001, Flavor: "mysql"}},
		{name: "binlog off: nothing to do on a replica by --role", check: "V3", give: []string{"V3/fail-unknown-role.cnf"}, role: RoleReplica},
		{name: "binlog off: an error on a source by --role", check: "V3", give: []string{"V3/fail-unknown-role.cnf"}, role: RoleSource,
			want: []string{"error V3/fail-unknown-role.cnf:4"}},
		{name: "sidecar flavor matches", check: "V19", give: []string{"V19/mariadb.cnf"}, sidecar: &Sidecar{ServerID: 4000000001, Flavor: "mariadb"}},

		{name: "clean topology: infos only", check: "", give: []string{"good/primary.cnf", "good/replica.cnf"}, inv: "good/inventory.txt",
			want: []string{"info good/primary.cnf:8", "info good/replica.cnf:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.check+" "+tt.name, func(t *testing.T) {
			in := input(t, tt.give, tt.inv, tt.sidecar)
			for i := range in.Servers {
				in.Servers[i].Role = tt.role
			}
			all := Check(in)
			got := all
			if tt.check != "" {
				got = only(all, tt.check)
			}
			var gotBrief []string
			for _, f := range got {
				gotBrief = append(gotBrief, brief(f))
			}
			if strings.Join(gotBrief, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s\nall findings:\n  %s", strings.Join(gotBrief, "\n  "), strings.Join(tt.want, "\n  "), join(all))
			}
		})
	}
}

func join(fs []Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n  ")
}
