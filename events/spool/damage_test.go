package spool_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/events/spool"
)

// damageRecs records of damageRecLen bytes each (header included) are
// written by the damage tests.
const (
	damageRecs   = 31
	damageRecLen = 17 + 89
)

func damageRecord(i int) spool.Record {
	return rec(fmt.Sprintf("event-%02d-%s", i, strings.Repeat("x", 80)), false)
}

// segFiles are the segment files in dir, in order.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v, %v", segs, err)
	}
	return segs
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// The spool damaged on disk while the sidecar was stopped, as the issue
// found it: every record whose checksum holds is delivered, every record
// lost is counted and logged, the damaged file is kept aside, the ack is
// checked against the records (never negative pending, never "all
// delivered" by a bogus ack), and a second restart finds nothing new.
func TestSpool_DamageTable(t *testing.T) {
	tests := []struct {
		name    string
		seg     int64  // SegmentBytes (0: default, one segment)
		acked   uint64 // acknowledged before the damage
		damage  func(t *testing.T, dir string)
		deliver int // records delivered after the damage
		lost    uint64
		logged  string // in the log; empty: nothing at warn or above
		kept    bool   // a .damaged copy exists
	}{
		{name: "no damage", deliver: 31},
		{name: "flipped byte in record 3 of 31", damage: func(t *testing.T, dir string) {
			writeAt(t, segFiles(t, dir)[0], 2*damageRecLen+40, []byte{'!'})
		}, deliver: 30, lost: 1, logged: "spool segment damaged", kept: true},
		{name: "flipped byte in record 3's length", damage: func(t *testing.T, dir string) {
			writeAt(t, segFiles(t, dir)[0], 2*damageRecLen+2, []byte{0x7f})
		}, deliver: 30, lost: 1, logged: "spool segment damaged", kept: true},
		{name: "record 3's length over the record limit", damage: func(t *testing.T, dir string) {
			writeAt(t, segFiles(t, dir)[0], 2*damageRecLen, []byte{0xff, 0xff, 0xff, 0xf0})
		}, deliver: 30, lost: 1, logged: "spool segment damaged", kept: true},
		{name: "flipped byte in record 3, 1 acked before", acked: 1, damage: func(t *testing.T, dir string) {
			writeAt(t, segFiles(t, dir)[0], 2*damageRecLen+40, []byte{'!'})
		}, deliver: 29, lost: 1, logged: "spool segment damaged", kept: true},
		{name: "zeroed segment", damage: func(t *testing.T, dir string) {
			writeAt(t, segFiles(t, dir)[0], 0, make([]byte, damageRecs*damageRecLen))
		}, deliver: 0, lost: 31, logged: "spool segment damaged", kept: true},
		{name: "zeroed middle segment of several", seg: 4 * damageRecLen, damage: func(t *testing.T, dir string) {
			writeAt(t, segFiles(t, dir)[2], 0, make([]byte, 4*damageRecLen)) // records 9-12
		}, deliver: 27, lost: 4, logged: "spool segment damaged", kept: true},
		{name: "segment cut in record 3", damage: func(t *testing.T, dir string) {
			os.Truncate(segFiles(t, dir)[0], 2*damageRecLen+50)
		}, deliver: 2, lost: 29, logged: "spool segment damaged", kept: true},
		{name: "torn write after the last record (a crash)", damage: func(t *testing.T, dir string) {
			f, _ := os.OpenFile(segFiles(t, dir)[0], os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{0, 0, 0, 90, 1, 2, 3})
			f.Close()
		}, deliver: 31, lost: 0, logged: "torn by a crash"},
		{name: "ack set past the end", damage: func(t *testing.T, dir string) {
			writeAt(t, filepath.Join(dir, "ack"), 0, be64(1000))
		}, deliver: 31, logged: "acknowledges records never appended"},
		{name: "ack set past the end, 10 acked before", acked: 10, damage: func(t *testing.T, dir string) {
			writeAt(t, filepath.Join(dir, "ack"), 0, be64(1000))
		}, deliver: 31, logged: "acknowledges records never appended"},
		{name: "ack set to 0xFF", damage: func(t *testing.T, dir string) {
			writeAt(t, filepath.Join(dir, "ack"), 0, bytes.Repeat([]byte{0xff}, 8))
		}, deliver: 31, logged: "acknowledges records never appended"},
		{name: "ack file all 0xFF", damage: func(t *testing.T, dir string) {
			writeAt(t, filepath.Join(dir, "ack"), 0, bytes.Repeat([]byte{0xff}, 16))
		}, deliver: 31, logged: "acknowledges records never appended"},
		{name: "ack file emptied", damage: func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, "ack"), 0)
		}, deliver: 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := spool.Options{SegmentBytes: tt.seg}
			s, err := spool.Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			for i := range damageRecs {
				appendN(t, s, damageRecord(i+1))
			}
			if tt.acked > 0 {
				if _, err := s.Read(int(tt.acked)); err != nil {
					t.Fatal(err)
				}
				if err := s.Ack(tt.acked); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			if tt.damage != nil {
				tt.damage(t, dir)
			}

			var log bytes.Buffer
			o.Log = zerolog.New(&log)
			s = open(t, dir, o)
			if s.Pending() < 0 || s.Pending() > damageRecs {
				t.Fatalf("pending %d after open, want 0-%d", s.Pending(), damageRecs)
			}
			got, corrupt := readCounting(t, s)
			if corrupt != 0 {
				t.Errorf("%d ErrCorrupt from Read: Open should have repaired everything", corrupt)
			}
			if len(got) > 0 {
				if err := s.Ack(got[len(got)-1].Seq); err != nil {
					t.Fatal(err)
				}
			}
			want := damageRecs - int(tt.acked)
			if tt.logged == "acknowledges records never appended" {
				want = damageRecs // delivered again, at least once
			}
			want = min(want, tt.deliver)
			if len(got) != want || s.Lost() != tt.lost || s.Pending() != 0 {
				t.Errorf("delivered %d, lost %d, pending %d; want %d, %d, 0", len(got), s.Lost(), s.Pending(), want, tt.lost)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Seq <= got[i-1].Seq {
					t.Fatalf("out of order: seq %d after %d", got[i].Seq, got[i-1].Seq)
				}
			}
			warnings := bytes.Contains(log.Bytes(), []byte(`"level":"warn"`)) || bytes.Contains(log.Bytes(), []byte(`"level":"error"`))
			if tt.logged == "" && warnings {
				t.Errorf("logged %s, want nothing", log.String())
			}
			if tt.logged != "" && !strings.Contains(log.String(), tt.logged) {
				t.Errorf("log %q, want a line with %q", log.String(), tt.logged)
			}
			if tt.lost > 0 && !strings.Contains(log.String(), fmt.Sprintf(`"records_lost":%d`, tt.lost)) {
				t.Errorf("log %q, want records_lost %d", log.String(), tt.lost)
			}
			copies, _ := filepath.Glob(filepath.Join(dir, "*.damaged*"))
			if tt.kept != (len(copies) == 1) {
				t.Errorf("damaged copies %v, want one: %v", copies, tt.kept)
			}
			t.Logf("written %d, acked before %d, delivered %d, lost %d, logged %q", damageRecs, tt.acked, len(got), s.Lost(), tt.logged)

			// Appending and restarting again works normally: nothing is
			// lost twice, nothing delivered twice.
			appendN(t, s, rec("after", false))
			s.Close()
			log.Reset()
			s = open(t, dir, o)
			got, _ = readCounting(t, s)
			if fmt.Sprint(datas(got)) != "[after]" || s.Lost() != 0 || log.Len() != 0 {
				t.Errorf("after a second restart: read %v, lost %d, log %q; want [after], 0, nothing", datas(got), s.Lost(), log.String())
			}
		})
	}
}

// Append refuses a record over the record limit (it would read as damage
// later) and appends those before it.
func TestSpool_AppendTooLarge(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{})
	recs := []spool.Record{rec("a", false), {Data: make([]byte, spool.MaxRecord+1)}, rec("c", false)}
	n, err := s.Append(recs)
	if n != 1 || !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("append: got %d, %v; want 1, ErrTooLarge", n, err)
	}
	appendN(t, s, rec("c", false))
	if got := fmt.Sprint(datas(readAll(t, s))); got != "[a c]" {
		t.Errorf("read %s, want [a c]", got)
	}
}
