package binlog

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver/client"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// This file opens the dump: mysqlserver/client connects, authenticates and
// sets up TLS; the sidecar then registers as a replica and sends the dump command
// itself (what go-mysql's BinlogSyncer does, minus its reading goroutine),
// and reads the stream with its own framing (reader.go).

// Dump command flag (MariaDB): send ANNOTATE_ROWS events, without which
// the counted bytes fall short of the binlog's (lab-notes 3.2).
const dumpSendAnnotateRows = 0x02

// mariaSlaveCapabilityGTID tells MariaDB the replica understands GTID
// events (MARIA_SLAVE_CAPABILITY_GTID).
const mariaSlaveCapabilityGTID = 4

// dumpConn is a connection streaming the binlog: the go-mysql client that
// opened it and the transport the events are read from (the TLS
// connection when TLS is on).
type dumpConn struct {
	cli *client.Conn
	// conn is what the events are read from; the client reads nothing
	// more once the dump command is sent.
	conn net.Conn
	// tcp is the TCP socket under conn, for the receive low-water mark;
	// nil on a unix socket.
	tcp *net.TCPConn
}

func (d *dumpConn) Close() error { return d.cli.Close() }

// dumpRequest is what a dump asks of the server.
type dumpRequest struct {
	flavor    string
	serverID  uint32
	user      string
	heartbeat int64  // nanoseconds
	uuid      string // @slave_uuid / @replica_uuid
	// port goes into COM_REGISTER_SLAVE: the port the sidecar dials, as
	// go-mysql sends it (SHOW SLAVE HOSTS shows it); 0 on a unix socket.
	port uint16
	pos  stream.Position
	gset mysql.GTIDSet // nil: dump from pos
}

