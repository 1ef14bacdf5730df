package mysqlserver

import "testing"

// The first statement of each read on each server: the one that runs when
// it works. The stream's preflight takes the same rows for the binlog end
// and the registered replicas.
func TestStatements_first(t *testing.T) {
	tests := []struct {
		read    Read
		flavor  string
		version string
		ps      bool
		want    string
	}{
		{ReadReplicaHosts, mysql, "8.0.21", false, SQLShowSlaveHosts},
		{ReadReplicaHosts, mysql, "8.0.22", false, SQLShowReplicas},
		{ReadReplicaHosts, mysql, "9.1.0", false, SQLShowReplicas},
		{ReadReplicaHosts, mariadb, "10.11.19-MariaDB", false, SQLShowSlaveHosts},
		{ReadReplicaHosts, mariadb, "10.4.34-MariaDB", false, SQLShowSlaveHosts},
		{ReadBinlogStatus, mysql, "5.7.44-log", false, SQLMasterStatus},
		{ReadBinlogStatus, mysql, "8.0.36", false, SQLMasterStatus},
		{ReadBinlogStatus, mysql, "8.1.0", false, SQLMasterStatus},
		{ReadBinlogStatus, mysql, "8.2.0", false, SQLBinaryLogStatus},
		{ReadBinlogStatus, mysql, "8.4.0", false, SQLBinaryLogStatus},
		{ReadBinlogStatus, mysql, "9.1.0", false, SQLBinaryLogStatus},
		{ReadBinlogStatus, mariadb, "10.5.1-MariaDB", false, SQLMasterStatus},
		{ReadBinlogStatus, mariadb, "10.5.2-MariaDB", false, SQLBinlogStatus},
		{ReadBinlogStatus, mariadb, "10.11.19-MariaDB", false, SQLBinlogStatus},
		{ReadDumpThreads, mysql, "8.0.22", true, SQLDumpMySQLPS},
		{ReadDumpThreads, mysql, "8.0.22", false, SQLDumpMySQL},
		{ReadDumpThreads, mysql, "5.7.44", true, SQLDumpMySQL},
		{ReadDumpThreads, mariadb, "10.11.0-MariaDB", true, SQLDumpMariaDB},
		{ReadDumpThreads, mariadb, "10.4.0-MariaDB", true, SQLDumpMariaDB},
		{ReadChannels, mysql, "8.4.0", false, SQLShowReplicaStatus},
		{ReadChannels, mysql, "8.0.21", false, SQLShowSlaveStatus},
		{ReadChannels, mariadb, "11.4.0-MariaDB", false, SQLAllSlavesStatus},
	}
	for _, tt := range tests {
		got := ""
		if c := Statements(tt.read, tt.flavor, ParseVersion(tt.version), tt.ps); len(c) > 0 {
			got = c[0].SQL
		}
		if got != tt.want {
			t.Errorf("Statements(%s, %s %s, ps=%v)[0] = %q, want %q", tt.read, tt.flavor, tt.version, tt.ps, got, tt.want)
		}
	}
}

// Every read has a statement on every server of both flavors, old and new,
// so a reader never finds none; and every statement names its columns.
func TestStatements_everyReadEveryServer(t *testing.T) {
	reads := []Read{ReadVariables, ReadStatus, ReadDumpThreads, ReadReplicaHosts, ReadBinlogStatus, ReadBinlogFiles, ReadChannels}
	servers := []struct{ flavor, version string }{
		{mysql, "5.7.44"}, {mysql, "8.0.21"}, {mysql, "8.3.0"}, {mysql, "8.4.2"}, {mysql, "9.1.0"},
		{mariadb, "10.4.34-MariaDB"}, {mariadb, "10.5.1-MariaDB"}, {mariadb, "10.11.19-MariaDB"}, {mariadb, "11.4.2-MariaDB"},
	}
	for _, srv := range servers {
		for _, r := range reads {
			c := Statements(r, srv.flavor, ParseVersion(srv.version), false)
			if len(c) == 0 {
				t.Errorf("%s %s: no statement for %s", srv.flavor, srv.version, r)
			}
			for _, s := range c {
				if len(s.Cols) == 0 {
					t.Errorf("%s: no columns", s.SQL)
				}
			}
		}
	}
}

func TestResolveFlavor(t *testing.T) {
	tests := []struct{ setting, version, want string }{
		{FlavorMySQL, "10.11.19-MariaDB", FlavorMySQL},
		{FlavorMariaDB, "8.0.36", FlavorMariaDB},
		{FlavorAuto, "10.11.19-MariaDB", FlavorMariaDB},
		{"", "8.4.2", FlavorMySQL},
	}
	for _, tt := range tests {
		if got := ResolveFlavor(tt.setting, tt.version, ""); got != tt.want {
			t.Errorf("ResolveFlavor(%q, %q) = %q, want %q", tt.setting, tt.version, got, tt.want)
		}
	}
}
