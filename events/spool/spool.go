package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Defaults for Options.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 4 << 20
)

// File layout: segments are named by the sequence number they started at,
// zero-padded so names sort in order; the ack file holds the highest
// delivered sequence number as 8 big-endian bytes.
const (
	segmentExt = ".seg"
	ackFile    = "ack"
	headerLen  = 8 // uint32 payload length, uint32 CRC-32C of the payload
	metaLen    = 9 // payload starts with uint64 seq and a flags byte
	flagDrop   = 1
	maxRecord  = 16 << 20 // a larger length can only be a torn write
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("spool closed")

// ErrCorrupt is wrapped by the error Read returns when it found a corrupt
// record: the rest of that segment was skipped and its records counted in
// Dropped. Reading goes on with the next segment; the caller should log
// the error and carry on.
var ErrCorrupt = errors.New("corrupt record")

// Record is one queued message.
type Record struct {
	Seq uint64 // assigned by Append, increasing
	// Droppable records are dropped first, oldest first, when the spool is
	// over MaxBytes.
	Droppable bool
	Data      []byte
}

// Options bound the spool.
type Options struct {
	// MaxBytes bounds the unread records on disk (default DefaultMaxBytes).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file starts (default
	// DefaultSegmentBytes, at most MaxBytes/8). Dropping works a segment at
	// a time, so this is also the granularity of drops.
	SegmentBytes int64
}

type segment struct {
	first uint64 // the name; no record in it has a smaller seq
	last  uint64 // highest seq in it, 0 if none
	size  int64
	// Counts of records not yet read (seq >= the read cursor).
	unread, unreadDrop int
}

func (g *segment) name(dir string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", g.first, segmentExt))
}

// Spool is a persistent FIFO of records in a directory. One goroutine may
// Append while another Reads and Acks.
type Spool struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segs     []*segment // in order; the last one is active
	active   *os.File   // the last segment, open for appending
	ack      *os.File
	acked    uint64 // every seq <= acked was delivered
	nextSeq  uint64
	cur      *segment // read cursor: segment, offset in it, next seq
	curOff   int64
	curNext  uint64
	unread   int
	inflight []uint64 // seqs read and not yet acked, in order
	bytes    int64
	dropped  uint64
	closed   bool

	// Copies of the counters for readers that must not wait for a write
	// and its fsync (metrics); stored under mu by publish.
	pendingN, unreadN, bytesN atomic.Int64
	droppedN                  atomic.Uint64
}

// publish copies the counters for the lock-free readers; called under mu.
func (s *Spool) publish() {
	s.pendingN.Store(int64(s.unread + len(s.inflight)))
	s.unreadN.Store(int64(s.unread))
	s.bytesN.Store(s.bytes)
	s.droppedN.Store(s.dropped)
}

// Open opens or creates the spool in dir and recovers what a previous
// process left: records after the last ack are unread again, and a record
// torn by a crash (short or failing its CRC) is cut off with all after it.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	opts.SegmentBytes = max(min(opts.SegmentBytes, opts.MaxBytes/8), 1)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{dir: dir, opts: opts}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s.publish()
	return s, nil
}

func (s *Spool) recover() error {
	var err error
	if s.ack, err = os.OpenFile(filepath.Join(s.dir, ackFile), os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		return err
	}
	var b [8]byte
	if n, _ := s.ack.ReadAt(b[:], 0); n == 8 {
		s.acked = binary.BigEndian.Uint64(b[:])
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") { // a compaction that did not finish
			_ = os.Remove(filepath.Join(s.dir, name))
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		s.segs = append(s.segs, &segment{first: first})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].first < s.segs[j].first })
	s.nextSeq = s.acked + 1
	for _, g := range s.segs {
		if err := s.scan(g); err != nil {
			return err
		}
		s.nextSeq = max(s.nextSeq, g.last+1, g.first)
		s.bytes += g.size
	}
	// Drop segments with nothing left to read; keep the last to append to.
	live := s.segs[:0]
	for i, g := range s.segs {
		if g.unread == 0 && i < len(s.segs)-1 {
			if err := os.Remove(g.name(s.dir)); err != nil {
				return err
			}
			s.bytes -= g.size
			continue
		}
		live = append(live, g)
	}
	s.segs = live
	if len(s.segs) == 0 {
		if err := s.newSegment(); err != nil {
			return err
		}
	} else if s.active, err = os.OpenFile(s.segs[len(s.segs)-1].name(s.dir), os.O_WRONLY|os.O_APPEND, 0o640); err != nil {
		return err
	}
	s.cur, s.curOff, s.curNext = s.segs[0], 0, s.acked+1
	return nil
}

// scan counts g's records, truncating it at the first torn one.
func (s *Spool) scan(g *segment) error {
	f, err := os.OpenFile(g.name(s.dir), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var off int64
	for {
		rec, n, err := readRecord(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				if err := f.Truncate(off); err != nil {
					return err
				}
			}
			break
		}
		off += n
		g.last = rec.Seq
		if rec.Seq > s.acked {
			g.unread++
			s.unread++
			if rec.Droppable {
				g.unreadDrop++
			}
		}
	}
	g.size = off
	return nil
}

