package netns

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// answerWait bounds a wait for something that must happen (an accept, data
// that was sent, TCP's retransmission after a heal): reached only when it
// does not, never by a loaded machine being slow.
const answerWait = time.Minute

// pair connects the host to a listener inside n and returns both ends.
func pair(t *testing.T, n *NS) (host, inNS net.Conn) {
	t.Helper()
	l := n.Listen(t, ":0")
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	host, err := net.DialTimeout("tcp4", l.Addr().String(), answerWait)
	if err != nil {
		t.Fatalf("dial %s: %v", l.Addr(), err)
	}
	t.Cleanup(func() { host.Close() })
	select {
	case inNS = <-accepted:
	case <-time.After(answerWait):
	}
	if inNS == nil {
		t.Fatal("no connection accepted in the namespace")
	}
	t.Cleanup(func() { inNS.Close() })
	return host, inNS
}

func readN(c net.Conn, n int, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return string(b), err
}

func TestNS_PartitionKeepsSockets(t *testing.T) {
	n := New(t, "selftest")
	host, inNS := pair(t, n)
	if got, want := inNS.RemoteAddr().(*net.TCPAddr).IP.String(), n.HostIP(); got != want {
		t.Errorf("peer address seen in the namespace: got %s, want %s", got, want)
	}
	if _, err := host.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got, err := readN(inNS, 4, answerWait); err != nil || got != "ping" {
		t.Fatalf("before partition: got %q, %v", got, err)
	}

	n.Partition(t)
	cut := time.Now()
	// Writes succeed (the data waits in the send buffer) and reads time
	// out: no RST, no EOF, no error from either kernel.
	if _, err := host.Write([]byte("to-ns")); err != nil {
		t.Fatalf("host write during partition: %v", err)
	}
	if _, err := inNS.Write([]byte("to-host")); err != nil {
		t.Fatalf("namespace write during partition: %v", err)
	}
	for name, c := range map[string]net.Conn{"host": host, "namespace": inNS} {
		if got, err := readN(c, 1, 1500*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s read during partition: got %q, %v; want a timeout", name, got, err)
		}
	}
	// A new connection neither completes nor is refused.
	if c, err := net.DialTimeout("tcp4", net.JoinHostPort(n.NSIP(), "9"), 500*time.Millisecond); err == nil {
		c.Close()
		t.Error("dial during partition succeeded")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("dial during partition: %v; want a timeout (silent drop, not refused or unreachable)", err)
	}

	n.Heal(t)
	t.Logf("partitioned %v by %s", time.Since(cut).Round(time.Millisecond), n.Mechanism())
	healed := time.Now()
	// TCP retransmits what was sent into the partition; backoff decides when.
	if got, err := readN(inNS, 5, answerWait); err != nil || got != "to-ns" {
		t.Fatalf("after heal, namespace read: got %q, %v", got, err)
	}
	if got, err := readN(host, 7, answerWait); err != nil || got != "to-host" {
		t.Fatalf("after heal, host read: got %q, %v", got, err)
	}
	t.Logf("same connection delivered both ways %v after heal", time.Since(healed).Round(time.Millisecond))
	n.Heal(t) // a second heal is a no-op
	if n.Partitioned() {
		t.Error("still partitioned after Heal")
	}
}

func TestNS_CommandRunsInNamespace(t *testing.T) {
	n := New(t, "exec")
	cmd := n.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	want, err := os.Stat(filepath.Join(runDir, n.Name))
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs the command: the pid is sleep's, in the namespace.
	for deadline := time.Now().Add(answerWait); ; time.Sleep(10 * time.Millisecond) {
		exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
		got, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "ns", "net"))
		if err == nil && !strings.HasSuffix(exe, "/ip") && os.SameFile(got, want) {
			t.Logf("pid %d runs %s in %s", pid, exe, n.Name)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: exe %q, netns %v (err %v); want the command inside %s", pid, exe, got, err, n.Name)
		}
	}
}

func TestNew_CleansUp(t *testing.T) {
	Require(t)
	var a, b *NS
	t.Run("create", func(t *testing.T) {
		a, b = New(t, "a"), New(t, "b")
		if a.HostIP() == b.HostIP() || a.Name == b.Name || a.HostIf == b.HostIf {
			t.Errorf("two namespaces share addresses or names: %+v %+v", a, b)
		}
		for _, n := range []*NS{a, b} {
			if !strings.HasPrefix(n.HostIP(), "10.213.") {
				t.Errorf("host IP %s outside 10.213.0.0/16", n.HostIP())
			}
			hip, nip := net.ParseIP(n.HostIP()).To4(), net.ParseIP(n.NSIP()).To4()
			if hip[3]%4 != 1 || nip[3] != hip[3]+1 || hip[2] != nip[2] {
				t.Errorf("not a /30 pair: %s %s", hip, nip)
			}
		}
		a.Partition(t) // left partitioned on purpose: cleanup must still remove it
	})
	for _, n := range []*NS{a, b} {
		if n == nil {
			t.Fatal("create did not run")
		}
		if _, err := os.Stat(filepath.Join(runDir, n.Name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still there: %v", n.Name, err)
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", n.HostIf)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("veth %s still there: %v", n.HostIf, err)
		}
	}
}
