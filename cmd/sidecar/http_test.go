package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/api"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testcert"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// serveForHealthcheck runs the real HTTP server on 127.0.0.1 with the web
// configuration given and returns its port.
func serveForHealthcheck(t *testing.T, webConfig string, live error) string {
	t.Helper()
	srv := api.New("", api.Sources{
		Stream: func() stream.Snapshot { return stream.Snapshot{} },
		Health: func() health.Report { return health.Report{} },
		Bus:    func() events.Stats { return events.Stats{} },
		Live:   func() error { return live },
	}, zerolog.Nop(), api.WithWebConfig(webConfig))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestHealthcheck(t *testing.T) {
	webConfig, _ := testcert.WriteWebConfig(t, "probe", "pr0be")
	otherConfig, _ := testcert.WriteWebConfig(t, "probe", "pr0be") // another certificate
	passwordFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte("pr0be\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := serveForHealthcheck(t, "", nil)
	dead := serveForHealthcheck(t, "", errors.New("loop exited: [health monitor]"))
	secure := serveForHealthcheck(t, webConfig, nil)
	unused := freeAddr(t)

	tests := []struct {
		name     string
		env      []string
		wantCode int
		wantErr  string
	}{
		{"plain, all interfaces", []string{"SIDECAR_HTTP_ADDR=:" + plain}, 0, ""},
		{"plain, 0.0.0.0", []string{"SIDECAR_HTTP_ADDR=0.0.0.0:" + plain}, 0, ""},
		{"not live", []string{"SIDECAR_HTTP_ADDR=:" + dead}, 1, "loop exited"},
		{"nothing listening", []string{"SIDECAR_HTTP_ADDR=" + unused}, 1, "connection refused"},
		{"TLS and basic auth", []string{"SIDECAR_HTTP_ADDR=:" + secure, "SIDECAR_WEB_CONFIG_FILE=" + webConfig,
			"SIDECAR_HEALTHCHECK_USER=probe", "SIDECAR_HEALTHCHECK_PASSWORD_FILE=" + passwordFile}, 0, ""},
		{"no credentials", []string{"SIDECAR_HTTP_ADDR=:" + secure, "SIDECAR_WEB_CONFIG_FILE=" + webConfig}, 1, "SIDECAR_HEALTHCHECK_USER"},
		{"wrong password", []string{"SIDECAR_HTTP_ADDR=:" + secure, "SIDECAR_WEB_CONFIG_FILE=" + webConfig,
			"SIDECAR_HEALTHCHECK_USER=probe", "SIDECAR_HEALTHCHECK_PASSWORD=wrong"}, 1, "401"},
		{"plain HTTP against TLS", []string{"SIDECAR_HTTP_ADDR=:" + secure}, 1, "400"},
		{"a certificate other than the configured one", []string{"SIDECAR_HTTP_ADDR=:" + secure, "SIDECAR_WEB_CONFIG_FILE=" + otherConfig,
			"SIDECAR_HEALTHCHECK_USER=probe", "SIDECAR_HEALTHCHECK_PASSWORD=pr0be"}, 1, "certificate other than"},
		{"password file a named pipe", []string{"SIDECAR_HTTP_ADDR=:" + secure, "SIDECAR_HEALTHCHECK_USER=probe",
			"SIDECAR_HEALTHCHECK_PASSWORD_FILE=" + fifo}, 1, "not a regular file"},
		{"both password forms", []string{"SIDECAR_HTTP_ADDR=:" + secure, "SIDECAR_HEALTHCHECK_PASSWORD=x",
			"SIDECAR_HEALTHCHECK_PASSWORD_FILE=" + passwordFile}, 1, "only one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := mainCode([]string{"healthcheck"}, tt.env, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
			if code == 0 && strings.TrimSpace(stdout.String()) != "live" {
				t.Errorf("stdout %q, want live", stdout.String())
			}
		})
	}
}

// A web configuration that cannot serve is a configuration error at start
// (exit 2) naming the variable, never echoing the file.
func TestMainCode_BadWebConfigExits2(t *testing.T) {
	dir := t.TempDir()
	notConfig := filepath.Join(dir, "shadow")
	if err := os.WriteFile(notConfig, []byte("root:$6$salt$secrethash:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plainPassword := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(plainPassword, []byte("basic_auth_users:\n  prometheus: hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{notConfig, plainPassword, filepath.Join(dir, "missing.yml"), dir} {
		var stderr bytes.Buffer
		code := mainCode([]string{"run"}, []string{"SIDECAR_WEB_CONFIG_FILE=" + path, "SIDECAR_NATS_URL=none",
			"SIDECAR_HTTP_ADDR=" + freeAddr(t)}, io.Discard, &stderr)
		if code != exitConfig || !strings.Contains(stderr.String(), "SIDECAR_WEB_CONFIG_FILE") {
			t.Errorf("%s: exit %d, stderr %q; want %d naming SIDECAR_WEB_CONFIG_FILE", path, code, stderr.String(), exitConfig)
		}
		if strings.Contains(stderr.String(), "secrethash") || strings.Contains(stderr.String(), "hunter2") {
			t.Errorf("%s: stderr %q echoes the file", path, stderr.String())
		}
	}
}
