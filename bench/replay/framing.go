package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// readFraming is the floor under any reader: COM_BINLOG_DUMP, one 1 MiB
// buffered reader, the 4-byte packet header and the event header's type,
// size and log_pos, nothing else. go-mysql only connects.
func readFraming(ctx context.Context, o options) (result, error) {
	var res result
	c, err := client.ConnectWithContext(ctx, o.addr, o.user, o.password, "", 0)
	if err != nil {
		return res, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	// Checksum-aware, as every reader here; MariaDB refuses to send
	// checksummed events to a replica that does not say so.
	if _, err := c.Execute("SET @master_binlog_checksum='NONE', @mariadb_slave_capability=4, @master_heartbeat_period=1000000000"); err != nil {
		return res, fmt.Errorf("set session: %w", err)
	}
	cmd := make([]byte, 4, 4+1+4+2+4+len(o.file))
	cmd = append(cmd, mysql.COM_BINLOG_DUMP)
	cmd = binary.LittleEndian.AppendUint32(cmd, o.start)
	cmd = binary.LittleEndian.AppendUint16(cmd, 0)
	cmd = binary.LittleEndian.AppendUint32(cmd, o.serverID)
	cmd = append(cmd, o.file...)
	c.ResetSequence()
	if err := c.WritePacket(cmd); err != nil {
		return res, fmt.Errorf("dump command: %w", err)
	}

	br := bufio.NewReaderSize(c.Conn.Conn, 1<<20)
	res.End = o.start
	for {
		h, err := br.Peek(4 + 1 + 19)
		if err != nil {
			return res, fmt.Errorf("read at %s:%d: %w", o.file, res.End, err)
		}
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		if h[4] != 0x00 {
			return res, fmt.Errorf("packet 0x%02x at %s:%d (an error)", h[4], o.file, res.End)
		}
		ev := h[5:]
		typ := ev[4]
		size := binary.LittleEndian.Uint32(ev[9:])
		logPos := binary.LittleEndian.Uint32(ev[13:])
		// Whole packet, and its continuation packets (events over 16 MiB).
		if err := skipPacket(br, n); err != nil {
			return res, err
		}
		const heartbeat, heartbeatV2, rotate = 27, 41, 4
		if logPos == 0 || typ == heartbeat || typ == heartbeatV2 {
			continue // fake ROTATE, artificial FDE, heartbeats
		}
		res.Events++
		res.Bytes += uint64(size)
		res.End = logPos
		if o.end != 0 && logPos >= o.end {
			return res, nil
		}
		if o.end == 0 && typ == rotate {
			return res, nil
		}
	}
}

// skipPacket discards a packet of payload length n and its continuations.
func skipPacket(br *bufio.Reader, n int) error {
	for {
		if _, err := br.Discard(4 + n); err != nil {
			return err
		}
		if n < 1<<24-1 {
			return nil
		}
		h, err := br.Peek(4)
		if err != nil {
			return err
		}
		n = int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	}
}
