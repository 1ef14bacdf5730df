package validate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFinding_String(t *testing.T) {
	tests := []struct {
		give Finding
		want string
	}{
		{
			give: Finding{ID: "V1", Severity: SeverityError, File: "/etc/my.cnf", Line: 3, Message: "server_id=0", Fix: "set it"},
			want: "/etc/my.cnf:3: error [V1] server_id=0 (fix: set it)",
		},
		{
			give: Finding{ID: "V3", Severity: SeverityWarning, File: "/etc/my.cnf", Message: "log_bin is not set"},
			want: "/etc/my.cnf: warning [V3] log_bin is not set",
		},
		{
			give: Finding{ID: "V19", Severity: SeverityError, Message: "bad"},
			want: "error [V19] bad",
		},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.give.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	fs := []Finding{{ID: "V1", Severity: SeverityError, File: "a.cnf", Line: 2, Message: "m", Fix: "f"}, {ID: "V17", Severity: SeverityInfo, File: "a.cnf", Message: "i"}}
	var b bytes.Buffer
	if err := WriteText(&b, fs, Summarize(fs, []string{"a.cnf"})); err != nil {
		t.Fatal(err)
	}
	want := "a.cnf:2: error [V1] m (fix: f)\na.cnf: info [V17] i\n1 error(s), 0 warning(s), 1 info in a.cnf\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	fs := []Finding{{ID: "V7", Severity: SeverityWarning, File: "a.cnf", Line: 4, Message: "m", Fix: "f"}}
	var b bytes.Buffer
	if err := WriteJSON(&b, fs, Summarize(fs, []string{"a.cnf"})); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	want := `{"findings":[{"file":"a.cnf","fix":"f","id":"V7","line":4,"message":"m","severity":"warning"}],"summary":{"errors":0,"infos":0,"servers":["a.cnf"],"warnings":1}}`
	if enc, _ := json.Marshal(got); string(enc) != want {
		t.Errorf("got %s\nwant %s", enc, want)
	}
	// No findings is an empty array, never null, so consumers can iterate.
	b.Reset()
	if err := WriteJSON(&b, nil, Summarize(nil, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"findings": []`) || !strings.Contains(b.String(), `"servers": []`) {
		t.Errorf("empty report: got %s", b.String())
	}
	// People read it: a fix is printed as written, not HTML-escaped.
	b.Reset()
	fs[0].Fix = "set log_bin=<basename> & restart"
	if err := WriteJSON(&b, fs, Summarize(fs, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"fix": "set log_bin=<basename> & restart"`) {
		t.Errorf("fix HTML-escaped: %s", b.String())
	}
}

func TestMajorMinor(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "8.0", want: "8.0"},
		{give: "8.0.36-log", want: "8.0"},
		{give: "10.11.19-MariaDB-0+deb12u1", want: "10.11"},
		{give: "11.4", want: "11.4"},
		{give: "8", want: ""},
		{give: "x.1", want: ""},
		{give: "", want: ""},
	}
	for _, tt := range tests {
		if got := majorMinor(tt.give); got != tt.want {
			t.Errorf("majorMinor(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// TestLiveServer checks that observed values run through the file checks:
// a running MariaDB with the binlog off and MIXED is an error on both.
func TestLiveServer(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want []string // "ID severity"
	}{
		{
			name: "MariaDB without binlog",
			give: map[string]string{"version": "10.11.19-MariaDB-0+deb12u1", "server_id": "1", "log_bin": "OFF", "binlog_format": "MIXED", "binlog_row_image": "FULL"},
			want: []string{"V3 error", "V4 error"},
		},
		{
			name: "MySQL 8.4 ready",
			give: map[string]string{"version": "8.4.3", "version_comment": "MySQL Community Server - GPL", "server_id": "7", "log_bin": "ON", "binlog_format": "ROW",
				"binlog_row_image": "FULL", "gtid_mode": "ON", "enforce_gtid_consistency": "ON", "rpl_semi_sync_source_enabled": "OFF", "rpl_semi_sync_source_timeout": "10000"},
		},
		{
			name: "server_id 0 and a semi-sync timeout that never ends",
			give: map[string]string{"version": "10.6.1-MariaDB", "server_id": "0", "log_bin": "ON", "binlog_format": "ROW", "rpl_semi_sync_master_timeout": "18446744073709551615"},
			want: []string{"V1 error", "V7 error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Check(Input{Servers: []Server{LiveServer("live 127.0.0.1:3306", "127.0.0.1:3306", tt.give)}})
			var got []string
			for _, f := range fs {
				if f.File != "live 127.0.0.1:3306" || f.Line != 0 {
					t.Errorf("finding not located at the live server: %v", f)
				}
				got = append(got, f.ID+" "+string(f.Severity))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v\n%s", got, tt.want, join(fs))
			}
		})
	}
}
