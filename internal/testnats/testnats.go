package testnats

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds the wait for the server to listen.
const readyTimeout = 10 * time.Second

// Server is one nats-server process with a fixed port and store directory
// that survive Kill and Start.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	conf string // configuration file, or empty
	cmd  *exec.Cmd
}

// Require returns the nats-server binary, or skips (fails under CI=1).
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("testnats: -short runs no nats-server process (make unit); make test runs them")
	}
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nats-server"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("nats-server not found (apt-get install nats-server): %v", err)
			}
			t.Skipf("nats-server not found (apt-get install nats-server): %v", err)
		}
	}
	return bin
}

// Start runs nats-server -js on a free loopback port with its store in a
// temporary directory, waits until it listens, and kills it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t), dir: t.TempDir(), port: freePort(t)}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// StartConfig is Start with a nats-server configuration file holding
// conf (e.g. "max_payload: 1048576"); the command-line flags for port,
// address, JetStream and store still apply.
func StartConfig(t testing.TB, conf string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t), dir: t.TempDir(), port: freePort(t)}
	s.conf = filepath.Join(s.dir, "server.conf")
	if err := os.WriteFile(s.conf, []byte(conf+"\n"), 0o600); err != nil {
		t.Fatalf("testnats: write config: %v", err)
	}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// StoreDir is the JetStream store directory, kept across restarts.
func (s *Server) StoreDir() string { return s.dir }

// Start (re)starts the process on the same port and store and waits until
// it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("testnats: already running")
	}
	args := []string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir, "-l", filepath.Join(s.dir, "server.log")}
	if s.conf != "" {
		args = append([]string{"-c", s.conf}, args...)
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("testnats: start: %v", err)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.Kill()
			s.t.Fatalf("testnats: not listening after %s: %v\n%s", readyTimeout, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL and reaps the process: no shutdown, no flush, like a
// crash. It does nothing when the server is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the server binds; on these machines that has not happened.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnats: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
