package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// fixture is a file of the validate package's testdata.
func fixture(name string) string { return filepath.Join("..", "..", "validate", "testdata", name) }

func TestParseValidateArgs(t *testing.T) {
	tests := []struct {
		give      []string
		wantFiles string
		wantErr   bool
	}{
		{give: []string{"a.cnf"}, wantFiles: "a.cnf"},
		{give: []string{"--format", "json", "a.cnf", "b.cnf"}, wantFiles: "a.cnf b.cnf"},
		{give: []string{"a.cnf", "--inventory=inv", "b.cnf"}, wantFiles: "a.cnf b.cnf"},
		{give: []string{"--", "--odd-name.cnf"}, wantFiles: "--odd-name.cnf"},
		{give: []string{"--live"}, wantFiles: ""},
		{give: []string{}, wantErr: true},
		{give: []string{"--format", "yaml", "a.cnf"}, wantErr: true},
		{give: []string{"--nope", "a.cnf"}, wantErr: true},
		{give: []string{"--sidecar-server-id", "4294967296", "a.cnf"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, " "), func(t *testing.T) {
			got, err := parseValidateArgs(tt.give)
			if (err != nil) != tt.wantErr || (err == nil && strings.Join(got.files, " ") != tt.wantFiles) {
				t.Errorf("got files %q, error %v; want %q, error %v", got.files, err, tt.wantFiles, tt.wantErr)
			}
		})
	}
}

func TestValidateCommand(t *testing.T) {
	// Puppet's validate_cmd hands over a temp copy whose name has lost .cnf.
	tmp := filepath.Join(t.TempDir(), "my.cnf20261126-21343-1nt50wr")
	data, err := os.ReadFile(fixture("V1/fail-zero.cnf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		give     []string
		environ  []string
		wantCode int
		wantOut  string // a line the output must contain
	}{
		{name: "clean topology", give: []string{fixture("good/primary.cnf"), fixture("good/replica.cnf"), "--inventory", fixture("good/inventory.txt")},
			wantCode: 0, wantOut: "0 error(s), 0 warning(s), 2 info"},
		{name: "server_id 0", give: []string{fixture("V1/fail-zero.cnf")}, wantCode: 1, wantOut: "fail-zero.cnf:3: error [V1] server_id=0"},
		{name: "temp file without .cnf", give: []string{tmp}, wantCode: 1, wantOut: ":3: error [V1] server_id=0"},
		{name: "duplicate ids across files", give: []string{fixture("V1/fail-dup-a.cnf"), fixture("V1/fail-dup-b.cnf")}, wantCode: 1, wantOut: "error [V1] server_id=5 is also"},
		{name: "sidecar id flag", give: []string{"--sidecar-server-id", "4000000001", fixture("V1/fail-sidecar.cnf")}, wantCode: 1, wantOut: "also the sidecar's server_id (--sidecar-server-id)"},
		{name: "sidecar id from the environment", give: []string{fixture("V1/fail-sidecar.cnf")}, environ: []string{"SIDECAR_SERVER_ID=4000000001", "SIDECAR_NATS_URL=none"},
			wantCode: 1, wantOut: "also the sidecar's server_id (SIDECAR_SERVER_ID)"},
		{name: "bad sidecar variable", give: []string{fixture("V19/mariadb.cnf")}, environ: []string{"SIDECAR_HEARTBEAT_PERIOD=45s", "SIDECAR_INSTANCE=db-1"},
			wantCode: 1, wantOut: "SIDECAR_HEARTBEAT_PERIOD: error [V19]"},
		{name: "inventory from the environment", give: []string{fixture("V6/fail-mariadb.cnf")}, environ: []string{"SIDECAR_EXPECTED_REPLICAS=db-2,db-3", "SIDECAR_INSTANCE=db-1"},
			wantCode: 1, wantOut: "SIDECAR_EXPECTED_REPLICAS has 0 semi-sync replica(s)"},
		{name: "parse error", give: []string{fixture("bad/syntax.cnf")}, wantCode: 2, wantOut: "syntax.cnf:1: group header without ']'"},
		{name: "missing file", give: []string{fixture("nope.cnf")}, wantCode: 2, wantOut: "no such file or directory"},
		{name: "bad inventory", give: []string{fixture("good/primary.cnf"), "--inventory", fixture("good/primary.cnf")}, wantCode: 2, wantOut: "primary.cnf:3: host is not a host name"},
		{name: "bad flag", give: []string{"--formt", "json", fixture("good/primary.cnf")}, wantCode: 2, wantOut: "usage: sidecar validate"},
		{name: "unrelated sidecar variables do not make a file a source", give: []string{fixture("V3/fail-unknown-role.cnf")},
			environ: []string{"SIDECAR_INSTANCE=db-1", "SIDECAR_NATS_URL=none"}, wantCode: 0, wantOut: "warning [V3]"},
		{name: "--role source", give: []string{"--role", "source", fixture("V3/fail-unknown-role.cnf")},
			environ: []string{"SIDECAR_INSTANCE=db-1"}, wantCode: 1, wantOut: "error [V3]"},
		{name: "--role replica", give: []string{"--role=replica", fixture("V3/fail-unknown-role.cnf")}, wantCode: 0, wantOut: "this replica sets no report_host"},
		{name: "bad role", give: []string{"--role", "primary", fixture("good/primary.cnf")}, wantCode: 2, wantOut: `--role "primary": want source, replica or auto`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := validateCommand(context.Background(), tt.give, tt.environ, &out, &errOut)
			all := out.String() + errOut.String()
			if code != tt.wantCode || !strings.Contains(all, tt.wantOut) {
				t.Errorf("got exit %d, want %d with %q in\n%s", code, tt.wantCode, tt.wantOut, all)
			}
		})
	}
}

