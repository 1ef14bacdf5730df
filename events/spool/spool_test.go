package spool_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/events/spool"
)

func open(t *testing.T, dir string, o spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *spool.Spool, recs ...spool.Record) {
	t.Helper()
	if n, err := s.Append(recs); err != nil || n != len(recs) {
		t.Fatalf("append: got %d, %v; want %d, nil", n, err, len(recs))
	}
}

func rec(data string, droppable bool) spool.Record {
	return spool.Record{Data: []byte(data), Droppable: droppable}
}

func readAll(t *testing.T, s *spool.Spool) []spool.Record {
	t.Helper()
	var out []spool.Record
	for {
		recs, err := s.Read(100)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

func datas(recs []spool.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

func TestSpool_AppendReadAck(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{})
	appendN(t, s, rec("a", false), rec("b", true), rec("c", false))
	got, err := s.Read(2)
	if err != nil || fmt.Sprint(datas(got)) != "[a b]" || got[0].Seq != 1 || got[1].Seq != 2 || !got[1].Droppable {
		t.Fatalf("read 2: got %+v, %v", got, err)
	}
	if got, want := fmt.Sprint(s.Unread(), s.Pending()), "1 3"; got != want {
		t.Errorf("unread, pending: got %s, want %s", got, want)
	}
	if err := s.Ack(1); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Pending(), 2; got != want {
		t.Errorf("pending after ack 1: got %d, want %d", got, want)
	}
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(datas(readAll(t, s))), "[c]"; got != want {
		t.Errorf("rest: got %s, want %s", got, want)
	}
	s.Ack(3)
	if got := fmt.Sprint(s.Unread(), s.Pending()); got != "0 0" {
		t.Errorf("unread, pending after acking all: got %s, want 0 0", got)
	}
}

func TestSpool_Reopen(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{SegmentBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		appendN(t, s, rec(fmt.Sprintf("r%d-padding-to-roll-segments", i), false))
	}
	if _, err := s.Read(6); err != nil { // six in flight, four acked
		t.Fatal(err)
	}
	if err := s.Ack(4); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir, spool.Options{SegmentBytes: 64})
	if got, want := s.Unread(), 6; got != want {
		t.Errorf("unread after reopen: got %d, want %d", got, want)
	}
	recs := readAll(t, s)
	if got, want := fmt.Sprint(datas(recs)), "[r4-padding-to-roll-segments r5-padding-to-roll-segments r6-padding-to-roll-segments r7-padding-to-roll-segments r8-padding-to-roll-segments r9-padding-to-roll-segments]"; got != want {
		t.Errorf("records after reopen:\n got %s\nwant %s", got, want)
	}
	next := []spool.Record{rec("new", false)}
	if _, err := s.Append(next); err != nil || next[0].Seq != 11 {
		t.Errorf("seq after reopen: got %d, %v; want 11", next[0].Seq, err)
	}
}

// A crash in the middle of a write leaves a torn record at the end of the
// active segment; it is cut off and the records before it survive.
func TestSpool_TornTail(t *testing.T) {
	tests := []struct {
		name string
		give []byte // appended to the segment file
	}{
		{"short header", []byte{0, 0}},
		{"short payload", []byte{0, 0, 0, 40, 1, 2, 3, 4, 5}},
		{"bad crc", append([]byte{0, 0, 0, 10, 9, 9, 9, 9}, bytes.Repeat([]byte{7}, 10)...)},
		{"absurd length", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := spool.Open(dir, spool.Options{})
			appendN(t, s, rec("a", false), rec("b", false))
			s.Close()
			segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
			f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tt.give)
			f.Close()

			s = open(t, dir, spool.Options{})
			appendN(t, s, rec("c", false))
			if got, want := fmt.Sprint(datas(readAll(t, s))), "[a b c]"; got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

// problemEvery makes one record in so many non-droppable in the drop test:
// few enough that all of them fit under the bound.
const problemEvery = 20

// Over the bound, the oldest stats go first and every problem survives;
// what is left of the stats is the newest ones.
func TestSpool_DropsOldestDroppableFirst(t *testing.T) {
	const maxBytes, size = 64 << 10, 500
	s := open(t, t.TempDir(), spool.Options{MaxBytes: maxBytes, SegmentBytes: 8 << 10})
	pad := string(bytes.Repeat([]byte{'x'}, size))
	var problems, stats int
	for i := range 1000 { // about 8x the bound
		drop := i%problemEvery != 0
		if drop {
			stats++
		} else {
			problems++
		}
		appendN(t, s, rec(fmt.Sprintf("%d:%s", i, pad), drop))
		if s.Bytes() > maxBytes+8<<10 {
			t.Fatalf("after %d appends: %d bytes on disk, bound %d", i+1, s.Bytes(), maxBytes)
		}
	}
	recs := readAll(t, s)
	var gotProblems, gotStats int
	firstStat := -1
	for _, r := range recs {
		if r.Droppable {
			gotStats++
			if firstStat < 0 {
				firstStat = int(r.Seq)
			}
			continue
		}
		gotProblems++
	}
	if gotProblems != problems {
		t.Errorf("problems: got %d, want all %d", gotProblems, problems)
	}
	if got, want := s.Dropped(), uint64(stats-gotStats); got != want || got == 0 {
		t.Errorf("dropped: got %d, want %d (> 0)", got, want)
	}
	// The surviving stats are exactly the newest ones: none is missing after
	// the first one that survived.
	if want := stats - countDroppable(firstStat); gotStats != want {
		t.Errorf("surviving stats: got %d, want the newest %d", gotStats, want)
	}
}

// countDroppable is how many of the first seq-1 records of the drop test were droppable.
func countDroppable(seq int) int {
	n := 0
	for i := range seq - 1 {
		if i%problemEvery != 0 {
			n++
		}
	}
	return n
}

func TestSpool_DropsOldestWhenNothingDroppable(t *testing.T) {
	const maxBytes = 16 << 10
	s := open(t, t.TempDir(), spool.Options{MaxBytes: maxBytes, SegmentBytes: 2 << 10})
	pad := string(bytes.Repeat([]byte{'x'}, 200))
	for i := range 500 {
		appendN(t, s, rec(fmt.Sprintf("%04d%s", i, pad), false))
	}
	recs := readAll(t, s)
	if len(recs) == 0 || s.Dropped() != uint64(500-len(recs)) {
		t.Fatalf("got %d left, %d dropped; want 500 in all", len(recs), s.Dropped())
	}
	for i, r := range recs { // a suffix: the newest survive, in order
		if want := uint64(500 - len(recs) + i + 1); r.Seq != want {
			t.Fatalf("record %d: seq %d, want %d", i, r.Seq, want)
		}
	}
}

// Records handed to the reader are in flight: no drop touches them, and
// without an ack they are read again after a restart.
func TestSpool_InFlightNeverDropped(t *testing.T) {
	dir := t.TempDir()
	o := spool.Options{MaxBytes: 16 << 10, SegmentBytes: 2 << 10}
	s, _ := spool.Open(dir, o)
	pad := string(bytes.Repeat([]byte{'x'}, 200))
	for i := range 10 {
		appendN(t, s, rec(fmt.Sprintf("first%d%s", i, pad), true))
	}
	if got, _ := s.Read(10); len(got) != 10 {
		t.Fatalf("read: got %d, want 10", len(got))
	}
	for i := range 300 {
		appendN(t, s, rec(fmt.Sprintf("more%d%s", i, pad), true))
	}
	if s.Dropped() == 0 {
		t.Fatal("nothing dropped: the test did not overflow the spool")
	}
	s.Close()
	s = open(t, dir, o)
	recs := readAll(t, s)
	for i := range 10 {
		if recs[i].Seq != uint64(i+1) {
			t.Fatalf("record %d after restart: seq %d, want %d", i, recs[i].Seq, i+1)
		}
	}
}

func TestSpool_AckDeletesSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{SegmentBytes: 256})
	for i := range 100 {
		appendN(t, s, rec(fmt.Sprintf("record-%03d-with-some-padding", i), false))
	}
	recs := readAll(t, s)
	if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Errorf("segments after acking all: got %d, want 1 (the active one)", len(segs))
	}
}

