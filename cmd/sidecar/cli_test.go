package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

// TestMainCode_help: every way of asking for help prints usage on stdout
// and exits 0 without starting anything. The environment is a bad
// configuration, so a daemon that started anyway would exit 2.
func TestMainCode_help(t *testing.T) {
	bad := []string{"SIDECAR_POLL_INTERVAL=soon"}
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string // on stdout
		wantErr  string // on stderr
	}{
		{[]string{"--help"}, 0, "usage: sidecar [COMMAND]", ""},
		{[]string{"-h"}, 0, "usage: sidecar [COMMAND]", ""},
		{[]string{"help"}, 0, "  sidecar validate [--role source|replica|auto]", ""},
		{[]string{"help", "audit"}, 0, "usage: sidecar audit", ""},
		{[]string{"run", "--help"}, 0, "usage: sidecar [run]", ""},
		{[]string{"run", "-h"}, 0, "usage: sidecar [run]", ""},
		{[]string{"validate", "--help"}, 0, "usage: sidecar validate", ""},
		{[]string{"validate", "--format", "json", "-h", "my.cnf"}, 0, "usage: sidecar validate", ""},
		{[]string{"audit", "--help"}, 0, "usage: sidecar audit", ""},
		{[]string{"version", "--help"}, 0, "usage: sidecar version", ""},
		{[]string{"--version"}, 0, "sidecar dev (commit ", ""},
		{[]string{"-v"}, 0, "sidecar dev (commit ", ""},
		{[]string{"version"}, 0, "sidecar dev (commit ", ""},
		{[]string{"--bogus"}, 2, "", `unknown flag "--bogus"`},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"run", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"run"}, 2, "", "SIDECAR_POLL_INTERVAL"}, // the daemon itself does start: its configuration fails
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := mainCode(tt.args, bad, &out, &errOut)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, out.String(), errOut.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if tt.wantCode == 0 && errOut.Len() > 0 {
				t.Errorf("stderr %q, want nothing", errOut.String())
			}
		})
	}
}

// Every subcommand is in the usage, so a new row in commands is all a new
// subcommand needs.
func TestUsage_listsEveryCommand(t *testing.T) {
	u := usage()
	for _, c := range commands {
		if !strings.Contains(u, "  sidecar "+c.name) {
			t.Errorf("usage lacks %s:\n%s", c.name, u)
		}
	}
}

func TestFromBuildInfo(t *testing.T) {
	info := func(mainVersion string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/binlog-sidecar/binlog-sidecar", Version: mainVersion}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	tests := []struct {
		name                    string
		version, commit         string
		read                    func() (*debug.BuildInfo, bool)
		wantVersion, wantCommit string
	}{
		{"plain go build in a checkout", "dev", "unknown", info("(devel)", "vcs.revision", "8d3b49b50f0d", "vcs.modified", "false"), "dev", "8d3b49b50f0d"},
		{"uncommitted changes", "dev", "unknown", info("(devel)", "vcs.revision", "8d3b49b50f0d", "vcs.modified", "true"), "dev", "8d3b49b50f0d-modified"},
		{"go install module@version", "dev", "unknown", info("v0.2.0"), "v0.2.0", "unknown"},
		{"a pseudo-version repeats the commit", "dev", "unknown",
			info("v0.0.0-20261204210308-bbd6ae0a8099+dirty", "vcs.revision", "bbd6ae0a8099d5834f008d3fae61f97f412001df", "vcs.modified", "true"),
			"dev", "bbd6ae0a8099d5834f008d3fae61f97f412001df-modified"},
		{"a pseudo-version after a tag", "dev", "unknown", info("v0.2.1-0.20261204210308-bbd6ae0a8099"), "dev", "unknown"},
		{"ldflags win", "0.2.0", "abc", info("(devel)", "vcs.revision", "8d3b49b50f0d"), "0.2.0", "abc"},
		{"no build info", "dev", "unknown", func() (*debug.BuildInfo, bool) { return nil, false }, "dev", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := fromBuildInfo(tt.version, tt.commit, tt.read)
			if v != tt.wantVersion || c != tt.wantCommit {
				t.Errorf("got %s %s, want %s %s", v, c, tt.wantVersion, tt.wantCommit)
			}
		})
	}
}
