package binlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// This file reads the dump stream: MySQL packet framing over one large
// buffered reader, handing each event's bytes to the translator in place.
// Nothing allocates per event (TestPacketReader_allocs); an event larger
// than the buffer is assembled in a second buffer kept across events.

const (
	// readBufferSize is the buffered reader's size: most events are read
	// in place from it, and one read moves up to this much.
	readBufferSize = 1 << 20
	// maxPayload is the largest payload of one packet; a payload of
	// exactly this length continues in the next packet.
	maxPayload = 1<<24 - 1
	// keepLargeBuffer bounds the assembly buffer kept between events; a
	// larger one is dropped when the next event is read.
	keepLargeBuffer = 16 << 20

	packetOK  = 0x00
	packetEOF = 0xfe
	packetERR = 0xff
)

var errPacketOrder = errors.New("binlog stream: packets out of order")

// packetReader reads events from a dump stream.
type packetReader struct {
	br  *bufio.Reader
	seq uint8
	// consumed is how much of br the previous event occupies; it is
	// discarded when the next event is read, so the previous event's
	// bytes stay valid until then.
	consumed int
	large    []byte
}

// newPacketReader reads from r. The first packet after the dump command
// has sequence number 1.
func newPacketReader(r io.Reader) *packetReader {
	return &packetReader{br: bufio.NewReaderSize(r, readBufferSize), seq: 1}
}

// next returns the next event (header, body and checksum as written),
// valid until the following call. EOF packets (non-blocking dumps only)
// are skipped; an ERR packet is returned as an error.
func (p *packetReader) next() ([]byte, error) {
	for {
		payload, err := p.packet()
		if err != nil {
			return nil, err
		}
		switch {
		case len(payload) == 0:
			return nil, errors.New("binlog stream: empty packet")
		case payload[0] == packetOK:
			return payload[1:], nil
		case payload[0] == packetERR:
			return nil, errPacket(payload)
		case payload[0] == packetEOF && len(payload) < 9:
			continue
		default:
			return nil, fmt.Errorf("binlog stream: unexpected packet header 0x%02x", payload[0])
		}
	}
}

// packet returns the next packet's payload, joined with its continuation
// packets. A payload that fits the buffer is returned in place.
func (p *packetReader) packet() ([]byte, error) {
	if cap(p.large) > keepLargeBuffer {
		p.large = nil // the previous event was huge: do not hold on to it
	}
	if p.consumed > 0 {
		if _, err := p.br.Discard(p.consumed); err != nil {
			return nil, err
		}
		p.consumed = 0
	}
	n, err := p.header()
	if err != nil {
		return nil, err
	}
	if n < maxPayload && 4+n <= p.br.Size() {
		b, err := p.br.Peek(4 + n)
		if err != nil {
			return nil, err
		}
		p.consumed = 4 + n
		return b[4:], nil
	}
	return p.assemble(n)
}

// header reads a packet header (without consuming it) and checks its
// sequence number.
func (p *packetReader) header() (int, error) {
	h, err := p.br.Peek(4)
	if err != nil {
		return 0, err
	}
	if h[3] != p.seq {
		return 0, fmt.Errorf("%w: sequence %d, want %d", errPacketOrder, h[3], p.seq)
	}
	p.seq++
	return int(h[0]) | int(h[1])<<8 | int(h[2])<<16, nil
}

// assemble reads a payload of n bytes that does not fit the buffer, and
// its continuation packets, into the assembly buffer.
func (p *packetReader) assemble(n int) ([]byte, error) {
	buf := p.large[:0]
	for {
		if _, err := p.br.Discard(4); err != nil {
			return nil, err
		}
		buf = grow(buf, n)
		if _, err := io.ReadFull(p.br, buf[len(buf)-n:]); err != nil {
			return nil, err
		}
		if n < maxPayload {
			break
		}
		var err error
		if n, err = p.header(); err != nil {
			return nil, err
		}
	}
	p.large = buf
	return buf, nil
}

// grow extends b by n bytes, reallocating at most by doubling.
func grow(b []byte, n int) []byte {
	if len(b)+n <= cap(b) {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// lowWater is the receive low-water mark of a batching stream: the
// kernel wakes the reader when this much has arrived (or its deadline
// passes), not at every event the server writes.
const lowWater = 64 << 10

// batchReader reads a dump connection in batches: with the socket's
// receive low-water mark set (SO_RCVLOWAT) the reader sleeps until
// lowWater bytes have arrived, and a read deadline bounds how long anything
// that arrived may wait. When the deadline passes, the next read returns
// whatever the socket holds, a heartbeat smaller than the mark included.
// The deadline is half of MaxDelay, leaving the other half for the event's
// way to the socket (commit, network) and a busy machine's scheduling, so
// that the time from a row's write to its being counted stays within
// MaxDelay. With MaxDelay 0 it reads each event as it arrives.
type batchReader struct {
	conn net.Conn
	wait time.Duration // the read deadline; 0: none, no low-water mark
}

// newBatchReader sets the low-water mark on tcp (when maxDelay > 0 and the
// stream runs over TCP; a unix socket reads each event as it arrives).
func newBatchReader(conn net.Conn, tcp *net.TCPConn, maxDelay time.Duration) (*batchReader, error) {
	r := &batchReader{conn: conn}
	if maxDelay <= 0 || tcp == nil {
		return r, conn.SetReadDeadline(time.Time{})
	}
	if err := setLowWater(tcp, lowWater); err != nil {
		return nil, err
	}
	r.wait = max(maxDelay/2, time.Millisecond)
	return r, nil
}

func (r *batchReader) Read(b []byte) (int, error) {
	if r.wait == 0 {
		return r.conn.Read(b)
	}
	for {
		// The deadline is set before the wait, so anything arriving
		// during the wait waits at most r.wait.
		if err := r.conn.SetReadDeadline(time.Now().Add(r.wait)); err != nil {
			return 0, err
		}
		n, err := r.conn.Read(b)
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			// Fewer than lowWater bytes came: the next read (with a
			// fresh deadline) returns at once with what is there, or
			// waits again if nothing is.
			continue
		}
		return n, err
	}
}

// setLowWater sets SO_RCVLOWAT on a TCP socket.
func setLowWater(tcp *net.TCPConn, n int) error {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return fmt.Errorf("receive low-water mark: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
	}); err != nil {
		return fmt.Errorf("receive low-water mark: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("receive low-water mark: %w", serr)
	}
	return nil
}

// errPacket turns an ERR packet into go-mysql's *mysql.MyError, which
// classify and Hint recognise: 0xff, the error code, '#' and the SQL state
// (protocol 4.1), the message.
func errPacket(payload []byte) error {
	if len(payload) < 3 {
		return errors.New("binlog stream: short error packet")
	}
	e := &mysql.MyError{Code: uint16(payload[1]) | uint16(payload[2])<<8}
	msg := payload[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		e.State = string(msg[1:6])
		msg = msg[6:]
	}
	e.Message = string(msg)
	return e
}
