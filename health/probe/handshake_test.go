package probe

import (
	"context"
	"net"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
)

// answerTimeout bounds a probe of a fake server that answers: reached only
// when the probe is wrong, never by a loaded machine being slow to run the
// fake server's goroutine.
const answerTimeout = time.Minute

// fakeServer accepts connections on loopback and lets serve answer each.
func fakeServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func TestHandshake(t *testing.T) {
	greeting := append(append([]byte{10}, "10.11.19-MariaDB"...), 0, 1, 0, 0, 0)
	hold := func(c net.Conn) { _ = c.SetDeadline(time.Now().Add(2 * time.Second)); _, _ = c.Read(make([]byte, 1)) }
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		addr    string
		wantOK  bool
		wantVer string
	}{
		{"a greeting proves a live server", fakeServer(t, func(c net.Conn) { c.Write(packet(0, greeting)); hold(c) }), true, "10.11.19-MariaDB"},
		{"an error packet also proves a live server", fakeServer(t, func(c net.Conn) {
			c.Write(packet(0, append([]byte{0xff, 0x10, 0x04}, "Too many connections"...)))
		}), true, "error 1040: Too many connections"},
		{"an accepted connection without greeting is no answer (SIGSTOP)", fakeServer(t, hold), false, ""},
		{"another protocol is no answer", fakeServer(t, func(c net.Conn) { c.Write(packet(0, []byte{9, 'x', 0})); hold(c) }), false, ""},
		{"a refused connection is no answer", closedAddr, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Where an answer comes, the timeout must not race it on a
			// loaded machine; where none comes, it is what ends the wait.
			timeout := 300 * time.Millisecond
			if tt.wantOK {
				timeout = answerTimeout
			}
			got := Handshake(context.Background(), tt.addr, timeout)
			if got.OK != tt.wantOK || got.Version != tt.wantVer {
				t.Errorf("Handshake: got ok=%v version=%q err=%q, want ok=%v version=%q", got.OK, got.Version, got.Err, tt.wantOK, tt.wantVer)
			}
		})
	}
}

// TestHandshake_completesLogin checks the probe answers the greeting with a
// login (so the server counts an authentication failure, not an aborted
// handshake).
func TestHandshake_completesLogin(t *testing.T) {
	got := make(chan []byte, 1)
	addr := fakeServer(t, func(c net.Conn) {
		c.Write(packet(0, append(append([]byte{10}, "8.4.2"...), 0)))
		p, err := readPacket(c)
		if err == nil {
			got <- p
		}
		c.Write(packet(2, append([]byte{0xff, 0x15, 0x04}, "#28000Access denied"...)))
	})
	if res := Handshake(context.Background(), addr, answerTimeout); !res.OK {
		t.Fatalf("Handshake: %+v", res)
	}
	select {
	case p := <-got:
		if want := handshakeResponse(probeUser)[4:]; !reflect.DeepEqual(p, want) {
			t.Errorf("login packet: got %x, want %x", p, want)
		}
	case <-time.After(answerTimeout):
		t.Fatal("no login packet after the greeting")
	}
}

func TestMissingPrivilege(t *testing.T) {
	tests := []struct {
		give     client.ServerError
		fallback string
		want     string
	}{
		{client.ServerError{Code: 1227, Message: "Access denied; you need (at least one of) the REPLICATION MASTER ADMIN privilege(s) for this operation"}, "X", "REPLICATION MASTER ADMIN"},
		{client.ServerError{Code: 1227, Message: "Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation"}, "X", "one of SUPER, SLAVE MONITOR"},
		{client.ServerError{Code: 1142, Message: "SELECT command denied to user 'sidecar'@'127.0.0.1' for table `performance_schema`.`threads`"}, "X", "SELECT on performance_schema.threads"},
		{client.ServerError{Code: 1045, Message: "Access denied for user 'x'@'y' (using password: YES)"}, "REPLICATION SLAVE", "REPLICATION SLAVE"},
	}
	for _, tt := range tests {
		if got := missingPrivilege(&tt.give, tt.fallback); got != tt.want {
			t.Errorf("missingPrivilege(%q) = %q, want %q", tt.give.Message, got, tt.want)
		}
	}
}

// TestHandshake_hostileGreeting: a listener on a replica's port that
// announces (and sends) a 16 MiB "greeting" is not a MySQL server, and the
// probe must not allocate what it announces.
func TestHandshake_hostileGreeting(t *testing.T) {
	const announced = 1<<24 - 1 // the largest length a packet header can carry
	huge := make([]byte, announced)
	huge[0] = 10 // looks like protocol 10...
	copy(huge[1:], "10.11.19-MariaDB\x00")
	pkt := packet(0, huge) // built before the measurement
	addr := fakeServer(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(answerTimeout))
		_, _ = c.Write(pkt)
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := Handshake(context.Background(), addr, answerTimeout)
	runtime.ReadMemStats(&after)
	if res.OK || !strings.Contains(res.Err, "not a MySQL greeting") {
		t.Errorf("Handshake: got ok=%v version=%.40q err=%q, want not ok, %q", res.OK, res.Version, res.Err, "not a MySQL greeting")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("the probe allocated %d bytes for one greeting, want less than 1 MiB", grew)
	}
}
