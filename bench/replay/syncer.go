package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// discard is the logger every go-mysql reader gets: logging is not what is
// measured.
var discard = slog.New(slog.DiscardHandler)

func hostPort(addr string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("parse -addr: %w", err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("parse -addr port: %w", err)
	}
	return host, uint16(port), nil
}

// readSyncer is lab-notes §4.2 (a) raw and (b) full: a BinlogSyncer from
// file:start until the end, with the fake ROTATE (and, when starting past
// 4, the artificial FORMAT_DESCRIPTION, both with log_pos 0) skipped.
func readSyncer(raw bool) reader {
	return func(ctx context.Context, o options) (result, error) {
		var res result
		host, port, err := hostPort(o.addr)
		if err != nil {
			return res, err
		}
		syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
			ServerID:         o.serverID,
			Flavor:           mysql.MariaDBFlavor,
			Host:             host,
			Port:             port,
			User:             o.user,
			Password:         o.password,
			RawModeEnabled:   raw,
			DisableRetrySync: true,
			Logger:           discard,
		})
		defer syncer.Close()
		st, err := syncer.StartSync(mysql.Position{Name: o.file, Pos: o.start})
		if err != nil {
			return res, fmt.Errorf("start binlog sync: %w", err)
		}
		res.End = o.start
		for {
			ev, err := st.GetEvent(ctx)
			if err != nil {
				return res, fmt.Errorf("get event at %s:%d: %w", o.file, res.End, err)
			}
			h := ev.Header
			if h.LogPos == 0 || h.EventType == replication.HEARTBEAT_EVENT || h.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
				continue
			}
			res.Events++
			res.Bytes += uint64(len(ev.RawData))
			res.End = h.LogPos
			if re, ok := ev.Event.(*replication.RowsEvent); ok {
				n := uint64(len(re.Rows))
				if isUpdate(h.EventType) {
					n /= 2 // before and after image of one changed row
				}
				res.Rows += n
			}
			if o.end != 0 && h.LogPos >= o.end {
				return res, nil
			}
			if o.end == 0 && h.EventType == replication.ROTATE_EVENT {
				return res, nil
			}
		}
	}
}

func isUpdate(t replication.EventType) bool {
	switch t {
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.PARTIAL_UPDATE_ROWS_EVENT, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		return true
	}
	return false
}