// openDump connects with dial, registers as a replica and sends the dump
// command. Every statement here is what go-mysql's BinlogSyncer sends, but
// the replica UUID is the sidecar's own stable one instead of a fresh one
// per connection, so that a MySQL source ends the previous dump thread of
// the same sidecar (it matches replicas by UUID; MariaDB by server_id).
func (s *Source) openDump(ctx context.Context, dial dialFunc, req dumpRequest) (*dumpConn, error) {
	var tcp *net.TCPConn
	capture := func(dctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(dctx, network, addr)
		if cc, ok := c.(*ctxConn); ok {
			tcp, _ = cc.Conn.(*net.TCPConn)
		}
		return c, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	cli, err := client.Connect(cctx, client.Target{Addr: s.cfg.Addr, User: s.cfg.User, Password: s.cfg.Password,
		TLS: s.tls, TLSPreferred: s.cfg.TLSPreferred, Dial: capture,
		Attributes: map[string]string{"_client_role": "binary_log_listener"}}, time.Now().Add(s.cfg.DialTimeout))
	if err != nil {
		return nil, err
	}
	if err := register(cli, req); err != nil {
		_ = cli.Close()
		return nil, err
	}
	if err := sendDump(cli, req); err != nil {
		_ = cli.Close()
		return nil, err
	}
	// The dial deadline bounded the exchange so far; the stream's watchdog
	// (Source.watch) bounds the reads from here on.
	if err := cli.SetDeadline(time.Time{}); err != nil {
		_ = cli.Close()
		return nil, err
	}
	return &dumpConn{cli: cli, conn: cli.NetConn(), tcp: tcp}, nil
}

// register sets the session variables a replica sets and sends
// COM_REGISTER_SLAVE.
func register(cli *client.Conn, req dumpRequest) error {
	// Checksum-aware (the fake ROTATE at the start comes without one; real
	// events keep theirs), the heartbeat period, and the replica's UUID.
	set := fmt.Sprintf("SET @master_binlog_checksum='NONE', @source_binlog_checksum='NONE', "+
		"@master_heartbeat_period=%d, @source_heartbeat_period=%d, @slave_uuid='%s', @replica_uuid='%s'",
		req.heartbeat, req.heartbeat, req.uuid, req.uuid)
	if req.flavor == mysqlserver.FlavorMariaDB {
		set += fmt.Sprintf(", @mariadb_slave_capability=%d", mariaSlaveCapabilityGTID)
	}
	if err := cli.Exec(set); err != nil {
		return fmt.Errorf("set replica session variables: %w", err)
	}
	host := RegisterHost
	user := req.user
	if len(user) > 255 {
		user = user[:255]
	}
	data := make([]byte, 4, 4+1+4+1+len(host)+1+len(user)+1+2+4+4)
	data = append(data, mysql.COM_REGISTER_SLAVE)
	data = binary.LittleEndian.AppendUint32(data, req.serverID)
	data = append(data, byte(len(host)))
	data = append(data, host...)
	data = append(data, byte(len(user)))
	data = append(data, user...)
	data = append(data, 0) // password
	data = binary.LittleEndian.AppendUint16(data, req.port)
	data = binary.LittleEndian.AppendUint32(data, 0) // replication rank
	data = binary.LittleEndian.AppendUint32(data, 0) // source id
	if err := cli.WriteCommand(data); err != nil {
		return fmt.Errorf("register as replica: %w", err)
	}
	if err := cli.ReadOK(); err != nil {
		return fmt.Errorf("register as replica: %w", err)
	}
	return nil
}

// sendDump sends COM_BINLOG_DUMP, or COM_BINLOG_DUMP_GTID on MySQL for a
// GTID start (MariaDB takes its GTID start in @slave_connect_state).
func sendDump(cli *client.Conn, req dumpRequest) error {
	var flags uint16
	if req.flavor == mysqlserver.FlavorMariaDB {
		flags = dumpSendAnnotateRows
	}
	pos := req.pos
	if req.gset != nil {
		if req.flavor != mysqlserver.FlavorMariaDB {
			return sendDumpGTID(cli, req)
		}
		set := fmt.Sprintf("SET @slave_connect_state='%s', @slave_gtid_strict_mode=1", req.gset.String())
		if err := cli.Exec(set); err != nil {
			return fmt.Errorf("set GTID start: %w", err)
		}
		pos = stream.Position{}
	} else if pos.Pos < 4 {
		pos.Pos = 4
	}
	data := make([]byte, 4, 4+1+4+2+4+len(pos.File))
	data = append(data, mysql.COM_BINLOG_DUMP)
	data = binary.LittleEndian.AppendUint32(data, pos.Pos)
	data = binary.LittleEndian.AppendUint16(data, flags)
	data = binary.LittleEndian.AppendUint32(data, req.serverID)
	data = append(data, pos.File...)
	if err := cli.WriteCommand(data); err != nil {
		return fmt.Errorf("send dump command: %w", err)
	}
	return nil
}

func sendDumpGTID(cli *client.Conn, req dumpRequest) error {
	set := req.gset.Encode()
	data := make([]byte, 4, 4+1+2+4+4+8+4+len(set))
	data = append(data, mysql.COM_BINLOG_DUMP_GTID)
	data = binary.LittleEndian.AppendUint16(data, 0) // flags
	data = binary.LittleEndian.AppendUint32(data, req.serverID)
	data = binary.LittleEndian.AppendUint32(data, 0) // file name length: none
	data = binary.LittleEndian.AppendUint64(data, 4) // position
	data = binary.LittleEndian.AppendUint32(data, uint32(len(set)))
	data = append(data, set...)
	if err := cli.WriteCommand(data); err != nil {
		return fmt.Errorf("send GTID dump command: %w", err)
	}
	return nil
}

// ReplicaUUID derives the UUID the sidecar registers with from a name (the
// instance): the same name gives the same UUID across restarts, so the
// source recognises a reconnecting sidecar as the replica it already
// serves and ends the old dump thread. It is a name-based (version 5)
// UUID in a namespace of the project's own.
func ReplicaUUID(name string) string {
	h := sha1.Sum([]byte("binlog-sidecar/replica/" + name))
	h[6] = h[6]&0x0f | 0x50 // version 5
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	var b strings.Builder
	for i, c := range h[:16] {
		switch i {
		case 4, 6, 8, 10:
			b.WriteByte('-')
		}
		b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
		b.WriteString(strconv.FormatUint(uint64(c)&0xf, 16))
	}
	return b.String()
}
