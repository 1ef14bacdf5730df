package binlog

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestSource_compressedColumns: MariaDB logs VARCHAR ... COMPRESSED as
// type 141 (2-byte metadata, a 1- or 2-byte length prefix) and BLOB ...
// COMPRESSED as type 140 (1-byte metadata) in the table map; rows of
// such tables are counted exactly.
func TestSource_compressedColumns(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.cz (a INT PRIMARY KEY, v VARCHAR(100) CHARACTER SET latin1 COMPRESSED, w VARCHAR(1000) CHARACTER SET utf8mb4 COMPRESSED, b BLOB COMPRESSED, c INT)")
	p.Exec(t, "FLUSH BINARY LOGS")
	file, _ := p.MasterStatus(t)
	r := startSource(t, p, Config{Start: "end"})
	testwait.Until(t, "connected", 10*time.Second, func() bool { return r.meter.Snapshot().Connected })
	// Count from where the stream started, not from SHOW MASTER STATUS read
	// before it: MariaDB writes the new file's BINLOG_CHECKPOINT event
	// (41 bytes here) a moment after FLUSH BINARY LOGS returns.
	start := r.meter.Snapshot().Position

	p.Exec(t, "INSERT INTO sbtest.cz VALUES "+insertValues(1, 20, func(i int) string {
		if i%2 == 0 { // long enough to be compressed
			return itoa(i) + ", REPEAT('v', 100), REPEAT('w', 900), REPEAT('b', 5000), " + itoa(i)
		}
		return itoa(i) + ", 'short', NULL, 'x', " + itoa(i)
	}))
	p.Exec(t, "UPDATE sbtest.cz SET v = 'u', b = REPEAT('c', 300) WHERE a <= 6")
	p.Exec(t, "DELETE FROM sbtest.cz WHERE a > 16")
	s := waitCaughtUp(t, p, r.meter)
	if want := (stream.Rows{Insert: 20, Update: 6, Delete: 4}); s.Rows != want {
		t.Errorf("Rows = %+v, want %+v", s.Rows, want)
	}
	if want := binlogBytes(t, p, start); s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}

	// The column types as the server logs them.
	p.Exec(t, "FLUSH BINARY LOGS")
	var types []byte
	for _, e := range splitBinlog(t, readServerBinlog(t, p, file)) {
		if e[4] != evTableMap {
			continue
		}
		body := e[headerLen : len(e)-checksumLen]
		q := 6 + 2
		_, q, _ = lenStr(body, q)
		table, q, _ := lenStr(body, q)
		if string(table) != "cz" {
			continue
		}
		n, m := lenencInt(body[q:])
		types = body[q+m : q+m+int(n)]
		break
	}
	if want := []byte{typeLong, typeVarcharCompressed, typeVarcharCompressed, typeBlobCompressed, typeLong}; !bytes.Equal(types, want) {
		t.Errorf("table map column types = %v, want %v", types, want)
	}
	if strings.Contains(s.LastError, "unsupported") {
		t.Errorf("LastError = %q", s.LastError)
	}
}
