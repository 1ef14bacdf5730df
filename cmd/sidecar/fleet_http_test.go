package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/fleet"
	"github.com/binlog-sidecar/binlog-sidecar/fleet/kv"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testcert"
)

// `sidecar fleet --http`: /fleet.json is the view as --once prints it,
// / a page with every primary and finding, values escaped; a change of
// the bucket shows; exit 0 when ctx ends.
func TestFleetCommand_HTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, _, b := embeddedFleet(t, ctx)
	// The key is a subject token; the document keeps the name as given.
	keys := map[string]string{"a": kv.Key("prod", "a"), "<b>": "prod.b"}
	put := func(instance, health string, replicas []fleet.Replica) {
		putDoc(t, ctx, b, keys[instance], fleet.Document{Cluster: "prod", Instance: instance, At: time.Now(), Health: health, Replicas: replicas})
	}
	put("a", "ok", []fleet.Replica{{Address: "db-3:3306", Status: fleet.ReplicaConnected}})
	put("<b>", "ok", []fleet.Replica{{Address: "db-3:3306", Status: fleet.ReplicaConnected}})

	hctx, stop := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- fleetCommand(hctx, []string{"--http", "127.0.0.1:0"}, []string{"SIDECAR_NATS_URL=" + url, "SIDECAR_DATA_DIR=" + t.TempDir()}, &out, io.Discard)
	}()
	var base string
	waitFor(t, "the address served", 30*time.Second, func() bool {
		m := regexp.MustCompile(`serving / and /fleet.json on (\S+) \(plain HTTP`).FindStringSubmatch(out.String())
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var v fleet.View
	waitFor(t, "two primaries in /fleet.json", 30*time.Second, func() bool {
		code, body := get("/fleet.json")
		return code == http.StatusOK && json.Unmarshal([]byte(body), &v) == nil && len(v.Primaries) == 2
	})
	if len(v.Findings) != 1 || v.Findings[0].Type != fleet.TypeReplicaShared {
		t.Errorf("findings %+v, want the replica shared by both", v.Findings)
	}
	put("a", "critical", nil)
	var page string
	waitFor(t, "the change on the page", 30*time.Second, func() bool {
		var code int
		code, page = get("/")
		return code == http.StatusOK && strings.Contains(page, `<tr class="critical"><td>prod/a</td><td>critical</td>`)
	})
	for _, want := range []string{"prod/&lt;b&gt;", `http-equiv="refresh"`, "2 primaries, 0 findings"} {
		if !strings.Contains(page, want) {
			t.Errorf("no %q in the page:\n%s", want, page)
		}
	}
	if strings.Contains(page, "prod/<b>") {
		t.Error("an instance name was not escaped")
	}
	if code, _ := get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", code)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}

// `sidecar fleet --http` with SIDECAR_WEB_CONFIG_FILE is as closed as the
// daemon's own endpoints: TLS, and basic auth on every path; a web
// configuration that cannot serve stops it before it connects (exit 2
// naming the variable).
func TestFleetCommand_HTTPWebConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, _, b := embeddedFleet(t, ctx)
	putDoc(t, ctx, b, kv.Key("prod", "a"), fleet.Document{Cluster: "prod", Instance: "a", At: time.Now(), Health: "ok"})
	webConfig, certs := testcert.WriteWebConfig(t, "oncall", "s3cret")

	bad := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(bad, []byte("basic_auth_users:\n  oncall: hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	env := []string{"SIDECAR_NATS_URL=" + url, "SIDECAR_DATA_DIR=" + t.TempDir()}
	if code := fleetCommand(ctx, []string{"--http", "127.0.0.1:0"}, append(env, "SIDECAR_WEB_CONFIG_FILE="+bad), io.Discard, &stderr); code != exitConfig ||
		!strings.Contains(stderr.String(), "SIDECAR_WEB_CONFIG_FILE") || strings.Contains(stderr.String(), "hunter2") {
		t.Errorf("a plain-text password: exit %d, stderr %q; want %d naming SIDECAR_WEB_CONFIG_FILE, not echoing it", code, stderr.String(), exitConfig)
	}

	hctx, stop := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- fleetCommand(hctx, []string{"--http", "127.0.0.1:0"}, append(env, "SIDECAR_WEB_CONFIG_FILE="+webConfig), &out, io.Discard)
	}()
	var addr string
	waitFor(t, "the address served", 30*time.Second, func() bool {
		m := regexp.MustCompile(`serving / and /fleet.json on (\S+) \(TLS and basic auth as`).FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}}
	get := func(scheme, path, user, password string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, "/fleet.json served to the configured user", 30*time.Second, func() bool {
		return get("https", "/fleet.json", "oncall", "s3cret") == http.StatusOK
	})
	for _, c := range []struct {
		name, scheme, path, user, password string
		want                               int
	}{
		{"no credentials, view", "https", "/fleet.json", "", "", http.StatusUnauthorized},
		{"no credentials, page", "https", "/", "", "", http.StatusUnauthorized},
		{"wrong password", "https", "/", "oncall", "nope", http.StatusUnauthorized},
		{"plain HTTP", "http", "/fleet.json", "oncall", "s3cret", http.StatusBadRequest},
		{"the page", "https", "/", "oncall", "s3cret", http.StatusOK},
	} {
		if got := get(c.scheme, c.path, c.user, c.password); got != c.want {
			t.Errorf("%s: %s %s: status %d, want %d", c.name, c.scheme, c.path, got, c.want)
		}
	}
	stop()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}
