package binlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// replay feeds events to a fresh translator from file:4.
func replay(t testing.TB, file string, events [][]byte) (*stream.Meter, *translator) {
	t.Helper()
	m := stream.NewMeter(stream.MeterOptions{})
	tr := newTranslator(m, zerolog.Nop(), nil)
	tr.startSession(stream.Position{File: file, Pos: 4})
	for i, e := range events {
		if err := tr.handle(e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	return m, tr
}

func fileSize(events [][]byte) uint64 {
	n := uint64(4)
	for _, e := range events {
		n += uint64(len(e))
	}
	return n
}

// TestTranslator_oltp: over a whole binlog file the bytes are the file
// size minus its magic, the position is the file's end, every event and
// transaction is counted once.
func TestTranslator_oltp(t *testing.T) {
	file, events := loadTestdata(t)
	m, _ := replay(t, file, events)
	s := m.Snapshot()

	var xids, gtids uint64
	for _, e := range events {
		switch e[4] {
		case evXID:
			xids++
		case evMariaGTID:
			gtids++
		}
	}
	if want := fileSize(events) - 4; s.Bytes != want {
		t.Errorf("Bytes = %d, want %d", s.Bytes, want)
	}
	if want := uint64(len(events)); s.EventsTotal() != want {
		t.Errorf("EventsTotal = %d, want %d", s.EventsTotal(), want)
	}
	if s.Transactions != gtids || s.Transactions != xids {
		t.Errorf("Transactions = %d, want %d (GTIDs) = %d (XIDs)", s.Transactions, gtids, xids)
	}
	// The last event of a finished file is the ROTATE to the next.
	if s.Position.Pos != 4 || s.Position.File == file || s.Rotations != 1 {
		t.Errorf("Position = %v, rotations %d; want the next file at 4, 1 rotation", s.Position, s.Rotations)
	}
	if s.Events[stream.EventTableMap] != 4*s.Transactions {
		t.Errorf("table maps = %d, want 4 per transaction", s.Events[stream.EventTableMap])
	}
	var tableBytes uint64
	for _, ts := range s.TopTables {
		tableBytes += ts.Bytes
	}
	if len(s.TopTables) != 4 || tableBytes == 0 {
		t.Errorf("TopTables = %+v, want the 4 sbtest tables", s.TopTables)
	}
}

// TestTranslator_reconnectMidTransaction: a session cut inside a
// transaction and resumed from the committed position counts exactly what
// one uninterrupted pass counts.
func TestTranslator_reconnectMidTransaction(t *testing.T) {
	file, events := loadTestdata(t)
	whole, _ := replay(t, file, events)
	want := whole.Snapshot()

	for _, cut := range []int{5, len(events) / 2, len(events) - 3} {
		m := stream.NewMeter(stream.MeterOptions{})
		tr := newTranslator(m, zerolog.Nop(), nil)
		tr.startSession(stream.Position{File: file, Pos: 4})
		for _, e := range events[:cut] {
			if err := tr.handle(e); err != nil {
				t.Fatal(err)
			}
		}
		if tr.group == outside {
			t.Fatalf("cut %d is not inside a transaction; pick another", cut)
		}
		// The server resends the dump from the committed position: a
		// fake ROTATE, the FDE with log_pos 0, then the events after it.
		resume := tr.committed
		tr.startSession(resume)
		if err := tr.handle(fakeRotate(resume.File, resume.Pos, false)); err != nil {
			t.Fatal(err)
		}
		if err := tr.handle(resentFDE(events[0])); err != nil {
			t.Fatal(err)
		}
		at := 4
		for i, e := range events {
			if at == int(resume.Pos) {
				for _, e := range events[i:] {
					if err := tr.handle(e); err != nil {
						t.Fatal(err)
					}
				}
				break
			}
			at += len(e)
		}
		got := m.Snapshot()
		if got.Bytes != want.Bytes || got.Rows != want.Rows || got.Transactions != want.Transactions || got.Counters != want.Counters {
			t.Errorf("cut at %d: counters %+v, want %+v", cut, got.Counters, want.Counters)
		}
	}
}

// fakeRotate builds the artificial ROTATE a server sends at dump start.
func fakeRotate(file string, pos uint32, withCRC bool) []byte {
	body := binary.LittleEndian.AppendUint64(nil, uint64(pos))
	body = append(body, file...)
	return event(0, evRotate, 0, flagArtificial, body, withCRC)
}

// resentFDE is the FDE as a server resends it at the start of a dump that
// begins past it: log_pos 0.
func resentFDE(fde []byte) []byte {
	e := append([]byte(nil), fde...)
	binary.LittleEndian.PutUint32(e[13:], 0)
	return e
}

// event builds a raw event.
func event(ts uint32, typ byte, logPos uint32, flags uint16, body []byte, withCRC bool) []byte {
	size := headerLen + len(body)
	if withCRC {
		size += checksumLen
	}
	e := make([]byte, headerLen, size)
	binary.LittleEndian.PutUint32(e[0:], ts)
	e[4] = typ
	binary.LittleEndian.PutUint32(e[5:], 1)
	binary.LittleEndian.PutUint32(e[9:], uint32(size))
	binary.LittleEndian.PutUint32(e[13:], logPos)
	binary.LittleEndian.PutUint16(e[17:], flags)
	e = append(e, body...)
	if withCRC {
		e = binary.LittleEndian.AppendUint32(e, crc32.ChecksumIEEE(e))
	}
	return e
}

func TestTranslator_artificialEvents(t *testing.T) {
	file, events := loadTestdata(t)
	heartbeat := func(name string, pos uint32) []byte {
		return event(0, evHeartbeat, pos, 0, []byte(name), true)
	}
	end := uint32(fileSize(events[:3]))
	tests := []struct {
		name       string
		give       [][]byte
		wantBytes  uint64
		wantEvents uint64
		wantPos    stream.Position
		wantHB     uint64
		wantCaught bool
	}{
		{
			name:       "dump start: fake rotate and resent FDE are not counted",
			give:       [][]byte{fakeRotate(file, 4, false), resentFDE(events[0])},
			wantPos:    stream.Position{File: file, Pos: 4},
			wantEvents: 0,
		},
		{
			name:       "fake rotate with a checksum",
			give:       [][]byte{fakeRotate(file, 4, true), events[0]},
			wantBytes:  uint64(len(events[0])),
			wantEvents: 1,
			wantPos:    stream.Position{File: file, Pos: uint32(4 + len(events[0]))},
		},
		{
			name:       "heartbeats are liveness only, and at the position mean caught up",
			give:       [][]byte{events[0], events[1], events[2], heartbeat(file, end)},
			wantBytes:  uint64(end - 4),
			wantEvents: 4,
			wantHB:     1,
			wantPos:    stream.Position{File: file, Pos: end},
			wantCaught: true,
		},
		{
			name:       "heartbeat elsewhere",
			give:       [][]byte{events[0], heartbeat(file, end)},
			wantBytes:  uint64(len(events[0])),
			wantEvents: 2,
			wantHB:     1,
			wantPos:    stream.Position{File: file, Pos: uint32(4 + len(events[0]))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := stream.NewMeter(stream.MeterOptions{})
			tr := newTranslator(m, zerolog.Nop(), nil)
			tr.startSession(stream.Position{File: file, Pos: 4})
			for i, e := range tt.give {
				if err := tr.handle(e); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			s := m.Snapshot()
			if s.Bytes != tt.wantBytes || s.EventsTotal() != tt.wantEvents || s.Events[stream.EventHeartbeat] != tt.wantHB {
				t.Errorf("bytes %d, events %d, heartbeats %d; want %d, %d, %d",
					s.Bytes, s.EventsTotal(), s.Events[stream.EventHeartbeat], tt.wantBytes, tt.wantEvents, tt.wantHB)
			}
			if s.Position.File != tt.wantPos.File || s.Position.Pos != tt.wantPos.Pos {
				t.Errorf("Position = %v, want %v", s.Position, tt.wantPos)
			}
			if s.CaughtUp != tt.wantCaught {
				t.Errorf("CaughtUp = %v, want %v", s.CaughtUp, tt.wantCaught)
			}
		})
	}
}

func TestTranslator_stopAt(t *testing.T) {
	file, events := loadTestdata(t)
	stop := stream.Position{File: file, Pos: uint32(fileSize(events[:40]))}
	m := stream.NewMeter(stream.MeterOptions{})
	tr := newTranslator(m, zerolog.Nop(), &stop)
	tr.startSession(stream.Position{File: file, Pos: 4})
	var err error
	n := 0
	for _, e := range events {
		n++
		if err = tr.handle(e); err != nil {
			break
		}
	}
	if !errors.Is(err, errStopReached) {
		t.Fatalf("err = %v, want errStopReached", err)
	}
	if got := m.Snapshot().Position; got.Pos < stop.Pos || n > 50 {
		t.Errorf("stopped at %v after %d events, want at the first commit at or past %v", got, n, stop)
	}
}

func TestClassifyQuery(t *testing.T) {
	tests := []struct {
		give string
		want queryKind
	}{
		{"BEGIN", queryBegin},
		{"begin", queryBegin},
		{"COMMIT", queryCommit},
		{"  COMMIT", queryCommit},
		{"ROLLBACK", queryCommit},
		{"ROLLBACK TO SAVEPOINT s1", queryOther},
		{"ROLLBACK   TO s1", queryOther},
		{"XA START X'01'", queryBegin},
		{"XA END X'01'", queryXAIgnore},
		{"XA PREPARE X'01'", queryCommit},
		{"XA COMMIT X'01'", queryCommit},
		{"CREATE TABLE t (id INT)", queryOther},
		{"BEGINNING", queryOther},
		{"COMMITTED_x", queryOther},
		{"SAVEPOINT s1", queryOther},
		{"", queryOther},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := classifyQuery([]byte(tt.give)); got != tt.want {
				t.Errorf("classifyQuery(%q) = %d, want %d", tt.give, got, tt.want)
			}
		})
	}
}

// TestTranslator_allocs pins the hot path: a second pass over a file
// (tables cached, as in a long-running stream) allocates nothing per event.
func TestTranslator_allocs(t *testing.T) {
	file, events := loadTestdata(t)
	m := stream.NewMeter(stream.MeterOptions{})
	tr := newTranslator(m, zerolog.Nop(), nil)
	pass := func() {
		tr.startSession(stream.Position{File: file, Pos: 4})
		for _, e := range events[1 : len(events)-1] { // no FDE (copied) or ROTATE (new file name)
			_ = tr.handle(e)
		}
	}
	pass()
	allocs := testing.AllocsPerRun(3, pass)
	if perEvent := allocs / float64(len(events)); perEvent > 0.001 {
		t.Errorf("%.0f allocations per pass of %d events (%.4f per event), want none", allocs, len(events), perEvent)
	}
}
