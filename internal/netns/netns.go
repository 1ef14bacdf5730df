package netns

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Partition mechanisms; see the package comment.
const (
	MechBlackhole = "blackhole"
	MechNetem     = "netem"
	MechLinkDown  = "link-down"
)

const (
	// prefix starts every namespace name: bstest-<pid>-<block>-<name>. The
	// pid lets New remove what a dead test process left behind.
	prefix = "bstest-"
	// blocks is the number of /30s in 10.213.0.0/16.
	blocks     = 1 << 14
	cmdTimeout = 10 * time.Second
	runDir     = "/run/netns" // where `ip netns add` mounts namespaces
)

// NS is one network namespace with a veth pair to the host.
type NS struct {
	Name   string // as `ip netns` knows it
	HostIf string // the host's end of the veth pair
	NSIf   string // the namespace's end

	block       uint32 // the /30's index in 10.213.0.0/16
	mech        string
	madeNS      bool // what remove may delete: never another
	madeVeth    bool // process's veth that clashed with ours
	mu          sync.Mutex
	partitioned bool
}

var (
	tools struct {
		once   sync.Once
		ip, tc string
		err    error
	}
	seq atomic.Uint32
)

// Require skips the test when namespaces cannot be made here (not Linux,
// not root, no ip or tc), or fails it when the environment variable CI is
// set. New calls it.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("netns: -short creates no network namespaces (make unit); make test does")
	}
	tools.once.Do(func() { tools.err = check() })
	if tools.err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("netns: %v (CI is set: network partition tests must run, not skip)", tools.err)
	}
	t.Skipf("netns: skipping network namespace test: %v", tools.err)
}

// check finds the tools, removes namespaces of dead test processes and
// makes (and deletes) one namespace to prove it may.
func check() error {
	if runtime.GOOS != "linux" {
		return errors.New("network namespaces need Linux")
	}
	var err error
	if tools.ip, err = lookBin("ip"); err != nil {
		return fmt.Errorf("%v (apt-get install iproute2)", err)
	}
	if tools.tc, err = lookBin("tc"); err != nil {
		return fmt.Errorf("%v (apt-get install iproute2)", err)
	}
	reapStale()
	name := fmt.Sprintf("%s%d-check", prefix, os.Getpid())
	if out, err := run(tools.ip, "netns", "add", name); err != nil {
		return fmt.Errorf("ip netns add: %v: %s (needs root)", err, out)
	}
	if out, err := run(tools.ip, "netns", "del", name); err != nil {
		return fmt.Errorf("ip netns del: %v: %s", err, out)
	}
	return nil
}

func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin", name)
}

// run runs a command with a timeout and returns its trimmed output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// reapStale deletes namespaces this package made in test processes that
// no longer run (killed before their cleanups). Deleting a namespace also
// deletes its veth pair.
func reapStale() {
	out, err := run(tools.ip, "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], prefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_, _ = run(tools.ip, "netns", "del", f[0])
		}
	}
}

// New creates a namespace with lo up and a veth pair to the host, both
// ends up with addresses from a /30 of 10.213.0.0/16 that no interface of
// the host uses. name (letters, digits, '-', '_') makes the namespace's
// name readable; it need not be unique. Cleanup deletes it all.
func New(t testing.TB, name string) *NS {
	t.Helper()
	Require(t)
	name = sanitize(name)
	used := usedBlocks()
	start := uint32(os.Getpid()%2048) * 8 // 8 blocks per process before they overlap
	var lastErr error
	for try := 0; try < 64; try++ {
		b := (start + seq.Add(1) - 1) % blocks
		if used[b] {
			continue
		}
		n := &NS{Name: fmt.Sprintf("%s%d-%d-%s", prefix, os.Getpid(), b, name),
			HostIf: fmt.Sprintf("bsh%d", b), NSIf: fmt.Sprintf("bsn%d", b), block: b}
		t.Cleanup(func() {
			if err := n.remove(); err != nil {
				t.Errorf("netns: %v", err)
			}
		})
		start := time.Now()
		taken, err := n.create()
		if err == nil {
			t.Logf("netns: %s: host %s %s/30, namespace %s %s/30, partition by %s; ready in %v", n.Name, n.HostIf,
				n.HostIP(), n.NSIf, n.NSIP(), n.mech, time.Since(start).Round(time.Millisecond))
			return n
		}
		if rerr := n.remove(); rerr != nil {
			t.Errorf("netns: %v", rerr)
		}
		if !taken {
			t.Fatalf("netns: creating %s: %v", n.Name, err)
		}
		lastErr = err // another process holds this block: try the next
	}
	t.Fatalf("netns: no free /30 in 10.213.0.0/16 after 64 tries: %v", lastErr)
	return nil
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if len(s) > 32 {
		s = s[:32]
	}
	if s == "" {
		s = "ns"
	}
	return s
}

