package binlog

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
)

var updateTestdata = flag.Bool("update-testdata", false,
	"regenerate testdata/oltp.binlog.gz from a real MariaDB with sysbench")

// oltpTestdata is one whole binlog file written by MariaDB 10.11 under
// sysbench oltp_write_only (4 tables, annotate-rows off, as in lab-notes
// 4.1), gzipped. Unit tests and benchmarks replay it without a server.
const oltpTestdata = "testdata/oltp.binlog.gz"

// binlogMagic starts every binlog file.
var binlogMagic = []byte{0xfe, 'b', 'i', 'n'}

// splitBinlog splits a binlog file into its events.
func splitBinlog(tb testing.TB, file []byte) [][]byte {
	tb.Helper()
	if !bytes.HasPrefix(file, binlogMagic) {
		tb.Fatal("not a binlog file")
	}
	var events [][]byte
	for p := 4; p < len(file); {
		if p+headerLen > len(file) {
			tb.Fatalf("truncated event header at %d", p)
		}
		size := int(binary.LittleEndian.Uint32(file[p+9:]))
		if size < headerLen || p+size > len(file) {
			tb.Fatalf("bad event size %d at %d", size, p)
		}
		events = append(events, file[p:p+size])
		p += size
	}
	return events
}

// loadTestdata returns the events of the committed oltp binlog and the
// file's name as the server called it.
func loadTestdata(tb testing.TB) (name string, events [][]byte) {
	tb.Helper()
	f, err := os.Open(oltpTestdata)
	if err != nil {
		tb.Fatalf("open %s: %v (regenerate with -update-testdata)", oltpTestdata, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return zr.Name, splitBinlog(tb, raw)
}

// readServerBinlog reads a binlog file from a test server's datadir: the
// bytes the server streams (lab-notes 4.1: mariadb-binlog --raw output is
// byte-identical to the file).
func readServerBinlog(t *testing.T, srv *testdb.Server, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.DataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenerateTestdata regenerates oltpTestdata; it runs only with
// -update-testdata (it needs sysbench).
func TestGenerateTestdata(t *testing.T) {
	if !*updateTestdata {
		t.Skip("regenerates testdata only with -update-testdata")
	}
	p := testdb.StartPrimary(t, testdb.Options{Name: "oltp",
		Extra: []string{"--binlog-annotate-row-events=OFF", "--innodb-flush-log-at-trx-commit=2"}})
	opts := []string{"--db-driver=mysql", "--mysql-socket=" + p.Socket, "--mysql-user=bench",
		"--mysql-password=bench", "--mysql-db=sbtest", "--tables=4", "--table-size=10000"}
	sysbench := func(args ...string) {
		out, err := exec.Command("sysbench", append(append([]string{"oltp_write_only"}, opts...), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("sysbench %v: %v\n%s", args, err, out)
		}
	}
	sysbench("prepare", "--threads=2")
	p.Exec(t, "FLUSH BINARY LOGS")
	file, _ := p.MasterStatus(t)
	sysbench("run", "--threads=2", "--events=600", "--time=0")
	p.Exec(t, "FLUSH BINARY LOGS")
	raw := readServerBinlog(t, p, file)

	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Name = file
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oltpTestdata, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("wrote %s: %s, %d bytes, %d events, %d gzipped\n", oltpTestdata, file, len(raw),
		len(splitBinlog(t, raw)), buf.Len())
}
