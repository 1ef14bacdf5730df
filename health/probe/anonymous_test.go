package probe

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

// TestHandshake_anonymousAccount: on a replica with anonymous accounts
// without a password (mariadb-install-db's default), the probe's login
// must still fail. It logged in (anonymous accounts match any user name),
// left without COM_QUIT, and the replica logged "Aborted connection" and
// counted Aborted_clients on every poll. Now the replica counts an
// Access_denied_errors and logs "Access denied" (with log_warnings=2).
func TestHandshake_anonymousAccount(t *testing.T) {
	testdb.Require(t)
	r := testdb.Start(t, testdb.Options{Extra: []string{"--log-warnings=2"}})
	for _, host := range []string{"localhost", "127.0.0.1", "%"} {
		r.Exec(t, "CREATE USER ''@'"+host+"'")
	}
	status := func() (aborted, denied int) {
		for _, row := range r.Query(t, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Aborted_clients', 'Access_denied_errors')") {
			n, _ := strconv.Atoi(row["Value"])
			switch row["Variable_name"] {
			case "Aborted_clients":
				aborted = n
			case "Access_denied_errors":
				denied = n
			}
		}
		return aborted, denied
	}
	aborted0, denied0 := status()

	const probes = 3
	for range probes {
		if res := Handshake(context.Background(), r.Addr, 10*time.Second); !res.OK {
			t.Fatalf("Handshake: %+v", res)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, denied := status(); denied < denied0+probes; _, denied = status() {
		if time.Now().After(deadline) {
			t.Fatalf("Access_denied_errors %d -> %d after %d probes: the probe's login succeeded", denied0, denied, probes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if aborted, _ := status(); aborted != aborted0 {
		t.Errorf("Aborted_clients %d -> %d: the probe left a session behind", aborted0, aborted)
	}
	log := r.ErrorLog()
	if !strings.Contains(log, "Access denied for user 'binlog-sidecar-probe'@'127.0.0.1' (using password: YES)") {
		t.Errorf("the replica's error log has no Access denied line for the probe:\n%s", log)
	}
	t.Logf("the replica logs:\n%s", grepLines(log, "binlog-sidecar-probe"))
	if strings.Contains(log, "Aborted connection") {
		t.Errorf("the replica's error log has an Aborted connection line:\n%s", log)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
