package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
)

// recording is a file of recorded results: what each statement returned
// on one server, live or as documented.
type recording struct {
	Server  string           `json:"server"`
	Source  string           `json:"source"`
	Results []recordedResult `json:"results"`
}

type recordedResult struct {
	SQL     string         `json:"sql"`
	Columns []string       `json:"columns,omitempty"`
	Rows    [][]*string    `json:"rows,omitempty"`
	Error   *recordedError `json:"error,omitempty"`
	// Checked names what MySQL's own test suite records for this
	// statement (docs/mysql-checked.md): a mysql/mysql-server file, or why
	// none covers it.
	Checked string `json:"checked,omitempty"`
}

type recordedError struct {
	Code    uint16 `json:"code"`
	Message string `json:"message"`
}

// recordedProbe is a Probe whose statements are answered from a recording;
// a statement it does not hold fails as a network error would, so a wrong
// choice of statement shows as a failed read.
func recordedProbe(t *testing.T, file string) *Probe {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var rec recording
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	p := New(Config{User: "sidecar"}, zerolog.Nop())
	p.exec = func(_ context.Context, sql string) (Rowset, error) {
		for _, r := range rec.Results {
			if r.SQL != sql {
				continue
			}
			if r.Error != nil {
				return Rowset{}, &client.ServerError{Code: r.Error.Code, Message: r.Error.Message}
			}
			return Rowset{Columns: r.Columns, Rows: r.Rows}, nil
		}
		return Rowset{}, fmt.Errorf("not recorded: %s", sql)
	}
	return p
}

// observed is the part of an observation the recorded tests compare.
type observed struct {
	Server   health.Server
	SQL      map[health.Read]string
	Failed   map[health.Read]string
	Threads  []string
	Hosts    []string
	SemiSync health.SemiSync
	Binlog   health.BinlogStatus
	Files    int
	Channels []string
	Conns    health.Connections
}

func summarize(o health.Observation) observed {
	s := observed{Server: o.Server, SQL: map[health.Read]string{}, Failed: map[health.Read]string{}, Threads: []string{},
		Hosts: []string{}, SemiSync: o.SemiSync, Binlog: o.Binlog, Files: len(o.BinlogFiles), Channels: []string{}, Conns: o.Connections}
	for r, res := range o.Reads {
		s.SQL[r] = name(res.SQL)
		if !res.OK() {
			s.Failed[r] = res.MissingPrivilege + res.Err
		}
	}
	for _, th := range o.DumpThreads {
		s.Threads = append(s.Threads, fmt.Sprintf("%d %s %s %s %s uuid=%s hb=%s semi=%s", th.ID, th.User, th.IP(), th.Command,
			health.DumpStateClass(th.State), th.ReplicaUUID, th.HeartbeatNS, th.SemiSync))
	}
	for _, h := range o.Replicas {
		s.Hosts = append(s.Hosts, fmt.Sprintf("%d %s source=%d uuid=%s", h.ServerID, h.Addr(), h.SourceID, h.UUID))
	}
	for _, c := range o.Channels {
		s.Channels = append(s.Channels, fmt.Sprintf("%q %s io=%s sql=%s errno=%d behind=%q", c.Name, c.SourceAddr(), c.IORunning,
			c.SQLRunning, c.LastIOErrno, c.SecondsBehind))
	}
	return s
}

// name shortens a statement to its constant's name.
func name(sql string) string {
	for n, s := range map[string]string{"variables": mysqlserver.SQLVariables, "status": mysqlserver.SQLStatus,
		"dump mariadb": mysqlserver.SQLDumpMariaDB, "dump mysql": mysqlserver.SQLDumpMySQL, "dump mysql ps": mysqlserver.SQLDumpMySQLPS} {
		if s == sql {
			return n
		}
	}
	return sql
}

