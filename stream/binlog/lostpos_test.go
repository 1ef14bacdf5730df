package binlog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// TestSource_lostPosition: when the position the stream saved itself no
// longer exists on the server (RESET MASTER restarted the files at .000001;
// a crash lost the tail of a file), the stream records a gap, restarts at
// the server's binlog end and counts what follows exactly, never re-reading
// old files. The operator's SIDECAR_START position still fails loudly.
func TestSource_lostPosition(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	p.Exec(t, "CREATE TABLE sbtest.lp (id INT PRIMARY KEY, v VARCHAR(20))")
	p.Exec(t, "FLUSH BINARY LOGS")
	p.Exec(t, "FLUSH BINARY LOGS")
	r := startSource(t, p, Config{Start: "end"})
	testwait.Until(t, "connected", 10*time.Second, func() bool { return r.meter.Snapshot().Connected })
	p.Exec(t, "INSERT INTO sbtest.lp VALUES "+insertValues(1, 10, func(i int) string { return itoa(i) + ", 'a'" }))
	saved := waitCaughtUp(t, p, r.meter).Position
	r.stop(t)
	if stream.CompareFiles(saved.File, p.BinlogFiles(t)[0].Name) <= 0 {
		t.Fatalf("saved file %s is the oldest; the test needs one that sorts after it", saved.File)
	}

	// RESET MASTER: the files restart at .000001, which sorts before the
	// saved file; rows written while the stream is away are lost.
	p.Exec(t, "RESET MASTER")
	p.Exec(t, "INSERT INTO sbtest.lp VALUES "+insertValues(11, 5, func(i int) string { return itoa(i) + ", 'lost'" }))
	before := r.meter.Snapshot()
	end := masterPos(t, p)
	r.rerun()
	testwait.Until(t, "a gap and a connected stream", 20*time.Second, func() bool {
		s := r.meter.Snapshot()
		return s.Connected && len(s.Gaps) == 1
	})
	g := r.meter.Snapshot().Gaps[0]
	if g.From.File != saved.File || g.From.Pos != saved.Pos || g.To.File != end.File || g.To.Pos != end.Pos ||
		!strings.Contains(g.Reason, "no longer exists") {
		t.Errorf("Gap = %+v, want from %s to %s because the position no longer exists", g, saved, end)
	}
	p.Exec(t, "INSERT INTO sbtest.lp VALUES "+insertValues(21, 7, func(i int) string { return itoa(i) + ", 'b'" }))
	p.Exec(t, "UPDATE sbtest.lp SET v = 'c' WHERE id <= 3")
	s := waitCaughtUp(t, p, r.meter)
	if got, want := rowsDiff(s.Rows, before.Rows), (stream.Rows{Insert: 7, Update: 3}); got != want {
		t.Errorf("rows after the gap = %+v, want %+v", got, want)
	}
	if got, want := s.Bytes-before.Bytes, binlogBytes(t, p, end); got != want {
		t.Errorf("bytes after the gap = %d, want %d (the binlog from %s)", got, want, end)
	}
	r.stop(t)

	// A lost tail: the saved position lies past the end of its file, and
	// the server answers the dump with ERROR 1236 "impossible position".
	end = masterPos(t, p)
	r.src.resume = stream.Position{File: end.File, Pos: end.Pos + 4096}
	lost := r.src.resume
	before = r.meter.Snapshot()
	r.rerun()
	testwait.Until(t, "a second gap and a connected stream", 20*time.Second, func() bool {
		s := r.meter.Snapshot()
		return s.Connected && len(s.Gaps) == 2
	})
	g = r.meter.Snapshot().Gaps[1]
	if g.From.File != lost.File || g.From.Pos != lost.Pos || g.To.File != end.File || g.To.Pos != end.Pos {
		t.Errorf("Gap = %+v, want from %s to %s", g, lost, end)
	}
	if got := r.meter.Snapshot().GapsTotal; got != 2 {
		t.Errorf("GapsTotal = %d, want 2", got)
	}
	p.Exec(t, "DELETE FROM sbtest.lp WHERE id > 20")
	s = waitCaughtUp(t, p, r.meter)
	if got, want := rowsDiff(s.Rows, before.Rows), (stream.Rows{Delete: 7}); got != want {
		t.Errorf("rows after the second gap = %+v, want %+v", got, want)
	}
	if got, want := s.Bytes-before.Bytes, binlogBytes(t, p, end); got != want {
		t.Errorf("bytes after the second gap = %d, want %d", got, want)
	}

	// The operator's own position keeps failing loudly, with no gap.
	u := startSource(t, p, Config{Start: saved.File + ":" + itoa(int(saved.Pos)), ServerID: 4000000002})
	testwait.Until(t, "an error and two retries", 20*time.Second, func() bool {
		s := u.meter.Snapshot()
		return s.LastError != "" && s.Reconnects >= 2
	})
	us := u.meter.Snapshot()
	if err := u.src.LastError(); !errors.Is(err, ErrBadPosition) || !strings.Contains(us.Hint, "SIDECAR_START") || len(us.Gaps) != 0 {
		t.Errorf("user start: error %v, hint %q, gaps %+v; want ErrBadPosition, a SIDECAR_START hint, no gap", err, us.Hint, us.Gaps)
	}
}

func rowsDiff(a, b stream.Rows) stream.Rows {
	return stream.Rows{Insert: a.Insert - b.Insert, Update: a.Update - b.Update, Delete: a.Delete - b.Delete}
}
