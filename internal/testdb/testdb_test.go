package testdb

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/binlog-sidecar/binlog-sidecar/internal/netns"
)

// replicateWait bounds the wait for a replica to apply what the primary
// wrote: reached only when replication is broken, never by a loaded
// machine being slow.
const replicateWait = time.Minute

func TestPrimaryReplica(t *testing.T) {
	t.Parallel()
	p := StartPrimary(t, Options{})
	r := StartReplica(t, p, Options{Extra: []string{"--report-host=replica-a.test"}})

	p.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY, v VARCHAR(20))")
	p.Exec(t, "INSERT INTO sbtest.t VALUES (?, ?)", 1, "hello")
	for deadline := time.Now().Add(replicateWait); ; time.Sleep(20 * time.Millisecond) {
		if r.Query(t, "SHOW TABLES FROM sbtest LIKE 't'") != nil {
			if rows := r.Query(t, "SELECT v FROM sbtest.t WHERE id = 1"); len(rows) == 1 {
				if rows[0]["v"] != "hello" {
					t.Fatalf("replica has v=%q", rows[0]["v"])
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("row not replicated after %v", replicateWait)
		}
	}

	if hosts := p.Query(t, "SHOW SLAVE HOSTS"); len(hosts) != 1 || hosts[0]["Host"] != "replica-a.test" {
		t.Errorf("SHOW SLAVE HOSTS = %v", hosts)
	}
	file, pos := p.MasterStatus(t)
	files := p.BinlogFiles(t)
	if len(files) != 1 || files[0].Name != file || files[0].Size != uint64(pos) || !strings.HasPrefix(file, p.Name+"-bin.") {
		t.Errorf("MasterStatus %s:%d, BinlogFiles %v", file, pos, files)
	}
	grants := p.Query(t, "SHOW GRANTS FOR 'sidecar'@'%'")
	if len(grants) == 0 || !strings.Contains(grants[0][fieldOf(grants[0])], "SLAVE MONITOR") {
		t.Errorf("sidecar grants: %v", grants)
	}
}

func fieldOf(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.Exec(t, "SELECT 1")
	s.Pause()
	// A paused server still accepts TCP (the kernel does) but sends no greeting.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := client.ConnectWithContext(ctx, s.Addr, "bench", "bench", "", time.Second, func(c *client.Conn) error {
		c.ReadTimeout = 300 * time.Millisecond
		return nil
	})
	if err == nil {
		t.Fatal("paused server answered")
	}
	s.Resume()
	s.Exec(t, "SELECT 1")
	s.Pause() // left paused on purpose: cleanup must still stop it
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	s := StartPrimary(t, Options{})
	s.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	s.Exec(t, "INSERT INTO t VALUES (42)")
	pid, port := s.PID(), s.Port
	s.Restart(t)
	if s.PID() == pid || s.Port != port {
		t.Errorf("pid %d -> %d, port %d -> %d", pid, s.PID(), port, s.Port)
	}
	if rows := s.Query(t, "SELECT id FROM t"); len(rows) != 1 || rows[0]["id"] != "42" {
		t.Errorf("after restart: %v", rows)
	}
	if n := len(s.BinlogFiles(t)); n != 2 {
		t.Errorf("%d binlog files after restart, want 2", n)
	}
	s.Kill()
	if !s.cur().exited() {
		t.Error("killed server still running")
	}
}