func ExampleSpool() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)

	s, _ := spool.Open(dir, spool.Options{})
	s.Append([]spool.Record{{Data: []byte("problem")}, {Data: []byte("stats"), Droppable: true}})
	recs, _ := s.Read(10)
	for _, r := range recs {
		fmt.Println(r.Seq, string(r.Data))
	}
	s.Ack(recs[len(recs)-1].Seq) // delivered: never read again
	s.Close()
	// Output:
	// 1 problem
	// 2 stats
}

// A record damaged after it was written (found by Read, not by Open) does
// not stop delivery, nor take the rest of its segment with it: the segment
// is kept aside and rewritten with its good records, the lost one counted,
// Read says so with ErrCorrupt, and reading goes on.
func TestSpool_CorruptRecordSkipped(t *testing.T) {
	tests := []struct {
		name   string
		seg    int64    // SegmentBytes; a one-byte record takes 18
		before []string // in the first segment, the second record is damaged
		after  []string // appended afterwards
		want   string   // read, in order
	}{
		{"active segment", 100, []string{"a", "b", "c", "d"}, []string{"e"}, "[a c d e]"},
		{"older segment", 40, []string{"a", "b", "c"}, []string{"d", "e"}, "[a c d e]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, spool.Options{SegmentBytes: tt.seg})
			for _, d := range tt.before {
				appendN(t, s, rec(d, false))
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
			f, err := os.OpenFile(segs[0], os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{'X'}, 18+17) // the second record's data byte: its CRC fails
			f.Close()
			for _, d := range tt.after {
				appendN(t, s, rec(d, false))
			}

			got, corrupt := readCounting(t, s)
			if g := fmt.Sprint(datas(got)); g != tt.want {
				t.Errorf("read %s, want %s", g, tt.want)
			}
			if corrupt != 1 || s.Lost() != 1 || s.Unread() != 0 {
				t.Errorf("got %d corrupt errors, lost %d, unread %d; want 1, 1, 0", corrupt, s.Lost(), s.Unread())
			}
			// What is appended after the repair is read.
			appendN(t, s, rec("z", false))
			recs, err := s.Read(100)
			if err != nil || fmt.Sprint(datas(recs)) != "[z]" {
				t.Fatalf("read after repair: got %v, %v; want [z]", datas(recs), err)
			}
			if err := s.Ack(recs[0].Seq); err != nil {
				t.Fatal(err)
			}
			if s.Pending() != 0 {
				t.Errorf("pending %d after acking all, want 0", s.Pending())
			}
		})
	}
}

// readCounting reads everything, counting the ErrCorrupt errors, and
// checks that the counters never go negative on the way.
func readCounting(t *testing.T, s *spool.Spool) (got []spool.Record, corrupt int) {
	t.Helper()
	for range 100 {
		recs, err := s.Read(7)
		got = append(got, recs...)
		if s.Pending() < 0 || s.Unread() < 0 {
			t.Fatalf("pending %d, unread %d: negative", s.Pending(), s.Unread())
		}
		if errors.Is(err, spool.ErrCorrupt) {
			corrupt++
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(recs) == 0 {
			return got, corrupt
		}
	}
	t.Fatal("read did not end")
	return nil, 0
}