// TestValidateCommand_hostileFiles: validate (Puppet's validate_cmd) on a
// file that includes a named pipe returns at once with exit 2 (it hung
// for 10 minutes, ignoring SIGTERM); a file that includes a secret file,
// or a secret file given as the inventory, is reported by file and line,
// never by content (it printed /etc/shadow and, from an environment dump,
// the MySQL password).
func TestValidateCommand_hostileFiles(t *testing.T) {
	const secret = "Zq9s3cr3tHash"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.cnf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	shadow := write("shadow", "root:$6$"+secret+":19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
	environ := write("environ", "PATH=/usr/bin\x00MYSQL_PWD="+secret+"\x00")
	good := fixture("good/primary.cnf")
	tests := []struct {
		name    string
		give    []string
		wantOut string
	}{
		{"includes a named pipe", []string{write("a.cnf", "[mysqld]\n!include "+fifo+"\n")}, fifo + " is a named pipe, not a regular file"},
		{"includes /dev/zero", []string{write("b.cnf", "[mysqld]\n!include /dev/zero\n")}, "/dev/zero is a character device, not a regular file"},
		{"includes shadow", []string{write("c.cnf", "[mysqld]\n!include "+shadow+"\n")}, shadow + ":1: option before any [group]"},
		{"includes an environment", []string{write("d.cnf", "[mysqld]\n!include "+environ+"\n")}, environ + ":1: option before any [group]"},
		{"shadow as the inventory", []string{good, "--inventory", shadow}, shadow + ":1: malformed address"},
		{"named pipe as the inventory", []string{good, "--inventory", fifo}, fifo + " is a named pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- validateCommand(context.Background(), tt.give, nil, &out, &errOut) }()
			var code int
			select {
			case code = <-done:
			case <-time.After(time.Minute):
				t.Fatal("validate still blocked after a minute")
			}
			all := out.String() + errOut.String()
			if code != exitCannotRun || !strings.Contains(all, tt.wantOut) {
				t.Errorf("got exit %d, want 2 with %q in\n%s", code, tt.wantOut, all)
			}
			if strings.Contains(all, secret) || strings.Contains(all, "root") || strings.Contains(all, "MYSQL_PWD") {
				t.Errorf("output carries the file's content:\n%s", all)
			}
		})
	}
}

func TestValidateCommand_json(t *testing.T) {
	var out, errOut bytes.Buffer
	code := validateCommand(context.Background(), []string{"--format", "json", fixture("V7/fail-never.cnf")}, nil, &out, &errOut)
	var rep struct {
		Findings []struct{ ID, Severity, File string }
		Summary  struct{ Errors int }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON (%v): %s%s", err, out.String(), errOut.String())
	}
	if code != 1 || rep.Summary.Errors == 0 {
		t.Errorf("got exit %d and %d errors, want 1 and some", code, rep.Summary.Errors)
	}
	for _, f := range rep.Findings {
		if f.ID == "V7" && f.Severity == "error" {
			return
		}
	}
	t.Errorf("no V7 error in %s", out.String())
}

// TestValidateCommand_live checks --live against real MariaDB servers: a
// primary set up as the sidecar needs it passes; one writing MIXED binlogs
// fails on the observed value.
func TestValidateCommand_live(t *testing.T) {
	good := testdb.StartPrimary(t, testdb.Options{})
	mixed := testdb.StartPrimary(t, testdb.Options{BinlogFormat: "MIXED"})
	tests := []struct {
		name     string
		give     *testdb.Server
		wantCode int
		wantOut  string
	}{
		{name: "ROW primary", give: good, wantCode: 0, wantOut: "0 error(s)"},
		{name: "MIXED primary", give: mixed, wantCode: 1, wantOut: ": error [V4] binlog_format=MIXED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := []string{"SIDECAR_MYSQL_ADDR=" + tt.give.Addr, "SIDECAR_MYSQL_USER=sidecar", "SIDECAR_MYSQL_PASSWORD=sidecar", "SIDECAR_INSTANCE=test"}
			var out, errOut bytes.Buffer
			code := validateCommand(context.Background(), []string{"--live"}, environ, &out, &errOut)
			all := out.String() + errOut.String()
			if code != tt.wantCode || !strings.Contains(all, tt.wantOut) || !strings.Contains(all, "live "+tt.give.Addr) {
				t.Errorf("got exit %d, want %d with %q in\n%s", code, tt.wantCode, tt.wantOut, all)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := validateCommand(context.Background(), []string{"--live"}, []string{"SIDECAR_MYSQL_ADDR=127.0.0.1:1", "SIDECAR_INSTANCE=test"}, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), "--live: connect 127.0.0.1:1") {
			t.Errorf("got exit %d, want 2 with a connect error: %s", code, errOut.String())
		}
	})
}
