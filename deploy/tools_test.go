package deploy

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// requireTool finds a tool the test needs: missing is a skip with a reason
// locally and a failure under CI, so CI can never pass by skipping.
func requireTool(t *testing.T, name, apt string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (CI is set): apt-get install %s", name, apt)
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, apt)
	return ""
}

var (
	buildOnce sync.Once
	buildDir  string
	buildOut  []byte
	buildErr  error
)

// testVersion is stamped into the test build, to check -X reaches main.
const testVersion = "9.9.9-test"

// sidecarBinary builds ./cmd/sidecar once per test binary with
// scripts/build.sh, the same script the Dockerfile and the Makefile run.
func sidecarBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sidecar-build")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("sh", filepath.Join("..", "scripts", "build.sh"), filepath.Join(buildDir, "sidecar"))
		cmd.Env = append(os.Environ(), "VERSION="+testVersion, "COMMIT=abc1234")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "sidecar")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestBuildScript_static checks that the binary runs on distroless/static or
// scratch: no ELF interpreter and no shared libraries, and the version from
// the build reaches `sidecar version`.
func TestBuildScript_static(t *testing.T) {
	bin := sidecarBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has an ELF interpreter (PT_INTERP): not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("binary needs shared libraries (DT_NEEDED) %v, err %v", libs, err)
	}
	if f.Section(".debug_info") != nil || f.Section(".symtab") != nil {
		t.Errorf("binary keeps debug or symbol sections: -s -w missing")
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) || !strings.Contains(string(out), "abc1234") {
		t.Errorf("sidecar version: %v: %q, want version %s and commit abc1234", err, out, testVersion)
	}
}

// TestDockerfile_usesBuildScript pins the Dockerfile to the build script and
// the runtime shape the manifests assume (non-root 65532, port 9106).
func TestDockerfile_usesBuildScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("..", "scripts", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM golang:1.26 AS build", "sh scripts/build.sh /out/sidecar", "USER 65532", "EXPOSE 9106", `ENTRYPOINT ["/sidecar"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	const build = `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" -o "$out" ./cmd/sidecar`
	if !strings.Contains(string(script), build) {
		t.Errorf("scripts/build.sh lacks %q", build)
	}
}

// TestPrometheusRules runs promtool on the alert rules and their unit tests.
func TestPrometheusRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPuppet_validateCmd applies the binlog_sidecar class for real: a my.cnf
// with server_id=0 is refused and not written; a good one is written.
// Judged by exit code (lab-notes §5: Facter prints harmless errors).
func TestPuppet_validateCmd(t *testing.T) {
	puppet := requireTool(t, "puppet", "puppet")
	bin := sidecarBinary(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "etc", "mysql", "replication.cnf")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	modules, err := filepath.Abs("puppet")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(mycnf string) (int, string) {
		manifest := filepath.Join(dir, "site.pp")
		pp := `class { 'binlog_sidecar':
  binary_source  => '` + bin + `',
  binary_path    => '` + filepath.Join(dir, "bin", "sidecar") + `',
  config_dir     => '` + filepath.Join(dir, "etc", "sidecar") + `',
  replicas       => ['db-2.example.com semisync', 'db-3.example.com'],
  mycnf_path     => '` + target + `',
  mycnf_content  => "` + strings.ReplaceAll(mycnf, "\n", `\n`) + `",
  manage_service => false,
}
file { '` + filepath.Join(dir, "bin") + `': ensure => directory }
`
		if err := os.WriteFile(manifest, []byte(pp), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(puppet, "apply", "--detailed-exitcodes", "--modulepath", modules,
			"--confdir", filepath.Join(dir, "puppet", "conf"), "--vardir", filepath.Join(dir, "puppet", "var"),
			"--codedir", filepath.Join(dir, "puppet", "code"), "--logdir", filepath.Join(dir, "puppet", "log"), manifest)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("puppet apply: %v\n%s", err, out)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}

	// 4: failures, 6: changes and failures (the binary and inventory were
	// installed, the my.cnf refused).
	code, out := apply("[mariadb]\nserver_id=0\nlog_bin=db1-bin\nbinlog_format=ROW\n")
	if code != 4 && code != 6 {
		t.Fatalf("bad my.cnf: puppet exit %d, want 4 or 6\n%s", code, out)
	}
	if !strings.Contains(out, "error [V1] server_id=0") {
		t.Errorf("puppet output does not show the validator's finding:\n%s", out)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("bad my.cnf was written (stat: %v)", err)
	}

	good := "[mariadb]\nserver_id=1\nlog_bin=db1-bin\nbinlog_format=ROW\nreport_host=db-1.example.com\nrpl_semi_sync_master_enabled=ON\n"
	if code, out := apply(good); code != 2 {
		t.Fatalf("good my.cnf: puppet exit %d, want 2 (changes, no failures)\n%s", code, out)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != good {
		t.Errorf("good my.cnf: got %q (%v), want %q", b, err, good)
	}
	inv, err := os.ReadFile(filepath.Join(dir, "etc", "sidecar", "replicas"))
	if err != nil || !strings.Contains(string(inv), "\ndb-2.example.com semisync\ndb-3.example.com\n") {
		t.Errorf("inventory file: %q (%v)", inv, err)
	}
}
