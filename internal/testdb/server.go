package testdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Options configure one mariadbd. The zero value is a server without binlog.
type Options struct {
	Name              string   // log basename (binlog <Name>-bin.000001); default unique "dbN"
	ServerID          uint32   // default unique per test binary
	Extra             []string // extra mariadbd flags, last on the command line so they win
	PerformanceSchema bool
	LogBin            bool   // StartPrimary and StartReplica set it
	BinlogFormat      string // default ROW

	// BindAddress is what mariadbd listens on (--bind-address) and the host
	// of Server.Addr; default 127.0.0.1. A wildcard (0.0.0.0, ::) listens on
	// every address and Addr uses 127.0.0.1.
	BindAddress string
	// NetNS runs mariadbd inside this network namespace (a name `ip netns`
	// knows, e.g. internal/netns NS.Name) through `ip netns exec`, which
	// execs mariadbd: PID, Pause, Resume, Kill and Stop act on mariadbd
	// itself. BindAddress must then be an address of the namespace that the
	// host can reach (netns NS.NSIP), since readiness checks and Exec dial
	// Addr from the host.
	NetNS string
	// SourceHost is the address StartReplica's replica dials to reach its
	// primary; default the host of the primary's Addr (127.0.0.1 unless the
	// primary has a BindAddress). A replica in a NetNS reaches a primary on
	// the host at the veth's host address (netns NS.HostIP), so that primary
	// must bind there or to 0.0.0.0.
	SourceHost string
	// SourceOptions are extra options for StartReplica's CHANGE MASTER TO,
	// e.g. "MASTER_HEARTBEAT_PERIOD=1".
	SourceOptions []string
}

// Server is one running mariadbd. Exec, Query and the cached connection
// behind them are for one goroutine at a time; Kill, Pause, Resume and PID
// may be called from any goroutine.
type Server struct {
	Name     string
	Addr     string // BindAddress:Port, 127.0.0.1:Port by default
	Port     int
	NetNS    string // the network namespace it runs in; "" for the host's
	ServerID uint32
	Dir      string // the instance dir: data/, error.log, mysqld.pid
	Socket   string
	DataDir  string

	args   []string
	mu     sync.Mutex // guards proc and conn
	proc   *proc
	conn   *client.Conn
	logOff int64 // error.log size when the current boot began
	// stopping is set while an exit is ours (Stop, Kill, cleanup); a
	// mariadbd that exits without it died unexpectedly.
	stopping atomic.Bool
}

var (
	// Distinct ranges per test binary: a server_id clash between replicas
	// makes them displace each other (lab-notes 3.5).
	nextID   atomic.Uint32
	nextName atomic.Int64
)

func init() { nextID.Store(100 + uint32(os.Getpid()%1000)*1000) }

// errPortTaken means another process bound our port between our probe and
// mariadbd's bind; Start retries with a new port.
var errPortTaken = errors.New("port taken")

// Start copies the template datadir and starts a mariadbd on it, waiting
// until bench can log in over TCP. It stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	data := templateDir(t)
	if o.ServerID == 0 {
		o.ServerID = nextID.Add(1)
	}
	if o.Name == "" {
		o.Name = fmt.Sprintf("db%d", nextName.Add(1))
	}
	if o.BinlogFormat == "" {
		o.BinlogFormat = "ROW"
	}
	bind, host := listenAddr(t, o)
	if o.NetNS != "" {
		if _, err := ipBin(); err != nil {
			t.Fatalf("testdb: NetNS %s: %v", o.NetNS, err)
		}
	}
	dir := t.TempDir()
	s := &Server{Name: o.Name, ServerID: o.ServerID, Dir: dir, DataDir: filepath.Join(dir, "data"),
		Socket: filepath.Join(dir, "mysqld.sock"), NetNS: o.NetNS}
	if len(s.Socket) > 100 { // sun_path holds 108 bytes; long test names make long TempDirs
		sd, err := os.MkdirTemp("", "testdb")
		if err != nil {
			t.Fatalf("testdb: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(sd) })
		s.Socket = filepath.Join(sd, "mysqld.sock")
	}
	start := time.Now()
	if out, err := exec.Command("cp", "-a", data, s.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("testdb: copying template: %v\n%s", err, out)
	}
	t.Cleanup(s.cleanup)              // after TempDir's, so it runs before the dir is removed
	t.Cleanup(func() { s.report(t) }) // before s.cleanup stops the server
	onOff := map[bool]string{true: "ON", false: "OFF"}
	for attempt := 1; ; attempt++ {
		s.Port = freePort(t)
		s.Addr = net.JoinHostPort(host, strconv.Itoa(s.Port))
		s.args = []string{"--no-defaults", "--user=root", "--log-basename=" + s.Name,
			"--datadir=" + s.DataDir, "--socket=" + s.Socket, "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
			"--log-error=" + filepath.Join(dir, "error.log"), "--bind-address=" + bind,
			"--port=" + strconv.Itoa(s.Port), fmt.Sprintf("--server-id=%d", s.ServerID),
			"--binlog-format=" + o.BinlogFormat, "--log-slave-updates=ON", "--skip-name-resolve",
			"--innodb-buffer-pool-size=64M", "--max-connections=200",
			"--innodb-buffer-pool-dump-at-shutdown=OFF", "--innodb-buffer-pool-load-at-startup=OFF",
			"--performance-schema=" + onOff[o.PerformanceSchema]}
		if o.LogBin {
			s.args = append(s.args, "--log-bin="+s.Name+"-bin")
		}
		s.args = append(s.args, o.Extra...)
		err := s.boot()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			t.Fatalf("testdb: starting %s: %v\n--- %s/error.log ---\n%s", s.Name, err, dir, s.ErrorLog())
		}
	}
	where := ""
	if s.NetNS != "" {
		where = " in netns " + s.NetNS
	}
	t.Logf("testdb: %s (server_id %d) ready on %s%s in %v", s.Name, s.ServerID, s.Addr, where, time.Since(start).Round(time.Millisecond))
	return s
}