func readRecord(r io.Reader) (Record, int64, error) {
	var h [headerLen + metaLen]byte
	if _, err := io.ReadFull(r, h[:headerLen]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Record{}, 0, errTorn
		}
		return Record{}, 0, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n < metaLen || n > maxRecord {
		return Record{}, 0, errTorn
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil || crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(h[4:8]) {
		return Record{}, 0, errTorn
	}
	return Record{Seq: binary.BigEndian.Uint64(p[:8]), Droppable: p[8]&flagDrop != 0, Data: p[metaLen:]}, headerLen + int64(n), nil
}

var errTorn = errors.New("torn record")

func appendRecord(buf []byte, r Record) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(metaLen+len(r.Data)))
	buf = append(buf, 0, 0, 0, 0) // CRC, filled in below
	buf = binary.BigEndian.AppendUint64(buf, r.Seq)
	flags := byte(0)
	if r.Droppable {
		flags = flagDrop
	}
	buf = append(buf, flags)
	buf = append(buf, r.Data...)
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+headerLen:], crcTable))
	return buf
}

func (s *Spool) newSegment() error {
	g := &segment{first: s.nextSeq}
	f, err := os.OpenFile(g.name(s.dir), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if s.active != nil {
		s.active.Close() // synced by Append's commit
	}
	s.active = f
	s.segs = append(s.segs, g)
	return syncDir(s.dir)
}

// Append writes recs (assigning each its Seq, in order) and fsyncs them
// before it returns, so they survive a process kill and a power loss. It
// returns how many records, from the start of recs, were appended; on error
// the rest were not and may be appended again. Then, if the spool is over
// MaxBytes, it drops records to make room (see Dropped).
func (s *Spool) Append(recs []Record) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.publish()
	if s.closed {
		return 0, ErrClosed
	}
	if len(recs) == 0 {
		return 0, nil
	}
	var (
		buf  []byte
		done int // records committed
		g    = s.segs[len(s.segs)-1]
	)
	commit := func(upto int) error {
		if _, err := s.active.Write(buf); err != nil {
			_ = s.active.Truncate(g.size) // O_APPEND: the next write goes to the new end
			return err
		}
		if err := s.active.Sync(); err != nil {
			_ = s.active.Truncate(g.size)
			return err
		}
		g.size += int64(len(buf))
		for _, r := range recs[done:upto] {
			g.last, g.unread, s.unread = r.Seq, g.unread+1, s.unread+1
			if r.Droppable {
				g.unreadDrop++
			}
		}
		s.nextSeq += uint64(upto - done)
		s.bytes += int64(len(buf))
		buf, done = buf[:0], upto
		return nil
	}
	for i := range recs {
		if g.size+int64(len(buf)) >= s.opts.SegmentBytes {
			if err := commit(i); err != nil {
				return done, fmt.Errorf("append to spool: %w", err)
			}
			if err := s.newSegment(); err != nil {
				return done, fmt.Errorf("append to spool: %w", err)
			}
			g = s.segs[len(s.segs)-1]
		}
		recs[i].Seq = s.nextSeq + uint64(i-done)
		buf = appendRecord(buf, recs[i])
	}
	if err := commit(len(recs)); err != nil {
		return done, fmt.Errorf("append to spool: %w", err)
	}
	return done, s.enforce()
}

// enforce drops records while the spool is over MaxBytes: first the unread
// droppable records of the oldest segment that has any, then, when no
// droppable record is left, the unread records of the oldest segment.
// Records already read (in flight) are never dropped.
func (s *Spool) enforce() error {
	for s.bytes > s.opts.MaxBytes {
		var victim *segment
		keep := func(r Record) bool { return r.Seq < s.curNext || !r.Droppable }
		for _, g := range s.segs {
			if g.unreadDrop > 0 {
				victim = g
				break
			}
		}
		if victim == nil {
			keep = func(r Record) bool { return r.Seq < s.curNext }
			for _, g := range s.segs {
				if g.unread > 0 {
					victim = g
					break
				}
			}
		}
		if victim == nil {
			return nil // all that is left is in flight or delivered
		}
		if err := s.compact(victim, keep); err != nil {
			return fmt.Errorf("drop from spool: %w", err)
		}
	}
	return nil
}

