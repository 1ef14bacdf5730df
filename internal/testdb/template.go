package testdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// templateSQL runs on the template's boot server, which has no --log-bin:
// these users must not be in any binlog (lab-notes 1.2). It is part of the
// template's cache key, so editing it rebuilds the template.
const templateSQL = `
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, PROCESS, REPLICATION MASTER ADMIN, SELECT ON *.* TO 'repl'@'%';
CREATE USER 'sidecar'@'%' IDENTIFIED BY 'sidecar';
GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN, SLAVE MONITOR, PROCESS ON *.* TO 'sidecar'@'%';
CREATE USER 'norepl'@'%' IDENTIFIED BY 'norepl';
GRANT PROCESS, BINLOG MONITOR ON *.* TO 'norepl'@'%';
CREATE USER 'bench'@'%' IDENTIFIED BY 'bench';
GRANT ALL ON *.* TO 'bench'@'%' WITH GRANT OPTION;
CREATE DATABASE sbtest;
`

// bin holds the resolved paths of the MariaDB programs. mariadbd lives in
// /usr/sbin, which is not on every PATH.
var bin struct {
	once                            sync.Once
	mariadbd, installDB, admin, cli string
	err                             error
}

func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"} {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin", name)
}

// Require skips the test when MariaDB is not installed, or fails it when the
// environment variable CI is set: integration tests must not pass in CI by
// skipping. Start calls it; call it directly to bail out before other setup.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("testdb: -short runs no real MariaDB (make unit); make test runs them")
	}
	bin.once.Do(func() {
		for _, b := range []struct {
			dst  *string
			name string
		}{{&bin.mariadbd, "mariadbd"}, {&bin.installDB, "mariadb-install-db"}, {&bin.admin, "mariadb-admin"}, {&bin.cli, "mariadb"}} {
			if *b.dst, bin.err = lookBin(b.name); bin.err != nil {
				return
			}
		}
	})
	if bin.err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("testdb: %v (CI is set: MariaDB integration tests must run, not skip)", bin.err)
	}
	t.Skipf("testdb: skipping MariaDB integration test: %v (apt-get install mariadb-server mariadb-client)", bin.err)
}

var tmpl struct {
	mu   sync.Mutex
	data string
}

// templateDir returns the shared template datadir, building it if needed.
func templateDir(t testing.TB) string {
	t.Helper()
	tmpl.mu.Lock()
	defer tmpl.mu.Unlock()
	if tmpl.data != "" {
		return tmpl.data
	}
	version, err := exec.Command(bin.mariadbd, "--version").Output()
	if err != nil {
		t.Fatalf("testdb: mariadbd --version: %v", err)
	}
	sum := sha256.Sum256(append(version, templateSQL...))
	base := filepath.Join(os.TempDir(), "binlog-sidecar-testdb", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	// Test binaries of several packages run in parallel: one builds, the
	// others wait on the lock and then find the finished template.
	lock, err := os.OpenFile(filepath.Join(base, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer lock.Close() // releases the flock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("testdb: flock: %v", err)
	}
	data := filepath.Join(base, "data")
	if _, err := os.Stat(data); err != nil {
		start := time.Now()
		if err := buildTemplate(base, data); err != nil {
			t.Fatalf("testdb: building template datadir: %v", err)
		}
		t.Logf("testdb: built template %s in %v", data, time.Since(start).Round(time.Millisecond))
	}
	tmpl.data = data
	return data
}

// buildTemplate follows lab-notes 1.2 in a scratch dir and renames the
// result into place, so data either does not exist or is complete.
func buildTemplate(base, data string) error {
	// Leftovers of a builder that died; we hold the lock, nobody else uses them.
	old, _ := filepath.Glob(filepath.Join(base, "build-*"))
	for _, d := range old {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(base, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	install := []string{"--no-defaults", "--user=root", "--datadir=" + tmp + "/data",
		"--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"}
	if u, err := user.Current(); err == nil && u.Username != "root" {
		// Lets a non-root OS user log in as root over the socket.
		install = append(install, "--auth-root-socket-user="+u.Username)
	}
	if out, err := exec.Command(bin.installDB, install...).CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	sock := filepath.Join(tmp, "boot.sock")
	p, err := spawn(bin.mariadbd, "--no-defaults", "--user=root", "--datadir="+tmp+"/data",
		"--skip-networking", "--socket="+sock, "--pid-file="+tmp+"/boot.pid", "--log-error="+tmp+"/boot.err")
	if err != nil {
		return err
	}
	defer p.kill()
	bootLog := func() string { b, _ := os.ReadFile(tmp + "/boot.err"); return tail(string(b)) }
	root := []string{"--no-defaults", "--socket=" + sock, "-uroot"}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if p.exited() {
			return fmt.Errorf("boot mariadbd exited\n%s", bootLog())
		}
		if exec.Command(bin.admin, append(root, "ping")...).Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("boot mariadbd not answering after 60 s\n%s", bootLog())
		}
	}
	cli := exec.Command(bin.cli, root...)
	cli.Stdin = strings.NewReader(templateSQL)
	if out, err := cli.CombinedOutput(); err != nil {
		return fmt.Errorf("template SQL: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin.admin, append(root, "shutdown")...).CombinedOutput(); err != nil {
		return fmt.Errorf("boot shutdown: %v\n%s", err, out)
	}
	if !p.wait(60 * time.Second) {
		return fmt.Errorf("boot mariadbd still running 60 s after shutdown\n%s", bootLog())
	}
	errs, _ := filepath.Glob(tmp + "/data/*.err")
	for _, f := range errs {
		os.Remove(f)
	}
	return os.Rename(tmp+"/data", data)
}

// proc is a mariadbd child. The goroutine in spawn reaps it with cmd.Wait,
// so it never lingers as a zombie that `kill -0` would still see
// (lab-notes 1.4): done closes exactly when it is gone.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// forks runs every fork on one OS thread that stays locked and alive.
// Pdeathsig fires when the forking *thread* exits, not the process; a thread
// that never exits makes the kernel SIGKILL mariadbd exactly when the test
// binary dies, even on a -timeout panic where no t.Cleanup runs.
var (
	forks     = make(chan func())
	forksOnce sync.Once
)

func spawn(path string, args ...string) (*proc, error) {
	forksOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for f := range forks {
				f()
			}
		}()
	})
	cmd := exec.Command(path, args...) // stdio is /dev/null; logs go to --log-error
	// Own process group: signals reach anything it forks, and a ^C aimed at
	// `go test` does not race our own shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	errc := make(chan error)
	forks <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool { return p.wait(0) }

func (p *proc) wait(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// signal hits the whole process group; once reaped, the pid may be reused.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop ends the process however it is: SIGCONT first, since a SIGSTOPped
// server acts on nothing else; SIGTERM shuts down cleanly; SIGKILL after 30 s.
func (p *proc) stop() {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	if !p.wait(30 * time.Second) {
		p.kill()
	}
}

func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// tail returns the last 40 lines of s.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