// listenAddr returns mariadbd's --bind-address and the host of Addr.
func listenAddr(t testing.TB, o Options) (bind, host string) {
	t.Helper()
	bind = o.BindAddress
	if bind == "" {
		bind = "127.0.0.1"
	}
	ip := net.ParseIP(bind)
	wildcard := bind == "*" || ip != nil && ip.IsUnspecified()
	switch {
	case o.NetNS != "" && (wildcard || ip != nil && ip.IsLoopback()):
		t.Fatalf("testdb: NetNS %s needs a BindAddress of the namespace that the host can reach, not %q", o.NetNS, bind)
	case wildcard:
		return bind, "127.0.0.1"
	}
	return bind, bind
}

var ipPath struct {
	once sync.Once
	path string
	err  error
}

// ipBin finds ip(8), which runs servers inside a network namespace.
func ipBin() (string, error) {
	ipPath.once.Do(func() { ipPath.path, ipPath.err = lookBin("ip") })
	return ipPath.path, ipPath.err
}

// StartPrimary starts a server with a ROW binlog (unless o says otherwise).
func StartPrimary(t testing.TB, o Options) *Server {
	t.Helper()
	o.LogBin = true
	return Start(t, o)
}

// StartReplica starts a server (with its own binlog, like a real replica
// with log-slave-updates) that replicates from primary by GTID as repl, and
// waits until both replication threads run. Replica flags such as
// --report-host, --report-port or --rpl-semi-sync-slave-enabled=ON go in
// o.Extra; o.SourceHost and o.SourceOptions shape its CHANGE MASTER TO.
func StartReplica(t testing.TB, primary *Server, o Options) *Server {
	t.Helper()
	o.LogBin = true
	r := Start(t, o)
	start := time.Now()
	host := o.SourceHost
	if host == "" {
		host, _, _ = net.SplitHostPort(primary.Addr)
	}
	extra := ""
	for _, opt := range o.SourceOptions {
		extra += ", " + opt
	}
	r.Exec(t, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='repl', "+
		"MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos%s", host, primary.Port, extra))
	r.Exec(t, "START SLAVE")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := r.Query(t, "SHOW SLAVE STATUS")
		if len(st) == 1 && st[0]["Slave_IO_Running"] == "Yes" && st[0]["Slave_SQL_Running"] == "Yes" {
			break
		}
		if time.Now().After(deadline) {
			var io, sql string
			if len(st) == 1 {
				io, sql = st[0]["Last_IO_Error"], st[0]["Last_SQL_Error"]
			}
			t.Fatalf("testdb: replica %s of %s not running after 30 s: Last_IO_Error=%q Last_SQL_Error=%q",
				r.Name, primary.Name, io, sql)
		}
	}
	t.Logf("testdb: replica %s of %s running in %v", r.Name, primary.Name, time.Since(start).Round(time.Millisecond))
	return r
}

