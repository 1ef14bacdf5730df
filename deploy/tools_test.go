package deploy

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requireTool finds a tool the test needs, on PATH or where go install
// and scripts/deps.sh put it: missing is a skip with a reason locally and a
// failure under CI, so CI can never pass by skipping.
func requireTool(t *testing.T, name, apt string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if p := filepath.Join(build.Default.GOPATH, "bin", name); isExecutable(p) {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (CI is set): apt-get install %s", name, apt)
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, apt)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
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
	for _, want := range []string{"sh scripts/build.sh /out/sidecar", "USER 65532", "EXPOSE 9106", `ENTRYPOINT ["/sidecar"]`,
		// The container's health is the sidecar's own liveness.
		`HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/sidecar", "healthcheck"]`,
		`org.opencontainers.image.source="https://github.com/binlog-sidecar/binlog-sidecar"`,
		`org.opencontainers.image.version="$VERSION"`, `org.opencontainers.image.revision="$COMMIT"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// Every base image pinned by digest, the build one on the project's Go.
	from := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(string(b), -1)
	if len(from) != 2 || !strings.HasPrefix(from[0][1], "golang:1.26.") {
		t.Errorf("want a golang:1.26.x build stage and one runtime stage, got %v", from)
	}
	for _, f := range from {
		if !regexp.MustCompile(`^[a-z0-9./-]+:[a-z0-9.-]+@sha256:[0-9a-f]{64}$`).MatchString(f[1]) {
			t.Errorf("base image %s is not pinned by tag and digest", f[1])
		}
	}
	const build = `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" -o "$out" ./cmd/sidecar`
	if !strings.Contains(string(script), build) {
		t.Errorf("scripts/build.sh lacks %q", build)
	}
}

// TestCompose_config runs Compose v2+ on the playground: the file is valid
// Compose, and as Compose reads it, every port is published on loopback
// only and every service has a healthcheck (the sidecar's is its own
// healthcheck subcommand).
func TestCompose_config(t *testing.T) {
	// GOPATH/bin first: scripts/deps.sh builds Compose v2+ there, and a
	// docker-compose on PATH may be Debian's 1.x.
	dc := filepath.Join(build.Default.GOPATH, "bin", "docker-compose")
	if !isExecutable(dc) {
		dc = requireTool(t, "docker-compose", "Compose v2: scripts/deps.sh builds it")
	}
	out, err := exec.Command(dc, "version", "--short").Output()
	if err != nil || !regexp.MustCompile(`^v?([2-9]|\d\d)\.`).Match(out) {
		t.Fatalf("docker-compose version %q (%v): want Compose v2 or later", out, err)
	}
	cmd := exec.Command(dc, "-f", filepath.Join("compose", "compose.yaml"), "config", "--format", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, stderr.String())
	}
	var c struct {
		Name     string `json:"name"`
		Services map[string]struct {
			Ports []struct {
				HostIP    string `json:"host_ip"`
				Published string `json:"published"`
			} `json:"ports"`
			Environment map[string]*string `json:"environment"`
			Healthcheck *struct {
				Test []string `json:"test"`
			} `json:"healthcheck"`
		} `json:"services"`
	}
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("docker-compose config --format json: %v", err)
	}
	if c.Name != "binlog-sidecar" || len(c.Services) != 3 {
		t.Errorf("project %q with %d services, want binlog-sidecar with mysql, nats and the sidecar", c.Name, len(c.Services))
	}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes port %s on %q, want 127.0.0.1 only", name, p.Published, p.HostIP)
			}
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			t.Errorf("%s has no healthcheck", name)
		}
		for k := range s.Environment {
			if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_FILE") {
				t.Errorf("%s: %s in the environment; passwords come from secret files", name, k)
			}
		}
	}
	if hc := c.Services["sidecar"].Healthcheck; hc == nil || strings.Join(hc.Test, " ") != "CMD /sidecar healthcheck" {
		t.Errorf("sidecar healthcheck %+v, want [CMD /sidecar healthcheck]", hc)
	}
	b, err := os.ReadFile(filepath.Join("compose", "compose.yaml"))
	if err != nil || !strings.Contains(string(b), "Needs Compose v2 or later") {
		t.Errorf("compose.yaml does not say it needs Compose v2 (%v)", err)
	}
	t.Logf("docker-compose config: %d bytes of JSON, %d services", len(out), len(c.Services))
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
	apply := func(mycnf, password string, extraArgs ...string) (int, string) {
		manifest := filepath.Join(dir, "site.pp")
		pp := `class { 'binlog_sidecar':
  binary_source  => '` + bin + `',
  binary_path    => '` + filepath.Join(dir, "bin", "sidecar") + `',
  config_dir     => '` + filepath.Join(dir, "etc", "sidecar") + `',
  replicas       => ['db-2.example.com semisync', 'db-3.example.com'],
  env            => {'SIDECAR_CLUSTER' => 'prod', 'SIDECAR_NATS_CREDS' => Sensitive('` + password + `-creds')},
  mysql_password => Sensitive('` + password + `'),
  mycnf_path     => '` + target + `',
  mycnf_content  => "` + strings.ReplaceAll(mycnf, "\n", `\n`) + `",
  manage_service => false,
}
file { '` + filepath.Join(dir, "bin") + `': ensure => directory }
`
		if err := os.WriteFile(manifest, []byte(pp), 0o600); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"apply", "--detailed-exitcodes", "--modulepath", modules,
			"--confdir", filepath.Join(dir, "puppet", "conf"), "--vardir", filepath.Join(dir, "puppet", "var"),
			"--codedir", filepath.Join(dir, "puppet", "code"), "--logdir", filepath.Join(dir, "puppet", "log")}, extraArgs...)
		cmd := exec.Command(puppet, append(args, manifest)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("puppet apply: %v\n%s", err, out)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}

	// 4: failures, 6: changes and failures (the binary and inventory were
	// installed, the my.cnf refused).
	code, out := apply("[mariadb]\nserver_id=0\nlog_bin=db1-bin\nbinlog_format=ROW\n", "first-s3cret")
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
	if code, out := apply(good, "first-s3cret"); code != 2 {
		t.Fatalf("good my.cnf: puppet exit %d, want 2 (changes, no failures)\n%s", code, out)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != good {
		t.Errorf("good my.cnf: got %q (%v), want %q", b, err, good)
	}
	inv, err := os.ReadFile(filepath.Join(dir, "etc", "sidecar", "replicas"))
	if err != nil || !strings.Contains(string(inv), "\ndb-2.example.com semisync\ndb-3.example.com\n") {
		t.Errorf("inventory file: %q (%v)", inv, err)
	}

	// A Sensitive password lands in its own file, readable by the service
	// alone, and SIDECAR_MYSQL_PASSWORD_FILE points at it.
	pwFile := filepath.Join(dir, "etc", "sidecar", "mysql-password")
	if b, err := os.ReadFile(pwFile); err != nil || string(b) != "first-s3cret\n" {
		t.Errorf("password file: %q (%v)", b, err)
	}
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("password file mode: %v (%v), want 0640", fi.Mode().Perm(), err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "etc", "sidecar", "sidecar.env"))
	if err != nil || !strings.Contains(string(env), "\nSIDECAR_MYSQL_PASSWORD_FILE="+pwFile+"\n") || !strings.Contains(string(env), "\nSIDECAR_NATS_CREDS=first-s3cret-creds\n") {
		t.Errorf("sidecar.env: %q (%v)", env, err)
	}
	// A changed password, applied the way `puppet agent --test` shows
	// changes (with diffs): neither the old nor the new one is printed.
	code, out = apply(good, "second-s3cret", "--show_diff", "--verbose")
	if code != 2 {
		t.Fatalf("password change: puppet exit %d, want 2\n%s", code, out)
	}
	for _, secret := range []string{"first-s3cret", "second-s3cret"} {
		if strings.Contains(out, secret) {
			t.Errorf("puppet apply --show_diff printed the password %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "mysql-password]/content: changed [redacted] to [redacted]") {
		t.Errorf("want the password file's change reported as redacted:\n%s", out)
	}
}

