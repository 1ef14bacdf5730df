package testnats

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// recorder is a testing.TB whose errors and logs are kept for the test to
// read instead of failing it.
type recorder struct {
	testing.TB
	errs, logs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recorder) Failed() bool { return len(r.errs) > 0 }

// A nats-server that dies under a test (here SIGKILLed behind the
// Server's back) fails the test, and the test output shows why and the
// tail of the server's log.
func TestServer_reportsUnexpectedExit(t *testing.T) {
	r := &recorder{TB: t}
	s := New(r)
	s.Start()
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.report()
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "nats-server exited unexpectedly (signal: killed)") {
		t.Errorf("errors: got %q, want one naming the unexpected exit", r.errs)
	}
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "its log") || !strings.Contains(r.logs[0], "Server is ready") {
		t.Errorf("logs: got %q, want the tail of the server's log", r.logs)
	}
}

// Kill and Start are the test's own doing: no report while the test
// passes, the tail of the log once it failed.
func TestServer_reportsOnFailure(t *testing.T) {
	r := &recorder{TB: t}
	s := New(r)
	s.Start()
	s.Kill()
	s.Start()
	s.report()
	if len(r.errs) != 0 || len(r.logs) != 0 {
		t.Fatalf("after Kill and Start in a passing test: errors %q, logs %q; want none", r.errs, r.logs)
	}
	r.errs = []string{"the test's own failure"}
	s.report()
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "the test failed") || !strings.Contains(r.logs[0], "Server is ready") {
		t.Errorf("logs: got %q, want the tail of the server's log", r.logs)
	}
}