func TestProbe_Observe_recorded(t *testing.T) {
	uuid2, uuidSelf := "8a94f357-aab4-11ef-9b8c-0242ac120003", "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
	idleThreads := []string{
		"23 repl 10.0.0.2 Binlog Dump GTID idle uuid=" + uuid2 + " hb=30000000000 semi=1",
		"31 sidecar 10.0.0.1 Binlog Dump idle uuid=" + uuidSelf + " hb=1000000000 semi=",
	}
	mysqlHosts := []string{"2 db-2.example.com:3306 source=1 uuid=" + uuid2, "4000000001 binlog-sidecar:3306 source=1 uuid=" + uuidSelf}
	tests := []struct {
		give string
		want observed
	}{
		{"mariadb-10.11-primary.json", observed{
			Server: health.Server{Flavor: "mariadb", Version: "10.11.19-MariaDB-0+deb12u1-log", ServerID: 86101},
			SQL: map[health.Read]string{"variables": "variables", "status": "status", "dump_threads": "dump mariadb",
				"replica_hosts": "SHOW SLAVE HOSTS", "binlog_status": "SHOW BINLOG STATUS", "binlog_files": "SHOW BINARY LOGS",
				"replica_status": "SHOW ALL SLAVES STATUS"},
			Failed:  map[health.Read]string{},
			Threads: []string{"6 repl 127.0.0.1 Binlog Dump idle uuid= hb= semi="},
			Hosts:   []string{"86102 localhost:3307 source=86101 uuid="},
			SemiSync: health.SemiSync{Available: true, Prefix: "rpl_semi_sync_master", Enabled: true, TimeoutMS: 2000, WaitNoReplica: true,
				Required: 1, WaitPoint: "AFTER_COMMIT", StatusOn: true, Clients: 1, YesTx: 2},
			Binlog: health.BinlogStatus{File: "rp-bin.000001", Position: 698, GTID: "0-86101-2"}, Files: 1, Channels: []string{},
			Conns: health.Connections{ThreadsConnected: 3, ThreadsRunning: 2, MaxConnections: 200},
		}},
		{"mariadb-10.11-replica.json", observed{
			Server: health.Server{Flavor: "mariadb", Version: "10.11.19-MariaDB-0+deb12u1-log", ServerID: 86102},
			SQL: map[health.Read]string{"variables": "variables", "status": "status", "dump_threads": "dump mariadb",
				"replica_hosts": "SHOW SLAVE HOSTS", "binlog_status": "SHOW BINLOG STATUS", "binlog_files": "SHOW BINARY LOGS",
				"replica_status": "SHOW ALL SLAVES STATUS"},
			Failed: map[health.Read]string{}, Threads: []string{}, Hosts: []string{},
			SemiSync: health.SemiSync{Available: true, Prefix: "rpl_semi_sync_master", TimeoutMS: 10000, WaitNoReplica: true,
				Required: 1, WaitPoint: "AFTER_COMMIT"},
			Binlog: health.BinlogStatus{File: "rr-bin.000001", Position: 698, GTID: "0-86101-2"}, Files: 1,
			Channels: []string{`"" 127.0.0.1:34231 io=Yes sql=Yes errno=0 behind="0"`,
				`"old" nonexistent.invalid:3306 io=Connecting sql=Yes errno=2005 behind=""`},
			Conns: health.Connections{ThreadsConnected: 2, ThreadsRunning: 5, MaxConnections: 200},
		}},
		{"mysql-8.0.36.json", observed{
			Server: health.Server{Flavor: "mysql", Version: "8.0.36", ServerID: 1, ServerUUID: "6d2d8b5e-8a3e-11ef-9c44-0242ac120002"},
			SQL: map[health.Read]string{"variables": "variables", "status": "status", "dump_threads": "dump mysql ps",
				"replica_hosts": "SHOW REPLICAS", "binlog_status": "SHOW MASTER STATUS", "binlog_files": "SHOW BINARY LOGS",
				"replica_status": "SHOW REPLICA STATUS"},
			Failed: map[health.Read]string{}, Threads: idleThreads, Hosts: mysqlHosts,
			SemiSync: health.SemiSync{Available: true, Prefix: "rpl_semi_sync_source", Enabled: true, TimeoutMS: 10000, WaitNoReplica: true,
				Required: 1, WaitPoint: "AFTER_SYNC", StatusOn: true, Clients: 1, YesTx: 4204, NoTx: 17, NoTimes: 1},
			Binlog: health.BinlogStatus{File: "binlog.000012", Position: 157, GTID: "6d2d8b5e-8a3e-11ef-9c44-0242ac120002:1-4242"}, Files: 2,
			Channels: []string{`"" db-0.example.com:3306 io=Yes sql=Yes errno=0 behind="0"`,
				`"analytics" db-old.example.com:3306 io=Connecting sql=Yes errno=2005 behind=""`},
			Conns: health.Connections{ThreadsConnected: 12, ThreadsRunning: 3, MaxConnections: 151},
		}},
		{"mysql-8.4.2.json", observed{
			Server: health.Server{Flavor: "mysql", Version: "8.4.2", ServerID: 1, ServerUUID: "6d2d8b5e-8a3e-11ef-9c44-0242ac120002"},
			SQL: map[health.Read]string{"variables": "variables", "status": "status", "dump_threads": "dump mysql ps",
				"replica_hosts": "SHOW REPLICAS", "binlog_status": "SHOW BINARY LOG STATUS", "binlog_files": "SHOW BINARY LOGS",
				"replica_status": "SHOW REPLICA STATUS"},
			Failed: map[health.Read]string{}, Threads: idleThreads, Hosts: mysqlHosts,
			SemiSync: health.SemiSync{Available: true, Prefix: "rpl_semi_sync_master", Enabled: true, TimeoutMS: 1000000000000000000,
				WaitNoReplica: true, Required: 2, WaitPoint: "AFTER_SYNC", StatusOn: true, Clients: 1, WaitSessions: 38, YesTx: 90},
			Binlog: health.BinlogStatus{File: "binlog.000012", Position: 157, GTID: "6d2d8b5e-8a3e-11ef-9c44-0242ac120002:1-4242"}, Files: 2,
			Channels: []string{},
			Conns:    health.Connections{ThreadsConnected: 57, ThreadsRunning: 41, MaxConnections: 151},
		}},
		{"mysql-9.1.0.json", observed{
			Server: health.Server{Flavor: "mysql", Version: "9.1.0", ServerID: 7, ServerUUID: "0f1e2d3c-aaaa-11ef-8000-0242ac120007"},
			SQL: map[health.Read]string{"variables": "variables", "status": "status", "dump_threads": "dump mysql",
				"replica_hosts": "SHOW REPLICAS", "binlog_status": "SHOW BINARY LOG STATUS", "binlog_files": "SHOW BINARY LOGS",
				"replica_status": "SHOW REPLICA STATUS"},
			Failed:  map[health.Read]string{},
			Threads: []string{"23 repl 10.0.0.2 Binlog Dump GTID sending uuid= hb= semi="},
			Hosts:   []string{"2 :3306 source=7 uuid=" + uuid2},
			Binlog:  health.BinlogStatus{File: "binlog.000012", Position: 157, GTID: "6d2d8b5e-8a3e-11ef-9c44-0242ac120002:1-4242"}, Files: 2,
			Channels: []string{},
			Conns:    health.Connections{ThreadsConnected: 4, ThreadsRunning: 1, MaxConnections: 500},
		}},
		{"mysql-5.7.44.json", observed{
			Server: health.Server{Flavor: "mysql", Version: "5.7.44-log", ServerID: 11, ServerUUID: "5a5a5a5a-0000-11ee-8000-0242ac12000b"},
			SQL: map[health.Read]string{"variables": "variables", "status": "status", "dump_threads": "dump mysql",
				"replica_hosts": "SHOW SLAVE HOSTS", "binlog_status": "SHOW MASTER STATUS", "binlog_files": "SHOW BINARY LOGS",
				"replica_status": "SHOW SLAVE STATUS"},
			Failed:  map[health.Read]string{},
			Threads: []string{"5 repl 10.0.0.2 Binlog Dump idle uuid= hb= semi="},
			Hosts:   []string{"2 db-2.example.com:3306 source=11 uuid=" + uuid2},
			SemiSync: health.SemiSync{Available: true, Prefix: "rpl_semi_sync_master", TimeoutMS: 10000, WaitNoReplica: true,
				Required: 1, WaitPoint: "AFTER_SYNC"},
			Binlog: health.BinlogStatus{File: "mysql-bin.000003", Position: 154}, Files: 1,
			Channels: []string{`"" db-0.example.com:3306 io=No sql=Yes errno=1236 behind=""`},
			Conns:    health.Connections{ThreadsConnected: 3, ThreadsRunning: 1, MaxConnections: 151},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got := summarize(recordedProbe(t, tt.give).Observe(context.Background()))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("observation:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestProbe_Observe_recordedRules runs the rules over recorded servers:
// what the recordings show must come out as the problems they mean.
func TestProbe_Observe_recordedRules(t *testing.T) {
	tests := []struct {
		give string
		want []string // problem type and subject after two polls
	}{
		{"mariadb-10.11-replica.json", []string{"source.unreachable source/nonexistent.invalid:3306"}},
		{"mysql-8.0.36.json", []string{"source.unreachable source/db-old.example.com:3306"}},
		{"mysql-8.4.2.json", []string{"semisync.degraded semisync/clients_below_required", "semisync.degraded semisync/commits_waiting"}},
		{"mysql-5.7.44.json", []string{"dump_thread.flapping channel/default"}},
		{"mysql-9.1.0.json", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			p := recordedProbe(t, tt.give)
			rules := health.Rules{SelfServerID: 4000000001}
			var mem health.Memory
			var out health.Outcome
			for range 2 {
				o := p.Observe(context.Background())
				mem, out = rules.Evaluate(mem, health.Input{Observation: o}, o.At)
			}
			rep := out.Report
			got := []string{}
			for _, pr := range rep.Problems {
				got = append(got, pr.Type+" "+pr.Subject)
			}
			slices.Sort(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems: got %q, want %q", got, tt.want)
			}
		})
	}
}