// TestPuppet_lint: the module is what Puppet's own tools accept:
// `puppet parser validate`, `puppet epp validate`, `puppet-lint` with
// warnings as failures, and a metadata.json `puppet module list` reads.
func TestPuppet_lint(t *testing.T) {
	puppet := requireTool(t, "puppet", "puppet")
	lint := requireTool(t, "puppet-lint", "puppet-lint")
	manifests, _ := filepath.Glob(filepath.Join("puppet", "*", "manifests", "*.pp"))
	examples, _ := filepath.Glob(filepath.Join("puppet", "examples", "*.pp"))
	templates, _ := filepath.Glob(filepath.Join("puppet", "*", "templates", "*.epp"))
	if len(manifests) == 0 || len(examples) == 0 || len(templates) == 0 {
		t.Fatalf("no manifests, examples or templates found")
	}
	dir := t.TempDir()
	puppetDirs := []string{"--confdir", filepath.Join(dir, "conf"), "--vardir", filepath.Join(dir, "var"),
		"--codedir", filepath.Join(dir, "code"), "--logdir", filepath.Join(dir, "log")}
	for _, c := range [][]string{
		append(append([]string{puppet, "parser", "validate"}, puppetDirs...), append(manifests, examples...)...),
		append(append([]string{puppet, "epp", "validate"}, puppetDirs...), templates...),
		{lint, "--fail-on-warnings", filepath.Join("puppet", "binlog_sidecar"), filepath.Join("puppet", "examples")},
		append([]string{puppet, "module", "list", "--modulepath", "puppet"}, puppetDirs...),
	} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		name := filepath.Base(c[0]) + " " + c[1]
		if err != nil || strings.Contains(string(out), "Error") || strings.Contains(string(out), "Warning") ||
			(filepath.Base(c[0]) == "puppet-lint" && len(strings.TrimSpace(string(out))) > 0) {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
		t.Logf("%s: exit 0 %s", name, strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(filepath.Join("puppet", "binlog_sidecar", "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Name, Version, Author, License, Summary, Source string
		Dependencies                                    []any
	}
	if err := json.Unmarshal(b, &md); err != nil || !strings.HasSuffix(md.Name, "-binlog_sidecar") || md.Version == "" || md.License == "" || md.Dependencies == nil {
		t.Errorf("metadata.json: %+v (%v)", md, err)
	}
}

// TestPuppet_restartOnUnitChange applies the class with the service
// managed, for real, three times: a first run; a second with nothing
// changed (no restart); a third after the unit file on disk was edited,
// which must restart the service. The user, the systemd reload and the
// service itself are noop (resource defaults), so nothing on this machine
// changes but the files in a temporary directory; Puppet still plans their
// refresh events, which is what is checked.
func TestPuppet_restartOnUnitChange(t *testing.T) {
	puppet := requireTool(t, "puppet", "puppet")
	dir := t.TempDir()
	modules, err := filepath.Abs("puppet")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "binlog-sidecar.service")
	pp := `User { noop => true }
Exec { noop => true }
Service { noop => true, provider => 'base', binary => '/bin/true', status => '/bin/true' }
class { 'binlog_sidecar':
  binary_source  => '/bin/true',
  binary_path    => '` + filepath.Join(dir, "sidecar") + `',
  config_dir     => '` + filepath.Join(dir, "etc") + `',
  mysql_password => Sensitive('pw'),
  unit_path      => '` + unit + `',
  service_user   => 'root',
}
`
	manifest := filepath.Join(dir, "site.pp")
	if err := os.WriteFile(manifest, []byte(pp), 0o600); err != nil {
		t.Fatal(err)
	}
	apply := func() string {
		cmd := exec.Command(puppet, "apply", "--detailed-exitcodes", "--modulepath", modules,
			"--confdir", filepath.Join(dir, "conf"), "--vardir", filepath.Join(dir, "var"),
			"--codedir", filepath.Join(dir, "code"), "--logdir", filepath.Join(dir, "log"), manifest)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && (!errors.As(err, &ee) || ee.ExitCode()&4 != 0) {
			t.Fatalf("puppet apply: %v\n%s", err, out)
		}
		return string(out)
	}
	const restart = "Service[binlog-sidecar]: Would have triggered 'refresh'"
	if out := apply(); !strings.Contains(out, "binlog-sidecar.service]/ensure: defined content") {
		t.Fatalf("first run did not write the unit:\n%s", out)
	}
	if out := apply(); strings.Contains(out, restart) {
		t.Fatalf("nothing changed, yet the service would restart:\n%s", out)
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, append(b, "# edited by hand\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := apply()
	if !strings.Contains(out, restart) || !strings.Contains(out, "Exec[binlog-sidecar systemd reload]: Would have triggered 'refresh'") {
		t.Errorf("a changed unit file must reload systemd and restart the service:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Notice: /Stage") {
			t.Log(l)
		}
	}
}

// TestDockerfile_healthcheck runs the Dockerfile's HEALTHCHECK command, as
// written there, with the built binary in place of /sidecar: 0 while a real
// `sidecar run` is live (with MySQL and NATS unreachable, which liveness
// never depends on), 1 once it has stopped.
func TestDockerfile_healthcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts the sidecar daemon")
	}
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^HEALTHCHECK .* CMD (\[.*\])$`).FindSubmatch(b)
	var argv []string
	if m == nil || json.Unmarshal(m[1], &argv) != nil || len(argv) == 0 || argv[0] != "/sidecar" {
		t.Fatalf("Dockerfile: want HEALTHCHECK ... CMD [\"/sidecar\", ...], got %q", m)
	}
	bin := sidecarBinary(t)
	closed := loopbackAddr(t) // nothing listens: MySQL is down
	env := append(os.Environ(), "SIDECAR_HTTP_ADDR="+loopbackAddr(t), "SIDECAR_MYSQL_ADDR="+closed,
		"SIDECAR_NATS_URL=none", "SIDECAR_DATA_DIR="+t.TempDir(), "SIDECAR_LOG_LEVEL=warn")
	check := func() (int, string) {
		cmd := exec.Command(bin, argv[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%v: %v", argv, err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := check(); code != 1 {
		t.Fatalf("nothing running: healthcheck exit %d, want 1\n%s", code, out)
	}

	daemon := exec.Command(bin, "run")
	daemon.Env = env
	var log strings.Builder
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	defer func() {
		_ = daemon.Process.Kill()
		<-done
	}()
	live := false
	for i := 0; i < 150 && !live; i++ {
		if code, _ := check(); code == 0 {
			live = true
			break
		}
		select {
		case err := <-done:
			t.Fatalf("sidecar run exited: %v\n%s", err, log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !live {
		t.Fatalf("the healthcheck never passed against a running sidecar\n%s", log.String())
	}
	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-done
	done <- nil // for the deferred cleanup
	if code, out := check(); code != 1 {
		t.Errorf("after the sidecar stopped: healthcheck exit %d, want 1\n%s", code, out)
	}
}

// loopbackAddr is a free 127.0.0.1 address (nothing listens on it once
// returned).
func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
