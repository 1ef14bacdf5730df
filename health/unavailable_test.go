package health

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
)

// blind is one poll of a check.unavailable scenario: a healthy poll of
// connected, changed by edit.
type blind func(o *Observation)

func processHidden(o *Observation) { // no PROCESS: the processlist shows the account's own threads only
	r := o.Reads[ReadDumpThreads]
	r.MissingPrivilege, r.Grant = "PROCESS", "PROCESS"
	o.Reads[ReadDumpThreads] = r
}

func binlogMonitorDenied(o *Observation) { // MariaDB 10.11 names SUPER first; the right grant is BINLOG MONITOR
	r := o.Reads[ReadBinlogStatus]
	r.Err, r.Code = "ERROR 1227 (42000): Access denied; you need (at least one of) the SUPER, BINLOG MONITOR privilege(s) for this operation", 1227
	r.MissingPrivilege, r.Grant = "one of SUPER, BINLOG MONITOR", "BINLOG MONITOR"
	o.Reads[ReadBinlogStatus] = r
}

func tableMissing(o *Observation) {
	r := o.Reads[ReadDumpThreads]
	r.SQL = "SELECT ... FROM performance_schema.processlist"
	r.Err, r.Code = "ERROR 1146 (42S02): Table 'performance_schema.processlist' doesn't exist", 1146
	o.Reads[ReadDumpThreads] = r
}

func serverDown(o *Observation) { // nothing answers: stream.down's business, not a check's
	for k, r := range o.Reads {
		r.Err, r.Code, r.MissingPrivilege = "dial tcp 127.0.0.1:3306: connect: connection refused", 0, ""
		o.Reads[k] = r
	}
}

func skippedAfterTimeout(o *Observation) { // the variables read timed out; the rest were not tried
	for k, r := range o.Reads {
		if k == ReadVariables || k == ReadStatus {
			continue
		}
		r.Err, r.Skipped = "connection lost earlier in this poll: i/o timeout", true
		o.Reads[k] = r
	}
	r := o.Reads[ReadStatus]
	r.Err = "read tcp: i/o timeout"
	o.Reads[ReadStatus] = r
}

func binlogFilesFail(o *Observation) { // nothing the daemon judges relies on SHOW BINARY LOGS
	r := o.Reads[ReadBinlogFiles]
	r.Err, r.Code = "ERROR 1227", 1227
	o.Reads[ReadBinlogFiles] = r
}

func both(a, b blind) blind { return func(o *Observation) { a(o); b(o) } }

func TestRules_checkUnavailable(t *testing.T) {
	ok := func(*Observation) {}
	none := []string{}
	fire := func(subject string) []string { return []string{"firing check.unavailable " + subject + " warning"} }
	resolve := func(subject string) []string { return []string{"resolved check.unavailable " + subject + " warning"} }
	for _, tc := range []struct {
		name  string
		polls []blind
		want  [][]string
		// fix is the remediation of the last problem that fired.
		fix string
	}{
		{"without PROCESS the dump-thread checks are blind at once, until the grant",
			[]blind{processHidden, processHidden, ok},
			[][]string{fire("check/dump_threads"), none, resolve("check/dump_threads")},
			"GRANT PROCESS ON *.* TO 'sidecar'@'%';"},
		{"MariaDB's binlog status names BINLOG MONITOR, not SUPER",
			[]blind{binlogMonitorDenied, ok},
			[][]string{fire("check/binlog_status"), resolve("check/binlog_status")},
			"GRANT BINLOG MONITOR ON *.* TO 'sidecar'@'%';"},
		{"a failing read is unavailable on its second poll",
			[]blind{tableMissing, tableMissing, tableMissing, ok},
			[][]string{none, fire("check/dump_threads"), none, resolve("check/dump_threads")},
			"Set performance_schema=ON in the server's option file and restart it (the variable is read-only at run time)."},
		{"one failed read is not unavailable", []blind{tableMissing, ok, tableMissing, ok},
			[][]string{none, none, none, none}, ""},
		{"a server that answers nothing makes no check unavailable", []blind{serverDown, serverDown, serverDown},
			[][]string{none, none, none}, ""},
		{"nothing resolves while the server does not answer", []blind{processHidden, serverDown, serverDown, processHidden, ok},
			[][]string{fire("check/dump_threads"), none, none, none, resolve("check/dump_threads")},
			"GRANT PROCESS ON *.* TO 'sidecar'@'%';"},
		{"a read not tried says nothing either way", []blind{processHidden, skippedAfterTimeout, ok},
			[][]string{fire("check/dump_threads"), none, resolve("check/dump_threads")}, "GRANT PROCESS ON *.* TO 'sidecar'@'%';"},
		{"a read nothing judged relies on is not a blind check", []blind{binlogFilesFail, binlogFilesFail, binlogFilesFail},
			[][]string{none, none, none}, ""},
		{"two missing grants are two problems", []blind{both(processHidden, binlogMonitorDenied), processHidden, ok},
			[][]string{append(fire("check/binlog_status"), fire("check/dump_threads")...), resolve("check/binlog_status"), resolve("check/dump_threads")},
			"GRANT PROCESS ON *.* TO 'sidecar'@'%';"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mem Memory
			got := make([][]string, len(tc.polls))
			fix := ""
			for i, edit := range tc.polls {
				in := connected.input(i, inv2)
				in.Observation.Account = "'sidecar'@'%'"
				edit(&in.Observation)
				var out Outcome
				mem, out = testRules.Evaluate(mem, in, in.Observation.At)
				trs, rep := out.Transitions, out.Report
				got[i] = []string{}
				for _, tr := range trs {
					if tr.Problem.Type != TypeCheckUnavailable {
						continue
					}
					got[i] = append(got[i], string(tr.State)+" "+tr.Problem.Type+" "+tr.Problem.Subject+" "+string(tr.Problem.Severity))
					if tr.State == StateFiring {
						fix = tr.Problem.Remediation
					}
				}
				if firing := rep.Counts.Problems[TypeCheckUnavailable] > 0; firing && rep.Health == StatusOK {
					t.Errorf("poll %d: health ok while check.unavailable fires", i)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("transitions per poll:\n got %q\nwant %q", got, tc.want)
			}
			if fix != tc.fix {
				t.Errorf("remediation %q, want %q", fix, tc.fix)
			}
		})
	}
}

