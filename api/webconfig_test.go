package api

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testcert"
)

// TLS and basic auth on every path, seen by a real TLS client that trusts
// only the test CA.
func TestServer_WebConfigTLSAndBasicAuth(t *testing.T) {
	path, certs := testcert.WriteWebConfig(t, "prometheus", "s3cret")
	if err := ValidateWebConfig(path); err != nil {
		t.Fatalf("ValidateWebConfig: %v", err)
	}
	_, addr := running(t, WithWebConfig(path))
	client := &http.Client{Timeout: bound, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}}
	get := func(url, user, password string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	base := "https://" + addr
	if code, body, _ := get(base+"/metrics", "prometheus", "s3cret"); code != 200 || !strings.Contains(body, "binlog_sidecar_health_status") {
		t.Errorf("/metrics with the right credentials: %d %.200s; want 200 with the metrics", code, body)
	}
	// The status page is behind the same TLS and basic auth, and live updates
	// (it fetches itself) need nothing more.
	if code, body, _ := get(base+"/", "prometheus", "s3cret"); code != 200 || !strings.Contains(body, `id="live"`) {
		t.Errorf("/ with the right credentials: %d %.200s; want 200 with the status page", code, body)
	}
	for _, p := range []string{"/", "/metrics", "/status", "/livez", "/readyz", "/no-such-path"} {
		code, body, h := get(base+p, "", "")
		if code != 401 || h.Get("WWW-Authenticate") == "" || strings.Contains(body, "binlog_sidecar") {
			t.Errorf("%s without credentials: %d %q, want 401 with WWW-Authenticate", p, code, body)
		}
		if code, _, _ := get(base+p, "prometheus", "wrong"); code != 401 {
			t.Errorf("%s with a wrong password: %d, want 401", p, code)
		}
	}
	// Auth comes first, then the method rule.
	req, _ := http.NewRequest("POST", base+"/livez", nil)
	req.SetBasicAuth("prometheus", "s3cret")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("authenticated POST: %v %v, want 405", resp, err)
	} else {
		resp.Body.Close()
	}

	// Plain HTTP on the TLS port is refused, credentials or not.
	resp, err := http.Get("http://prometheus:s3cret@" + addr + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "binlog_sidecar") {
			t.Errorf("plain HTTP: %d %.200s, want refused", resp.StatusCode, b)
		}
	}
	// A client that does not trust the CA does not get through either.
	if _, err := http.Get(base + "/livez"); err == nil {
		t.Error("a client without the CA completed the TLS handshake")
	}
}

// A bad web configuration is an error that names the file and never
// echoes its content.
func TestValidateWebConfig(t *testing.T) {
	dir := t.TempDir()
	good, _ := testcert.WriteWebConfig(t, "u", "p")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       string // "" for valid
	}{
		{"unset", "", ""},
		{"good", good, ""},
		{"missing", filepath.Join(dir, "nope.yml"), "cannot read"},
		{"a directory", dir, "not a regular file"},
		{"a FIFO", fifo, "not a regular file"},
		{"plain-text password", write("plain.yml", "basic_auth_users:\n  u: hunter2\n"), "bcrypt"},
		{"unknown key", write("typo.yml", "basic_auth_user:\n  u: x\n"), "unknown key basic_auth_user"},
		{"not YAML of this kind", write("shadow", "root:$6$abcdefgh$verysecrethash:19000:0:99999:7:::\n"), "line 1"},
		{"missing certificate", write("tls.yml", "tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n"), "nonexistent.pem"},
		{"key without certificate", write("key.yml", "tls_server_config:\n  key_file: "+good+"\n"), "missing one of cert or cert_file"},
		{"a FIFO as certificate", write("fifocert.yml", "tls_server_config:\n  cert_file: fifo\n  key_file: fifo\n"), "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateWebConfig(tt.path)
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidateWebConfig(%s) = %v, want nil", tt.path, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateWebConfig = %v, want an error containing %q", err, tt.want)
			}
			for _, secret := range []string{"hunter2", "verysecrethash", "$6$"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q echoes the file's content", err)
				}
			}
		})
	}
}