// compact rewrites g with only the records keep accepts, through a
// temporary file renamed over it, and fixes the counters and the cursor.
func (s *Spool) compact(g *segment, keep func(Record) bool) error {
	path := g.name(s.dir)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out []byte
	var curOff int64 = -1
	r := bytes.NewReader(data)
	var off int64
	ng := &segment{first: g.first}
	for {
		rec, n, err := readRecord(r)
		if err != nil {
			break
		}
		if g == s.cur && off == s.curOff {
			curOff = int64(len(out))
		}
		off += n
		if !keep(rec) {
			s.dropped++
			s.unread--
			continue
		}
		out = appendRecord(out, rec)
		ng.last = rec.Seq
		if rec.Seq >= s.curNext {
			ng.unread++
			if rec.Droppable {
				ng.unreadDrop++
			}
		}
	}
	if g == s.cur && curOff < 0 {
		curOff = int64(len(out))
	}
	isActive := g == s.segs[len(s.segs)-1]
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, out); err != nil {
		return err
	}
	if isActive {
		s.active.Close()
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if isActive {
		if s.active, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640); err != nil {
			return err
		}
	}
	g.size, g.last, g.unread, g.unreadDrop = int64(len(out)), max(ng.last, g.last), ng.unread, ng.unreadDrop
	if g == s.cur {
		s.curOff = curOff
	}
	s.recount()
	return syncDir(s.dir)
}

// Read returns up to n records after the last one read, in order, and
// moves the read cursor past them. They stay on disk until acknowledged.
// On a corrupt record it returns what it read before it and an error
// wrapping ErrCorrupt, having moved past the damaged segment.
func (s *Spool) Read(n int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.publish()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
	for len(out) < n {
		if s.curOff >= s.cur.size {
			i := s.index(s.cur)
			if i+1 >= len(s.segs) {
				break
			}
			s.cur, s.curOff = s.segs[i+1], 0
			continue
		}
		f, err := os.Open(s.cur.name(s.dir))
		if err != nil {
			return out, fmt.Errorf("read spool: %w", err)
		}
		r := bufio.NewReader(io.NewSectionReader(f, s.curOff, s.cur.size-s.curOff))
		for len(out) < n && s.curOff < s.cur.size {
			rec, size, err := readRecord(r)
			if errors.Is(err, errTorn) {
				f.Close()
				return out, s.skipSegment()
			}
			if err != nil {
				f.Close()
				return out, fmt.Errorf("read spool: %w", err)
			}
			s.curOff += size
			if rec.Seq < s.curNext {
				continue // delivered before a restart
			}
			s.curNext = rec.Seq + 1
			s.inflight = append(s.inflight, rec.Seq)
			s.cur.unread--
			s.unread--
			if rec.Droppable {
				s.cur.unreadDrop--
			}
			out = append(out, rec)
		}
		f.Close()
	}
	return out, nil
}

// skipSegment gives up the rest of the read cursor's segment, which holds
// a corrupt record (Open cuts a torn tail off, so this is damage found at
// run time): its unread records count as dropped and reading goes on with
// the next segment. A new segment is started when the damaged one is the
// active one, so that what is appended next can be read.
func (s *Spool) skipSegment() error {
	g := s.cur
	skipped := g.unread
	s.dropped += uint64(skipped)
	s.unread -= skipped
	g.unread, g.unreadDrop = 0, 0
	s.curOff = g.size
	err := fmt.Errorf("read spool: segment %s: %w at offset %d: skipped the rest of it, %d records dropped",
		filepath.Base(g.name(s.dir)), ErrCorrupt, s.curOff, skipped)
	if g == s.segs[len(s.segs)-1] {
		if nerr := s.newSegment(); nerr != nil {
			return errors.Join(err, fmt.Errorf("read spool: %w", nerr))
		}
	}
	return err
}

func (s *Spool) index(g *segment) int {
	for i, x := range s.segs {
		if x == g {
			return i
		}
	}
	return -1
}

// Ack records that every record up to seq was delivered: the ack file is
// rewritten (not fsynced: after a power loss some records may be delivered
// twice, never lost) and fully delivered segments are deleted.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.publish()
	if s.closed {
		return ErrClosed
	}
	i := 0
	for i < len(s.inflight) && s.inflight[i] <= seq {
		i++
	}
	s.inflight = append(s.inflight[:0], s.inflight[i:]...)
	if seq <= s.acked {
		return nil
	}
	s.acked = seq
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	if _, err := s.ack.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("ack spool: %w", err)
	}
	for len(s.segs) > 1 && s.segs[0] != s.cur && s.segs[0].last <= seq {
		if err := os.Remove(s.segs[0].name(s.dir)); err != nil {
			return fmt.Errorf("ack spool: %w", err)
		}
		s.bytes -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	return nil
}

// Unread is the number of records appended and not yet read.
func (s *Spool) Unread() int { return int(s.unreadN.Load()) }

// Pending is the number of records not yet acknowledged: unread, or read
// and not acked. Like Unread, Bytes and Dropped it never waits for a write.
func (s *Spool) Pending() int { return int(s.pendingN.Load()) }

// Bytes is the size of the spool's segment files.
func (s *Spool) Bytes() int64 { return s.bytesN.Load() }

// Dropped counts records dropped to keep under MaxBytes since Open.
func (s *Spool) Dropped() uint64 { return s.droppedN.Load() }

// Close closes the files; records not acknowledged are read again by the
// next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

func (s *Spool) closeFiles() error {
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	if s.ack != nil {
		errs = append(errs, s.ack.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a created, renamed or removed file name durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Spool) recount() {
	s.bytes = 0
	for _, g := range s.segs {
		s.bytes += g.size
	}
}
