package testdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

func TestPrimaryReplica(t *testing.T) {
	t.Parallel()
	p := StartPrimary(t, Options{})
	r := StartReplica(t, p, Options{Extra: []string{"--report-host=replica-a.test"}})

	p.Exec(t, "CREATE TABLE sbtest.t (id INT PRIMARY KEY, v VARCHAR(20))")
	p.Exec(t, "INSERT INTO sbtest.t VALUES (?, ?)", 1, "hello")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r.Query(t, "SHOW TABLES FROM sbtest LIKE 't'") != nil {
			if rows := r.Query(t, "SELECT v FROM sbtest.t WHERE id = 1"); len(rows) == 1 {
				if rows[0]["v"] != "hello" {
					t.Fatalf("replica has v=%q", rows[0]["v"])
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("row not replicated after 10 s")
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