// freePort asks the kernel for a free port. It comes from the ephemeral
// range, never 3306; someone may take it before mariadbd binds, so Start
// retries.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// boot starts mariadbd with s.args and waits up to 60 s until it answers.
func (s *Server) boot() error {
	s.stopping.Store(false)
	if st, err := os.Stat(filepath.Join(s.Dir, "error.log")); err == nil {
		s.logOff = st.Size()
	}
	path, args := bin.mariadbd, s.args
	if s.NetNS != "" {
		ip, err := ipBin()
		if err != nil {
			return err
		}
		// ip netns exec joins the namespace and execs mariadbd in place
		// (no fork without -b): the child's pid, process group and
		// Pdeathsig are mariadbd's. boot checks that below.
		path, args = ip, append([]string{"netns", "exec", s.NetNS, bin.mariadbd}, s.args...)
	}
	p, err := spawn(path, args...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	var lastErr error
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if p.exited() {
			b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
			if int64(len(b)) >= s.logOff && strings.Contains(string(b[s.logOff:]), "Bind on TCP/IP port") {
				return errPortTaken
			}
			return fmt.Errorf("mariadbd exited: %v", p.cmd.ProcessState)
		}
		if lastErr = s.ping(); lastErr == nil {
			if s.NetNS != "" {
				return checkExe(p.cmd.Process.Pid, bin.mariadbd)
			}
			return nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("not ready after 60 s: %v", lastErr)
		}
	}
}

// checkExe verifies that pid runs the program at path: signals to a
// server started through a wrapper must reach mariadbd, not the wrapper.
func checkExe(pid int, path string) error {
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("pid %d runs %s, not %s", pid, got, want)
	}
	return nil
}

// ping logs in as bench and checks that the server on our port is ours:
// all instances share the bench password, so a server of another test that
// grabbed the port would otherwise pass.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, s.Addr, "bench", "bench", "", 2*time.Second, func(c *client.Conn) error {
		c.ReadTimeout, c.WriteTimeout = 5*time.Second, 5*time.Second
		return nil
	})
	if err != nil {
		return err
	}
	defer quit(c)
	r, err := c.Execute("SELECT @@datadir")
	if err != nil {
		return err
	}
	if dd, _ := r.GetString(0, 0); filepath.Clean(dd) != filepath.Clean(s.DataDir) {
		return fmt.Errorf("port %d is served from datadir %s", s.Port, dd)
	}
	return nil
}

// quit closes c with COM_QUIT, which keeps "Aborted connection" warnings out
// of the server's log (lab-notes 3.6).
func quit(c *client.Conn) {
	if c.Quit() != nil {
		c.Close()
	}
}

func (s *Server) cur() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// PID returns the process id of the current mariadbd.
func (s *Server) PID() int { return s.cur().cmd.Process.Pid }

// dropConn discards the cached connection; closing it also unblocks an Exec
// stuck on it in another goroutine.
func (s *Server) dropConn(graceful bool) {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil && graceful {
		quit(c)
	} else if c != nil {
		c.Close()
	}
}

func (s *Server) connect() (*client.Conn, error) {
	return client.Connect(s.Addr, "bench", "bench", "sbtest")
}

// Conn returns a new connection as bench (default database sbtest), closed
// when the test ends.
func (s *Server) Conn(t testing.TB) *client.Conn {
	t.Helper()
	c, err := s.connect()
	if err != nil {
		t.Fatalf("testdb: connecting to %s: %v", s.Name, err)
	}
	t.Cleanup(func() { quit(c) })
	return c
}

// Exec runs query (with args: as a prepared statement) as bench on a cached
// connection, default database sbtest, and fails the test on error.
func (s *Server) Exec(t testing.TB, query string, args ...any) *mysql.Result {
	t.Helper()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		var err error
		if c, err = s.connect(); err != nil {
			t.Fatalf("testdb: connecting to %s: %v", s.Name, err)
		}
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
	}
	r, err := c.Execute(query, args...)
	if err != nil {
		if !errors.As(err, new(*mysql.MyError)) { // the connection itself failed
			s.dropConn(false)
		}
		t.Fatalf("testdb: %s: %s: %v", s.Name, query, err)
	}
	return r
}

// Query is Exec returning the rows by column name; NULL reads as "".
func (s *Server) Query(t testing.TB, query string, args ...any) []map[string]string {
	t.Helper()
	r := s.Exec(t, query, args...)
	if r.Resultset == nil {
		return nil
	}
	rows := make([]map[string]string, len(r.Values))
	for i := range r.Values {
		rows[i] = make(map[string]string, len(r.Fields))
		for j, f := range r.Fields {
			rows[i][string(f.Name)], _ = r.GetString(i, j)
		}
	}
	return rows
}

// BinlogFile is a row of SHOW BINARY LOGS.
type BinlogFile struct {
	Name string
	Size uint64
}

