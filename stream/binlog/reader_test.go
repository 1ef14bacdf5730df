package binlog

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// dumpStream frames events as a server's dump sends them: each event after
// the OK byte, in packets of at most maxPayload bytes (a payload of exactly
// maxPayload continues in the next packet, possibly an empty one), sequence
// numbers from 1. It returns the next sequence number too.
func dumpStream(events [][]byte) ([]byte, uint8) {
	var out []byte
	seq := uint8(1)
	packet := func(p []byte) {
		n := len(p)
		out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
		out = append(out, p...)
		seq++
	}
	for _, e := range events {
		payload := append([]byte{packetOK}, e...)
		for len(payload) >= maxPayload {
			packet(payload[:maxPayload])
			payload = payload[maxPayload:]
		}
		packet(payload)
	}
	return out, seq
}

// choppy hands out its bytes in reads of random sizes, as a socket does.
type choppy struct {
	b   []byte
	rnd *rand.Rand
}

func (c *choppy) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rnd.IntN(200_000))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func readAll(t *testing.T, r *packetReader) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	for {
		e, err := r.next()
		if err != nil {
			return got, err
		}
		got = append(got, bytes.Clone(e))
	}
}

// TestPacketReader_framing: the events of the sysbench binlog, one larger
// than the read buffer, one spanning two packets (over 16 MiB), and one
// whose payload is exactly one full packet (followed by an empty one) come
// out byte for byte, whatever sizes the reads return; an ERR packet ends
// the stream as go-mysql's error.
func TestPacketReader_framing(t *testing.T) {
	_, events := loadTestdata(t)
	big := bytes.Repeat([]byte{0xab}, 2*readBufferSize+7)
	huge := bytes.Repeat([]byte{0xcd}, maxPayload+1000)
	exact := bytes.Repeat([]byte{0xef}, maxPayload-1) // with the OK byte: exactly maxPayload
	want := append(append([][]byte{}, events[:100]...), big, events[100], huge, exact)
	want = append(want, events[101:]...)
	stream, seq := dumpStream(want)
	// ERR 1236, SQL state HY000.
	errPkt := append([]byte{0xff, 0xd4, 0x04, '#', 'H', 'Y', '0', '0', '0'}, "Could not find first log file"...)
	stream = append(stream, byte(len(errPkt)), 0, 0, seq)
	stream = append(stream, errPkt...)

	r := newPacketReader(&choppy{b: stream, rnd: rand.New(rand.NewPCG(1, 2))})
	got, err := readAll(t, r)
	var my *mysql.MyError
	if !errors.As(err, &my) || my.Code != 1236 || my.State != "HY000" || my.Message != "Could not find first log file" {
		t.Errorf("stream ended with %v, want ERROR 1236 (HY000)", err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d: %d bytes differ from the %d written", i, len(got[i]), len(want[i]))
		}
	}
}

func TestPacketReader_outOfOrder(t *testing.T) {
	_, events := loadTestdata(t)
	stream, _ := dumpStream(events[:3])
	stream[3] = 7 // the first packet's sequence number
	_, err := readAll(t, newPacketReader(bytes.NewReader(stream)))
	if !errors.Is(err, errPacketOrder) {
		t.Errorf("err = %v, want errPacketOrder", err)
	}
}

// TestPacketReader_matchesGoMySQL: the sysbench binlog read through the
// framing gives the figures of go-mysql's full decoder, event by event
// (compareWithGoMySQL), and the file's own.
func TestPacketReader_matchesGoMySQL(t *testing.T) {
	file, events := loadTestdata(t)
	raw, _ := dumpStream(events)
	got, err := readAll(t, newPacketReader(&choppy{b: raw, rnd: rand.New(rand.NewPCG(3, 4))}))
	if err != io.EOF {
		t.Fatalf("stream ended with %v, want EOF", err)
	}
	m, rowsEvents := compareWithGoMySQL(t, file, got)
	s := m.Snapshot()
	if want := fileSize(events) - 4; s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}
	if rowsEvents == 0 || s.Transactions == 0 {
		t.Errorf("%d rows events, %d transactions compared", rowsEvents, s.Transactions)
	}
}

// TestPacketReader_allocs pins the hot loop: framing plus translation of a
// whole file allocates nothing per event once the tables are cached.
func TestPacketReader_allocs(t *testing.T) {
	file, events := loadTestdata(t)
	body := events[1 : len(events)-1] // no FDE (copied) or ROTATE (new file name)
	raw, _ := dumpStream(body)
	src := bytes.NewReader(raw)
	r := newPacketReader(src)
	tr := newTranslator(stream.NewMeter(stream.MeterOptions{}), zerolog.Nop(), nil)
	n := 0
	pass := func() {
		src.Reset(raw)
		r.br.Reset(src)
		r.seq, r.consumed = 1, 0
		tr.startSession(stream.Position{File: file, Pos: 4})
		for {
			e, err := r.next()
			if err != nil {
				break
			}
			n++
			_ = tr.handle(e)
		}
	}
	pass()
	if n != len(body) {
		t.Fatalf("read %d events, want %d", n, len(body))
	}
	allocs := testing.AllocsPerRun(3, pass)
	if perEvent := allocs / float64(len(body)); perEvent > 0.001 {
		t.Errorf("%.0f allocations per pass of %d events (%.4f per event), want none", allocs, len(body), perEvent)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client *net.TCPConn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); server.Close() })
	return c.(*net.TCPConn), server
}

func lowWaterOf(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

// TestBatchReader: with a delay the socket's low-water mark is set and a
// write far smaller than it, arriving while the reader waits, is still read
// (once the deadline passes); without one the mark stays the kernel's
// default of 1 byte.
func TestBatchReader(t *testing.T) {
	for _, tc := range []struct {
		delay time.Duration
		mark  int
	}{{DefaultMaxDelay, lowWater}, {0, 1}} {
		c, srv := tcpPair(t)
		r, err := newBatchReader(c, c, tc.delay)
		if err != nil {
			t.Fatal(err)
		}
		if got := lowWaterOf(t, c); got != tc.mark {
			t.Errorf("delay %v: SO_RCVLOWAT = %d, want %d", tc.delay, got, tc.mark)
		}
		for i := range 3 { // each after an idle wait
			msg := []byte("heartbeat " + strconv.Itoa(i))
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, 100)
				n, _ := r.Read(b)
				got <- b[:n]
			}()
			// Written once the reader is (most likely) waiting: data
			// already there is read at once, whatever the mark.
			time.Sleep(20 * time.Millisecond)
			if _, err := srv.Write(msg); err != nil {
				t.Fatal(err)
			}
			select {
			case b := <-got:
				if !bytes.Equal(b, msg) {
					t.Errorf("delay %v: read %q, want %q", tc.delay, b, msg)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("delay %v: a %d-byte write was not read within 10 s", tc.delay, len(msg))
			}
		}
	}
}