func TestReplicaInNetNS(t *testing.T) {
	t.Parallel()
	Require(t)
	ns := netns.New(t, "testdb")
	p := StartPrimary(t, Options{BindAddress: ns.HostIP()})
	r := StartReplica(t, p, Options{NetNS: ns.Name, BindAddress: ns.NSIP(), SourceOptions: []string{"MASTER_HEARTBEAT_PERIOD=1"}})
	if want := net.JoinHostPort(ns.NSIP(), strconv.Itoa(r.Port)); r.Addr != want {
		t.Errorf("replica Addr: got %s, want %s", r.Addr, want)
	}
	if st := r.Query(t, "SHOW SLAVE STATUS"); len(st) != 1 || st[0]["Master_Host"] != ns.HostIP() {
		t.Errorf("replica's source: %v", st)
	}
	// The primary sees the replica connect from the namespace.
	if hosts := p.Query(t, "SHOW SLAVE HOSTS"); len(hosts) != 1 || hosts[0]["Host"] != ns.NSIP() {
		t.Errorf("SHOW SLAVE HOSTS = %v, want host %s", hosts, ns.NSIP())
	}
	p.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY)")
	for deadline := time.Now().Add(replicateWait); r.Query(t, "SHOW TABLES FROM sbtest LIKE 't'") == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("table not replicated into the namespace after %v", replicateWait)
		}
	}

	// PID is mariadbd itself, inside the namespace, so signals hit it.
	inNS := func() {
		t.Helper()
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", r.PID()))
		got, err1 := os.Stat(fmt.Sprintf("/proc/%d/ns/net", r.PID()))
		want, err2 := os.Stat("/run/netns/" + ns.Name)
		if !strings.HasSuffix(exe, "/mariadbd") || err1 != nil || err2 != nil || !os.SameFile(got, want) {
			t.Errorf("pid %d: exe %q, netns %v %v; want mariadbd in %s", r.PID(), exe, err1, err2, ns.Name)
		}
	}
	inNS()
	r.Pause()
	for deadline := time.Now().Add(5 * time.Second); procState(t, r.PID()) != "T"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("paused replica state %q after 5 s, want T (stopped)", procState(t, r.PID()))
		}
	}
	r.Resume()
	r.Exec(t, "SELECT 1")
	pid := r.PID()
	r.Restart(t)
	if r.PID() == pid {
		t.Error("same pid after restart")
	}
	inNS()
}

// procState is the state letter of /proc/PID/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// recTB is a test that records what Start registers and reports, so a
// test can play the end of another test and read its output.
type recTB struct {
	testing.TB
	failed   bool
	cleanups []func()
	logs     []string
	errs     []string
}

func (r *recTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recTB) Failed() bool     { return r.failed || len(r.errs) > 0 }
func (r *recTB) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// end runs the recorded cleanups as the test's end would (last first).
func (r *recTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// A server that dies mid-test fails the test and leaves how it ended and
// the tail of its error log in the output (and the whole log on disk); a
// failed test prints its servers' logs too; a passing test prints nothing.
func TestServer_errorLogWhenItMatters(t *testing.T) {
	tests := []struct {
		name     string
		fault    func(s *Server)
		failed   bool
		wantErr  string // in the recorded errors; "" for none
		wantLogs bool
	}{
		{"killed from outside", func(s *Server) { _ = syscall.Kill(s.PID(), syscall.SIGKILL); s.cur().wait(30 * time.Second) },
			false, "mariadbd exited unexpectedly (signal: killed)", true},
		{"the test failed", func(*Server) {}, true, "", true},
		{"Kill is not unexpected", func(s *Server) { s.Kill() }, false, "", false},
		{"a passing test prints nothing", func(*Server) {}, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recTB{TB: t, failed: tt.failed}
			s := Start(rec, Options{})
			tt.fault(s)
			rec.end()
			gotErr := strings.Join(rec.errs, "\n")
			if tt.wantErr == "" && gotErr != "" || !strings.Contains(gotErr, tt.wantErr) {
				t.Errorf("errors: got %q, want %q", gotErr, tt.wantErr)
			}
			logged := strings.Join(rec.logs, "\n")
			hasLog := strings.Contains(logged, "its error log (all of it: ") && strings.Contains(logged, "mariadbd")
			if hasLog != tt.wantLogs {
				t.Errorf("error log in the output: got %v, want %v; output:\n%s", hasLog, tt.wantLogs, logged)
			}
			if tt.wantLogs {
				t.Logf("what the test's output shows:\n%s", logged)
				kept := filepath.Join(logsDir(), strings.ReplaceAll(t.Name(), "/", "_")+"-"+s.Name+".error.log")
				if _, err := os.Stat(kept); err != nil {
					t.Errorf("the whole error log is not kept: %v", err)
				}
				os.Remove(kept)
			}
		})
	}
}
