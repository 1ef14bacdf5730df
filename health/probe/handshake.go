package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// probeUser is the account name the handshake probe logs in as. It should
// not exist: the probe only completes the exchange so the replica counts an
// authentication failure (not a blocking handshake error, which after
// max_connect_errors would block this host) and logs nothing unusual.
const probeUser = "binlog-sidecar-probe"

// probeAuth is the probe's password answer: 20 bytes (a mysql_native_password
// scramble's length) that are no scramble of anything. An empty answer
// logged in through an anonymous account without a password (the empty user
// name at localhost, which mariadb-install-db creates and which matches any
// user name), and the replica then logged "Aborted connection" on every
// poll; a non-empty answer fails against a password-less account and
// against any real password.
var probeAuth = []byte("binlog-sidecar-probe")

// maxGreeting is the largest packet the probe reads. A real greeting
// (version string, 20 bytes of scramble, capabilities, plugin name) is well
// under 1 KiB, as are the login answers that follow; a peer announcing more
// is not a MySQL server, and allocating what it announces (up to 16 MiB on
// every probe of every replica) would let any listener on a replica's port
// make the sidecar allocate at will.
const maxGreeting = 4 << 10

// errNotGreeting is the probe's answer to a packet longer than maxGreeting.
var errNotGreeting = errors.New("not a MySQL greeting")

// Client capability flags of the handshake response (protocol 4.1).
const (
	capLongPassword     = 0x00000001
	capProtocol41       = 0x00000200
	capSecureConnection = 0x00008000
	capPluginAuth       = 0x00080000
)

// Handshake connects to addr and waits, within timeout, for the MySQL
// server greeting: protocol version 10 and a server version string. A TCP
// accept alone proves nothing: the kernel of a SIGSTOPped mysqld still
// accepts. An ERR packet instead of the greeting (too many connections,
// host blocked) also proves a live server and counts as OK.
func Handshake(ctx context.Context, addr string, timeout time.Duration) health.ProbeResult {
	start := time.Now()
	res := health.ProbeResult{Addr: addr, At: start}
	version, connected, err := greet(ctx, addr, start.Add(timeout))
	res.Took = time.Since(start)
	res.OK, res.Version = err == nil, version
	if err != nil {
		res.Err = err.Error()
		res.Connected = connected
		var dnsErr *net.DNSError
		res.Unresolved = errors.As(err, &dnsErr)
	}
	return res
}

// Handshake probes a replica; see the package function.
func (p *Probe) Handshake(ctx context.Context, addr string, timeout time.Duration) health.ProbeResult {
	return Handshake(ctx, addr, timeout)
}

// greet returns the server version from the greeting; connected says
// whether TCP connected when it fails.
func greet(ctx context.Context, addr string, deadline time.Time) (string, bool, error) {
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", false, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return "", true, fmt.Errorf("set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()

	payload, err := readPacket(c)
	if err != nil {
		return "", true, fmt.Errorf("no greeting: %w", err)
	}
	version, err := parseGreeting(payload)
	if err != nil {
		return "", true, err
	}
	// Best effort, within the same deadline: log in as a user that does not
	// exist and read the answer, so the replica sees a finished exchange.
	if _, err := c.Write(handshakeResponse(probeUser)); err == nil {
		// MySQL 8 may answer with an auth switch (0xfe) to
		// caching_sha2_password: finish with the same wrong answer so the
		// replica sees an authentication failure, never an abandoned
		// handshake (which counts toward max_connect_errors and can block
		// this host) nor a login.
		if pkt, err := readPacketSeq(c); err == nil && len(pkt.payload) > 0 && pkt.payload[0] == 0xfe {
			n := len(probeAuth)
			if _, err := c.Write(append([]byte{byte(n), 0, 0, pkt.seq + 1}, probeAuth...)); err == nil {
				_, _ = readPacket(c)
			}
		}
	}
	return version, false, nil
}

// parseGreeting returns the server version of an initial handshake packet.
func parseGreeting(payload []byte) (string, error) {
	switch {
	case len(payload) == 0:
		return "", fmt.Errorf("empty greeting")
	case payload[0] == 0xff: // ERR instead of a greeting: alive, but refusing us
		code, msg := uint16(0), ""
		if len(payload) >= 3 {
			code = binary.LittleEndian.Uint16(payload[1:3])
			msg = string(payload[3:])
		}
		return fmt.Sprintf("error %d: %s", code, msg), nil
	case payload[0] != 10:
		return "", fmt.Errorf("greeting with protocol version %d, want 10", payload[0])
	}
	end := bytes.IndexByte(payload[1:], 0)
	if end < 0 {
		return "", fmt.Errorf("greeting without a server version")
	}
	return string(payload[1 : 1+end]), nil
}

// readPacket reads one MySQL packet's payload.
func readPacket(r io.Reader) ([]byte, error) {
	p, err := readPacketSeq(r)
	return p.payload, err
}

type mysqlPacket struct {
	seq     byte
	payload []byte
}

// readPacketSeq reads one MySQL packet with its sequence number; a packet
// longer than maxGreeting is refused before anything is allocated for it.
func readPacketSeq(r io.Reader) (mysqlPacket, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return mysqlPacket{}, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n > maxGreeting {
		return mysqlPacket{}, fmt.Errorf("%w: packet of %d bytes announced, a greeting is at most %d", errNotGreeting, n, maxGreeting)
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(r, payload)
	return mysqlPacket{seq: hdr[3], payload: payload}, err
}

// handshakeResponse is a HandshakeResponse41 for user with the wrong
// password answer probeAuth, as packet sequence 1.
func handshakeResponse(user string) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, uint32(capLongPassword|capProtocol41|capSecureConnection|capPluginAuth))
	_ = binary.Write(&b, binary.LittleEndian, uint32(1<<24))
	b.WriteByte(33)           // utf8_general_ci
	b.Write(make([]byte, 23)) // filler
	b.WriteString(user)
	b.WriteByte(0)
	b.WriteByte(byte(len(probeAuth))) // auth response, length-prefixed (CLIENT_SECURE_CONNECTION)
	b.Write(probeAuth)
	b.WriteString("mysql_native_password")
	b.WriteByte(0)
	n := b.Len()
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 1}, b.Bytes()...)
}