// usedBlocks marks the /30s of 10.213.0.0/16 that host addresses fall in
// (a whole range when an address has a shorter prefix).
func usedBlocks() map[uint32]bool {
	used := map[uint32]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ones, _ := ipn.Mask.Size()
		ip := binary.BigEndian.Uint32(ipn.IP.To4())
		mask := ^uint32(0) << (32 - ones)
		if ones == 0 {
			mask = 0
		}
		netw := ip & mask
		const base, size = 10<<24 | 213<<16, 1 << 16
		lo, hi := max(netw, base), min(uint64(netw)+uint64(^mask)+1, uint64(base)+size)
		for x := uint64(lo); x < hi; x += 4 {
			used[uint32(x-base)>>2] = true
		}
	}
	return used
}

func (n *NS) ip(last byte) net.IP {
	v := 10<<24 | 213<<16 | n.block<<2 | uint32(last)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// HostIP is the host's address on the veth pair (10.213.X.1): a process in
// the namespace reaches the host's servers that listen on it (or on
// 0.0.0.0) there.
func (n *NS) HostIP() string { return n.ip(1).String() }

// NSIP is the namespace's address on the veth pair (10.213.X.2), reachable
// from the host.
func (n *NS) NSIP() string { return n.ip(2).String() }

// Mechanism is how Partition drops traffic: MechBlackhole, MechNetem or
// MechLinkDown.
func (n *NS) Mechanism() string { return n.mech }

// taken reports a failure because another process holds the name.
func taken(out string) bool { return strings.Contains(out, "File exists") }

// create builds the namespace. taken reports a clash with another
// process's namespace or veth of the same block.
func (n *NS) create() (bool, error) {
	ip, nsIP := tools.ip, []string{"-n", n.Name}
	if out, err := run(ip, "netns", "add", n.Name); err != nil {
		return taken(out), fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	n.madeNS = true
	if out, err := run(ip, "link", "add", n.HostIf, "type", "veth", "peer", "name", n.NSIf, "netns", n.Name); err != nil {
		return taken(out), fmt.Errorf("ip link add veth: %v: %s", err, out)
	}
	n.madeVeth = true
	// No IPv6 link-local addresses: nothing but our own IPv4 on the pair.
	// Kernels without IPv6 refuse; that is fine.
	_, _ = run(ip, "link", "set", "dev", n.HostIf, "addrgenmode", "none")
	_, _ = run(ip, append(nsIP, "link", "set", "dev", n.NSIf, "addrgenmode", "none")...)
	for _, args := range [][]string{
		{"addr", "add", n.HostIP() + "/30", "dev", n.HostIf},
		{"link", "set", "dev", n.HostIf, "up"},
		append(nsIP, "addr", "add", n.NSIP()+"/30", "dev", n.NSIf),
		append(nsIP, "link", "set", "dev", "lo", "up"),
		append(nsIP, "link", "set", "dev", n.NSIf, "up"),
	} {
		if out, err := run(ip, args...); err != nil {
			return false, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if err := n.neighbours(); err != nil {
		return false, err
	}
	if err := n.waitCarrier(); err != nil {
		return false, err
	}
	n.mech = n.pickMechanism()
	return false, nil
}

// mac returns the link-layer address of an interface, in the namespace
// when inNS.
func (n *NS) mac(inNS bool, dev string) (string, error) {
	args := []string{"-j", "link", "show", "dev", dev}
	if inNS {
		args = append([]string{"-n", n.Name}, args...)
	}
	out, err := run(tools.ip, args...)
	if err != nil {
		return "", fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 || links[0].Address == "" {
		return "", fmt.Errorf("ip %s: unexpected output %q (%v)", strings.Join(args, " "), out, err)
	}
	return links[0].Address, nil
}

// neighbours makes each end's neighbour entry for the other permanent, so
// no ARP runs: a partition drops IP packets only, and a heal needs no
// re-resolution (a FAILED entry would otherwise make connects fail with
// EHOSTUNREACH instead of timing out).
func (n *NS) neighbours() error {
	hostMAC, err := n.mac(false, n.HostIf)
	if err != nil {
		return err
	}
	nsMAC, err := n.mac(true, n.NSIf)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"neigh", "replace", n.NSIP(), "lladdr", nsMAC, "dev", n.HostIf, "nud", "permanent"},
		{"-n", n.Name, "neigh", "replace", n.HostIP(), "lladdr", hostMAC, "dev", n.NSIf, "nud", "permanent"},
	} {
		if out, err := run(tools.ip, args...); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// waitCarrier waits until the host end reports carrier, which a veth does
// once both ends are up.
func (n *NS) waitCarrier() error {
	f := filepath.Join("/sys/class/net", n.HostIf, "carrier")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "1" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has no carrier after 5 s", n.HostIf)
		}
	}
}

// qdiscArgs is the root qdisc that drops everything, per mechanism.
var qdiscArgs = map[string][]string{
	MechBlackhole: {"blackhole"},
	MechNetem:     {"netem", "loss", "100%"},
}

// pickMechanism tries the silent-drop qdiscs on the host end (nothing
// flows yet) and falls back to link-down.
func (n *NS) pickMechanism() string {
	for _, m := range []string{MechBlackhole, MechNetem} {
		if _, err := run(tools.tc, append([]string{"qdisc", "replace", "dev", n.HostIf, "root"}, qdiscArgs[m]...)...); err != nil {
			continue
		}
		if _, err := run(tools.tc, "qdisc", "del", "dev", n.HostIf, "root"); err != nil {
			continue
		}
		return m
	}
	return MechLinkDown
}

// Partition drops all traffic between the host and the namespace in both
// directions, without closing a socket or telling either side.
func (n *NS) Partition(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.partitioned {
		return
	}
	var cmds [][]string
	switch n.mech {
	case MechBlackhole, MechNetem:
		q := qdiscArgs[n.mech]
		cmds = [][]string{
			append([]string{tools.tc, "qdisc", "replace", "dev", n.HostIf, "root"}, q...),
			append([]string{tools.tc, "-n", n.Name, "qdisc", "replace", "dev", n.NSIf, "root"}, q...),
		}
	default:
		cmds = [][]string{{tools.ip, "-n", n.Name, "link", "set", "dev", n.NSIf, "down"}}
	}
	for _, c := range cmds {
		if out, err := run(c[0], c[1:]...); err != nil {
			t.Fatalf("netns: partition %s: %s: %v: %s", n.Name, strings.Join(c, " "), err, out)
		}
	}
	n.partitioned = true
}

// Heal undoes Partition; sockets that lived through it carry on. It is a
// no-op when not partitioned.
func (n *NS) Heal(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.partitioned {
		return
	}
	if err := n.heal(); err != nil {
		t.Fatalf("netns: heal %s: %v", n.Name, err)
	}
	n.partitioned = false
}

func (n *NS) heal() error {
	switch n.mech {
	case MechBlackhole, MechNetem:
		for _, c := range [][]string{
			{tools.tc, "qdisc", "del", "dev", n.HostIf, "root"},
			{tools.tc, "-n", n.Name, "qdisc", "del", "dev", n.NSIf, "root"},
		} {
			if out, err := run(c[0], c[1:]...); err != nil {
				return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
			}
		}
		return nil
	}
	if out, err := run(tools.ip, "-n", n.Name, "link", "set", "dev", n.NSIf, "up"); err != nil {
		return fmt.Errorf("link up: %v: %s", err, out)
	}
	if err := n.waitCarrier(); err != nil {
		return err
	}
	return n.neighbours() // link down flushed even the permanent entries
}

// Partitioned reports whether the namespace is cut off now.
func (n *NS) Partitioned() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.partitioned
}

// Command returns cmd to run inside the namespace (`ip netns exec`, which
// execs it: the child's pid is the command's).
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command(tools.ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Listen opens a TCP listener inside the namespace (on NSIP when addr has
// no host), closed when the test ends. The test process itself can serve
// the namespace's side of a connection this way.
func (n *NS) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	if strings.HasPrefix(addr, ":") {
		addr = n.NSIP() + addr
	}
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("netns: listen in %s on %s: %v", n.Name, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// do runs f on an OS thread that has joined the namespace; sockets f opens
// stay in the namespace. The thread is never unlocked, so the runtime
// discards it when the goroutine ends instead of reusing it elsewhere.
func (n *NS) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := os.Open(filepath.Join(runDir, n.Name))
		if err != nil {
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// remove deletes the host's veth end (which takes the namespace's end
// with it) and the namespace. Missing pieces are fine: it runs after
// failed creations too.
func (n *NS) remove() error {
	var errs []error
	if _, err := os.Stat(filepath.Join("/sys/class/net", n.HostIf)); err == nil && n.madeVeth {
		if out, err := run(tools.ip, "link", "del", "dev", n.HostIf); err != nil && !strings.Contains(out, "Cannot find device") {
			errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", n.HostIf, err, out))
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, n.Name)); err == nil && n.madeNS {
		if out, err := run(tools.ip, "netns", "del", n.Name); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", n.Name, err, out))
		}
	}
	n.madeVeth, n.madeNS = false, false
	return errors.Join(errs...)
}
