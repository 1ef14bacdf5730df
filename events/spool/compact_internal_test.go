package spool

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A drop whose rewrite fails at the rename (a full or read-only disk, an
// I/O error) leaves the spool as it was: the active segment stays open,
// later Appends succeed, nothing is counted as dropped, and Append does not
// report the failed drop as its own failure (its records were committed).
// Once renames work again, the drop happens.
func TestSpool_CompactRenameFails(t *testing.T) {
	var log bytes.Buffer
	s, err := Open(t.TempDir(), Options{MaxBytes: 4 << 10, SegmentBytes: 512, Log: zerolog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	renameFile = func(string, string) error { return errors.New("injected rename failure") }
	defer func() { renameFile = renameOS }()

	pad := strings.Repeat("x", 200)
	for i := range 40 { // about 9 KiB: over the bound
		recs := []Record{{Data: []byte(fmt.Sprintf("%02d%s", i, pad)), Droppable: true}}
		if n, err := s.Append(recs); n != 1 || err != nil {
			t.Fatalf("append %d while renames fail: got %d, %v; want 1, nil", i, n, err)
		}
	}
	if s.Dropped() != 0 || s.Unread() != 40 || s.Pending() != 40 {
		t.Errorf("dropped %d, unread %d, pending %d; want 0, 40, 40 (the drop failed)", s.Dropped(), s.Unread(), s.Pending())
	}
	if !strings.Contains(log.String(), "injected rename failure") {
		t.Errorf("log %q: want the failed drop", log.String())
	}
	got, err := s.Read(100)
	if err != nil || len(got) != 40 {
		t.Fatalf("read: got %d, %v; want 40", len(got), err)
	}
	if err := s.Ack(got[len(got)-1].Seq); err != nil {
		t.Fatal(err)
	}

	renameFile = renameOS
	for i := range 40 {
		if n, err := s.Append([]Record{{Data: []byte(fmt.Sprintf("later%02d%s", i, pad)), Droppable: true}}); n != 1 || err != nil {
			t.Fatalf("append %d after renames work: got %d, %v", i, n, err)
		}
	}
	if s.Dropped() == 0 || s.Bytes() > 4<<10+1024 {
		t.Errorf("dropped %d, %d bytes; want drops and the bound kept", s.Dropped(), s.Bytes())
	}
	rest, err := s.Read(100)
	if err != nil || len(rest) == 0 || int(s.Dropped())+len(rest) != 40 {
		t.Errorf("read %d (%v), dropped %d: want the 40 later records read or dropped", len(rest), err, s.Dropped())
	}
}