// BinlogFiles returns SHOW BINARY LOGS.
func (s *Server) BinlogFiles(t testing.TB) []BinlogFile {
	t.Helper()
	var files []BinlogFile
	for _, row := range s.Query(t, "SHOW BINARY LOGS") {
		size, _ := strconv.ParseUint(row["File_size"], 10, 64)
		files = append(files, BinlogFile{Name: row["Log_name"], Size: size})
	}
	return files
}

// MasterStatus returns the current binlog file and position.
func (s *Server) MasterStatus(t testing.TB) (file string, pos uint32) {
	t.Helper()
	rows := s.Query(t, "SHOW MASTER STATUS")
	if len(rows) != 1 {
		t.Fatalf("testdb: %s: SHOW MASTER STATUS returned %d rows (binlog off?)", s.Name, len(rows))
	}
	p, _ := strconv.ParseUint(rows[0]["Position"], 10, 32)
	return rows[0]["File"], uint32(p)
}

// Stop shuts the server down cleanly (mariadb-admin shutdown), falling back
// to signals. Restart brings it back.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stopping.Store(true)
	s.dropConn(true)
	p := s.cur()
	if p.exited() {
		return
	}
	p.signal(syscall.SIGCONT)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin.admin, "--no-defaults", "--socket="+s.Socket, "-uroot", "shutdown").CombinedOutput()
	if err == nil && p.wait(30*time.Second) {
		return
	}
	t.Logf("testdb: %s: mariadb-admin shutdown: %v %s; using signals", s.Name, err, out)
	p.stop()
}

// Kill SIGKILLs the server and waits until it is gone.
func (s *Server) Kill() {
	s.stopping.Store(true)
	s.dropConn(false)
	s.cur().kill()
}

// Pause SIGSTOPs the server: it keeps its sockets but answers nothing.
func (s *Server) Pause() { s.cur().signal(syscall.SIGSTOP) }

// Resume SIGCONTs a paused server.
func (s *Server) Resume() { s.cur().signal(syscall.SIGCONT) }

// Restart stops the server and starts it again on the same datadir, port
// and flags. A replica resumes replication by itself.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	start := time.Now()
	if err := s.boot(); err != nil {
		t.Fatalf("testdb: restarting %s on port %d: %v\n--- %s/error.log ---\n%s", s.Name, s.Port, err, s.Dir, s.ErrorLog())
	}
	t.Logf("testdb: %s restarted in %v", s.Name, time.Since(start).Round(time.Millisecond))
}

// ErrorLog returns the last 40 lines of the server's error log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	return tail(string(b))
}

// DiedUnexpectedly says how mariadbd ended ("signal: killed", "exit status
// 1") when it exited without Stop, Kill or the test's end asking it to;
// "" while it runs or when its exit was ours.
func (s *Server) DiedUnexpectedly() string {
	p := s.cur()
	if p == nil || !p.exited() || s.stopping.Load() {
		return ""
	}
	return p.cmd.ProcessState.String()
}

// logsDir keeps the error logs of servers whose test failed or that died
// unexpectedly: the instance dir is a TempDir and goes with the test.
func logsDir() string { return filepath.Join(os.TempDir(), "binlog-sidecar-testdb", "logs") }

// report runs when the test ends, before the server is stopped: a server
// that died unexpectedly fails the test, and for it or any failed test the
// error log is kept (logsDir) and its tail printed into the test output,
// so a server that died mid-run leaves its reason behind.
func (s *Server) report(t testing.TB) {
	died := s.DiedUnexpectedly()
	if died == "" && !t.Failed() {
		return
	}
	why := "the test failed"
	if died != "" {
		why = "mariadbd exited unexpectedly (" + died + ")"
		t.Errorf("testdb: %s on %s: %s", s.Name, s.Addr, why)
	}
	kept := filepath.Join(logsDir(), strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-"+s.Name+".error.log")
	b, err := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	if err == nil {
		err = os.MkdirAll(logsDir(), 0o755)
	}
	if err == nil {
		err = os.WriteFile(kept, b, 0o644)
	}
	if err != nil {
		kept = "not kept: " + err.Error()
	}
	t.Logf("testdb: %s (%s, pid %d): %s; its error log (all of it: %s) ends:\n%s", s.Name, s.Addr, s.PID(), why, kept, tail(string(b)))
}

// cleanup runs at the end of the test. The datadir is thrown away, so a
// signal-driven shutdown is enough.
func (s *Server) cleanup() {
	p := s.cur()
	if p == nil {
		return
	}
	s.stopping.Store(true)
	p.signal(syscall.SIGCONT) // before quit: a paused server would not read it
	s.dropConn(true)
	p.stop()
}