// The problem names the check, what is missing, and every check that
// relied on the read.
func TestRules_checkUnavailable_names(t *testing.T) {
	in := connected.input(0, inv2)
	in.Observation.Account = "'sidecar'@'%'"
	processHidden(&in.Observation)
	_, out := testRules.Evaluate(Memory{}, in, in.Observation.At)
	rep := out.Report
	var p *Problem
	for i := range rep.Problems {
		if rep.Problems[i].Type == TypeCheckUnavailable {
			p = &rep.Problems[i]
		}
	}
	if p == nil {
		t.Fatalf("no check.unavailable in %+v", rep.Problems)
	}
	for _, want := range []string{"dump_threads", "'sidecar'@'%'", "PROCESS", "dump_thread.zombie", "dump_thread.flapping", "replica.missing", "replica.unknown"} {
		if !strings.Contains(p.Summary, want) {
			t.Errorf("summary %q lacks %q", p.Summary, want)
		}
	}
	if p.Evidence["missing"] != "privilege PROCESS" || p.Evidence["check"] != "dump_threads" {
		t.Errorf("evidence %v", p.Evidence)
	}
	if rep.Health != StatusDegraded {
		t.Errorf("health %s, want degraded", rep.Health)
	}

	// Resolved: the report's problems are empty, never null in /status.
	in = connected.input(1, inv2)
	_, out = testRules.Evaluate(Memory{}, in, in.Observation.At)
	rep = out.Report
	if b, _ := json.Marshal(rep); !strings.Contains(string(b), `"problems":[]`) {
		t.Errorf("no problems: %s, want \"problems\":[]", b)
	}
}

// A MySQL server without the semi-sync plugin cannot be judged against an
// inventory of semi-sync replicas; the fix installs the plugin of its version.
func TestRules_checkUnavailable_semiSyncPlugin(t *testing.T) {
	for _, tc := range []struct {
		version string
		inv     []inventory.Entry
		fix     string
	}{
		{"8.4.2", inv2, "INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so';"},
		{"8.0.25", inv2, "INSTALL PLUGIN rpl_semi_sync_master SONAME 'semisync_master.so';"},
		{"8.4.2", []inventory.Entry{{Host: "db-2.test", Port: 3306}}, ""},
	} {
		p := connected
		p.server = Server{Flavor: FlavorMySQL, Version: tc.version, ServerID: 1}
		p.semi = &SemiSync{}
		in := p.input(0, tc.inv)
		_, out := testRules.Evaluate(Memory{}, in, in.Observation.At)
		rep := out.Report
		fix := ""
		for _, pr := range rep.Problems {
			if pr.Type == TypeCheckUnavailable && pr.Subject == "check/"+TypeSemiSyncDegraded {
				fix = pr.Remediation
			}
		}
		if !strings.HasPrefix(fix, tc.fix) || (tc.fix == "") != (fix == "") {
			t.Errorf("MySQL %s, inventory %v: remediation %q, want it to start %q", tc.version, tc.inv, fix, tc.fix)
		}
	}
}
