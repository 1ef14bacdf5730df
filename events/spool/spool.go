package spool

import (
	"bufio"
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
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
)

// Defaults for Options, and the largest record Append takes.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 4 << 20
	// MaxRecord bounds a record's data. A larger length read from disk can
	// only be damage.
	MaxRecord = 16 << 20
)

// File layout: segments are named by the sequence number they started at,
// zero-padded so names sort in order. The ack file holds two 8-byte
// big-endian numbers: the highest delivered sequence number, and the
// highest appended (committed) one, which tells how many records a damaged
// tail held.
const (
	segmentExt   = ".seg"
	damagedExt   = ".damaged"
	ackFile      = "ack"
	headerLen    = 8 // uint32 payload length, uint32 CRC-32C of the payload
	metaLen      = 9 // payload starts with uint64 seq and a flags byte
	minRecordLen = headerLen + metaLen
	flagDrop     = 1
	// maxDamagedCopies bounds the damaged segment files kept aside.
	maxDamagedCopies = 4
	// seqSane bounds a sequence number read from disk: a larger one is
	// damage (a spool appending a million records a second reaches it in
	// 146,000 years).
	seqSane = 1 << 62
	// enforceLogEvery rate-limits the log line of a drop that failed.
	enforceLogEvery = 30 * time.Second
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// renameFile is os.Rename; a test makes it fail.
var renameFile = renameOS

var renameOS = os.Rename

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("spool closed")

// ErrCorrupt is wrapped by the error Read returns when it found damaged
// bytes: the damaged segment was copied aside, rewritten with the records
// whose checksums hold, and the records lost counted in Lost and logged.
// Reading goes on after them; the caller should log the error and carry on.
var ErrCorrupt = errors.New("corrupt record")

// ErrTooLarge is wrapped by Append's error for a record over MaxRecord;
// the records before it were appended, it and those after it were not.
var ErrTooLarge = errors.New("record over the spool's record limit")

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
	// Log receives a line for every damaged segment found, every record
	// lost and every drop that failed; the zero Logger logs nothing.
	Log zerolog.Logger
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
	log  zerolog.Logger

	mu       sync.Mutex
	segs     []*segment // in order; the last one is active
	active   *os.File   // the last segment, open for appending; nil: reopen before appending
	ack      *os.File
	acked    uint64 // every seq <= acked was delivered
	head     uint64 // the highest seq appended
	nextSeq  uint64
	cur      *segment // read cursor: segment, offset in it, next seq
	curOff   int64
	curNext  uint64
	unread   int
	inflight []uint64 // seqs read and not yet acked, in order
	bytes    int64
	dropped  uint64
	lost     uint64
	closed   bool
	// enforceLog rate-limits the line of a failed drop.
	enforceLog lograte.Limiter

	// Copies of the counters for readers that must not wait for a write
	// and its fsync (metrics); stored under mu by publish.
	pendingN, unreadN, bytesN atomic.Int64
	droppedN, lostN           atomic.Uint64
}

// publish copies the counters for the lock-free readers; called under mu.
func (s *Spool) publish() {
	s.pendingN.Store(int64(s.unread + len(s.inflight)))
	s.unreadN.Store(int64(s.unread))
	s.bytesN.Store(s.bytes)
	s.droppedN.Store(s.dropped)
	s.lostN.Store(s.lost)
}

// Open opens or creates the spool in dir and recovers what a previous
// process left: records after the last ack are unread again; a record torn
// by a crash during a write (never committed) is cut off; damaged bytes
// anywhere else are set aside (see recover) and the records they held
// counted in Lost.
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
	s := &Spool{dir: dir, opts: opts, log: opts.Log.With().Str("spool", dir).Logger(), enforceLog: lograte.Limiter{Every: enforceLogEvery}}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s.publish()
	return s, nil
}

// recMeta is where one good record sits in a segment file.
type recMeta struct {
	seq  uint64
	off  int64
	n    int64 // header included
	drop bool
}

// stretch is a run of damaged bytes in a segment file.
type stretch struct {
	off, n int64
	next   int // index of the first good record after it; len(recs) when none
}

// parseSegment finds the good records in a segment file's bytes: each has
// a plausible length, a matching CRC and a seq above the one before it (and
// not below the segment's first). Bytes that are not a good record are
// damage; the scan resyncs at the next offset where a good record starts,
// so one damaged record never takes the rest of its segment with it.
func parseSegment(data []byte, first uint64) (recs []recMeta, bad []stretch) {
	after := first - min(first, 1)
	for off := int64(0); off < int64(len(data)); {
		if r, ok := recordAt(data[off:], after); ok {
			r.off = off
			recs = append(recs, r)
			after, off = r.seq, off+r.n
			continue
		}
		start := off
		for off++; off < int64(len(data)); off++ {
			if _, ok := recordAt(data[off:], after); ok {
				break
			}
		}
		bad = append(bad, stretch{off: start, n: off - start, next: len(recs)})
	}
	return recs, bad
}

// recordAt reports whether b starts with a good record whose seq is above
// after. The cheap checks come before the CRC, so a resync scan over
// damaged bytes costs little.
func recordAt(b []byte, after uint64) (recMeta, bool) {
	if len(b) < minRecordLen {
		return recMeta{}, false
	}
	n := int64(binary.BigEndian.Uint32(b[:4]))
	if n < metaLen || n > metaLen+MaxRecord || headerLen+n > int64(len(b)) {
		return recMeta{}, false
	}
	seq := binary.BigEndian.Uint64(b[headerLen:])
	if seq <= after || seq >= seqSane {
		return recMeta{}, false
	}
	if crc32.Checksum(b[headerLen:headerLen+n], crcTable) != binary.BigEndian.Uint32(b[4:8]) {
		return recMeta{}, false
	}
	return recMeta{seq: seq, n: headerLen + n, drop: b[headerLen+8]&flagDrop != 0}, true
}

// lostBetween is how many records a damaged run of size bytes held between
// the good records prev and next (exclusive), not counting those up to
// floor (delivered, or read): the sequence numbers missing, and never more
// than the bytes could hold. A run too short for one record held none.
// Damage at the end of a file (cut short) passes a size of -1: bytes that
// are gone could have held any number.
func lostBetween(prev, next, floor uint64, size int64) uint64 {
	lo := max(prev, floor)
	if next <= lo+1 {
		return 0
	}
	if size < 0 {
		return next - 1 - lo
	}
	return min(next-1-lo, uint64(size/minRecordLen))
}

// scanned is what recover learned of one segment file.
type scanned struct {
	g    *segment
	recs []recMeta
	bad  []stretch
	lost uint64
}

// recover opens the ack file and the segments, validates the ack against
// them, and repairs damage. An ack past the last record appended is damage
// too: it is reset so that everything on disk is delivered again (at least
// once) rather than counted as delivered.
func (s *Spool) recover() error {
	var err error
	if s.ack, err = os.OpenFile(filepath.Join(s.dir, ackFile), os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		return err
	}
	var b [16]byte
	n, _ := s.ack.ReadAt(b[:], 0)
	if n >= 8 {
		s.acked = binary.BigEndian.Uint64(b[:8])
	}
	if n == 16 {
		s.head = binary.BigEndian.Uint64(b[8:])
	}
	segs, err := s.loadSegments()
	if err != nil {
		return err
	}
	s.validateAck(segs)
	s.countLost(segs)
	for i, sc := range segs {
		if len(sc.bad) > 0 {
			if err := s.repairAtOpen(sc, i == len(segs)-1); err != nil {
				return err
			}
		}
	}
	if err := s.writeAck(); err != nil {
		return err
	}

	s.nextSeq = max(s.acked, s.head) + 1
	for _, sc := range segs {
		g := sc.g
		for _, r := range sc.recs {
			if r.seq > s.acked {
				g.unread++
				if r.drop {
					g.unreadDrop++
				}
			}
		}
		s.unread += g.unread
		s.nextSeq = max(s.nextSeq, g.last+1, g.first)
		s.segs = append(s.segs, g)
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
	} else if err := s.openActive(); err != nil {
		return err
	}
	s.cur, s.curOff, s.curNext = s.segs[0], 0, s.acked+1
	return nil
}

// loadSegments lists and parses the segment files, in order.
func (s *Spool) loadSegments() ([]*scanned, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []*scanned
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") { // a rewrite that did not finish
			_ = os.Remove(filepath.Join(s.dir, name))
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		out = append(out, &scanned{g: &segment{first: first}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].g.first < out[j].g.first })
	for _, sc := range out {
		data, err := os.ReadFile(sc.g.name(s.dir))
		if err != nil {
			return nil, err
		}
		sc.recs, sc.bad = parseSegment(data, sc.g.first)
		sc.g.size = int64(len(data))
		if len(sc.recs) > 0 {
			sc.g.last = sc.recs[len(sc.recs)-1].seq
		}
	}
	return out, nil
}

// validateAck checks the ack file's numbers against the records on disk.
// The highest appended seq is at least the highest on disk. The ack can be
// no higher than what was appended: a larger one (a damaged or hand-edited
// ack file) would count records as delivered that never were, so it is
// reset to just before the oldest record on disk.
func (s *Spool) validateAck(segs []*scanned) {
	var onDisk, floor uint64
	for _, sc := range segs {
		onDisk = max(onDisk, sc.g.last)
		floor = max(floor, sc.g.first-min(sc.g.first, 1))
	}
	if s.head >= seqSane {
		s.log.Error().Uint64("appended", s.head).Msg("spool ack file damaged: the highest appended sequence number is impossible; using the highest on disk")
		s.head = 0
	}
	s.head = max(s.head, onDisk)
	if s.acked <= max(s.head, floor) {
		return
	}
	reset := uint64(0)
	if len(segs) > 0 {
		reset = segs[0].g.first - min(segs[0].g.first, 1)
	}
	s.log.Error().Uint64("ack", s.acked).Uint64("appended", max(s.head, floor)).Uint64("ack_reset_to", reset).
		Msg("spool ack file damaged: it acknowledges records never appended; delivering everything in the spool again")
	s.acked = reset
}

// countLost walks the segments' good records in order and, for each run of
// damaged bytes, counts the undelivered records it held: the sequence
// numbers missing between the good records around it (or up to the
// highest appended, for damage at the very end).
func (s *Spool) countLost(segs []*scanned) {
	prev := uint64(0)
	if len(segs) > 0 {
		prev = segs[0].g.first - min(segs[0].g.first, 1)
	}
	var owner *scanned // the segment the pending damage began in
	var size int64
	settle := func(next uint64) {
		if size != 0 {
			n := lostBetween(prev, next, s.acked, size)
			owner.lost += n
			s.lost += n
		}
		size, owner = 0, nil
	}
	for _, sc := range segs {
		bi := 0
		for i, r := range sc.recs {
			for ; bi < len(sc.bad) && sc.bad[bi].next == i; bi++ {
				if owner == nil {
					owner = sc
				}
				size += sc.bad[bi].n
			}
			settle(r.seq)
			prev = r.seq
		}
		for ; bi < len(sc.bad); bi++ {
			if owner == nil {
				owner = sc
			}
			size += sc.bad[bi].n
		}
	}
	if size > 0 {
		size = -1 // damage at the very end: up to the highest appended
	}
	settle(s.head + 1)
}

// repairAtOpen rewrites a damaged segment with its good records. A torn
// write at the end of the last segment (a crash during Append: the record
// was never committed, nothing is lost) is only cut off; any other damage
// is copied aside first and logged.
func (s *Spool) repairAtOpen(sc *scanned, last bool) error {
	path := sc.g.name(s.dir)
	torn := last && sc.lost == 0 && len(sc.bad) == 1 && sc.bad[0].next == len(sc.recs)
	if torn {
		s.log.Warn().Str("segment", filepath.Base(path)).Int64("offset", sc.bad[0].off).Int64("bytes", sc.bad[0].n).
			Msg("spool: cut off a write torn by a crash; nothing was lost")
		if err := os.Truncate(path, sc.bad[0].off); err != nil {
			return err
		}
		sc.g.size = sc.bad[0].off
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	kept := s.keepAside(path, data)
	s.logDamage(path, sc.bad, len(sc.recs), sc.lost, kept)
	size, err := s.rewrite(sc.g, data, sc.recs)
	if err != nil {
		return err
	}
	sc.g.size = size
	return nil
}

// keepAside copies a damaged segment's bytes to <segment>.damaged (or
// .damaged.N) for a person to look at, at most maxDamagedCopies of them in
// the directory. It returns the copy's name, or why there is none.
func (s *Spool) keepAside(path string, data []byte) string {
	copies, _ := filepath.Glob(filepath.Join(s.dir, "*"+damagedExt+"*"))
	if len(copies) >= maxDamagedCopies {
		return fmt.Sprintf("none: %d copies already kept", len(copies))
	}
	dst := path + damagedExt
	for i := 1; ; i++ {
		if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s%s.%d", path, damagedExt, i)
	}
	if err := writeFileSync(dst, data); err != nil {
		return "none: " + err.Error()
	}
	return filepath.Base(dst)
}

func (s *Spool) logDamage(path string, bad []stretch, good int, lost uint64, kept string) {
	var damaged int64
	for _, b := range bad {
		damaged += b.n
	}
	s.log.Error().Str("segment", filepath.Base(path)).Int64("first_damaged_offset", bad[0].off).
		Int64("damaged_bytes", damaged).Int("damaged_stretches", len(bad)).Int("records_kept", good).
		Uint64("records_lost", lost).Str("copy", kept).
		Msg("spool segment damaged: kept the records whose checksums hold, the others are lost")
}

// rewrite replaces g's file with the records recs of data (its current
// bytes), through a temporary file renamed over it, and returns the new
// size. The active segment's append handle stays valid until the rename
// succeeded, so a failed rewrite leaves the spool as it was.
func (s *Spool) rewrite(g *segment, data []byte, recs []recMeta) (int64, error) {
	var size int64
	for _, r := range recs {
		size += r.n
	}
	out := make([]byte, 0, size)
	for _, r := range recs {
		out = append(out, data[r.off:r.off+r.n]...)
	}
	path := g.name(s.dir)
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	if err := renameFile(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	if len(s.segs) > 0 && g == s.segs[len(s.segs)-1] && s.active != nil {
		// The handle points at the replaced file now: appends must go to
		// the new one. If it cannot be opened, Append opens it later.
		s.active.Close()
		s.active = nil
		_ = s.openActive() // on failure Append opens it before writing
	}
	return size, syncDir(s.dir)
}

func (s *Spool) openActive() error {
	f, err := os.OpenFile(s.segs[len(s.segs)-1].name(s.dir), os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	s.active = f
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
	if n < metaLen || n > metaLen+MaxRecord {
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

// writeAck stores the ack and the highest appended seq. It is not fsynced:
// after a power loss some records may be delivered twice (never lost), and
// a damaged tail may be counted short.
func (s *Spool) writeAck() error {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s.acked)
	binary.BigEndian.PutUint64(b[8:], s.head)
	_, err := s.ack.WriteAt(b[:], 0)
	return err
}

// Append writes recs (assigning each its Seq, in order) and fsyncs them
// before it returns, so they survive a process kill and a power loss. It
// returns how many records, from the start of recs, were appended; on error
// the rest were not and may be appended again (a record over MaxRecord:
// an error wrapping ErrTooLarge, and it never will be). Then, if the spool
// is over MaxBytes, it drops records to make room (see Dropped); a drop
// that fails is logged and tried again at the next Append, never returned:
// the records were appended.
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
	if s.active == nil {
		if err := s.openActive(); err != nil {
			return 0, fmt.Errorf("append to spool: %w", err)
		}
	}
	var (
		buf  []byte
		done int // records committed
		g    = s.segs[len(s.segs)-1]
	)
	commit := func(upto int) error {
		if upto == done {
			return nil
		}
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
		s.head = s.nextSeq - 1
		s.bytes += int64(len(buf))
		buf, done = buf[:0], upto
		return nil
	}
	var tooLarge error
	for i := range recs {
		if len(recs[i].Data) > MaxRecord {
			tooLarge = fmt.Errorf("append to spool: record %d of %d bytes: %w (%d bytes)", i, len(recs[i].Data), ErrTooLarge, MaxRecord)
			recs = recs[:i]
			break
		}
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
	if err := s.writeAck(); err != nil {
		s.log.Warn().Err(err).Msg("spool: recording the highest appended sequence number failed")
	}
	if err := s.enforce(); err != nil && s.enforceLog.Allow() {
		s.log.Error().Err(err).Int64("bytes", s.bytes).Int64("max_bytes", s.opts.MaxBytes).
			Msg("spool over its bound and dropping failed; retried at the next append")
	}
	return done, tooLarge
}

// enforce drops records while the spool is over MaxBytes: first the unread
// droppable records of the oldest segment that has any, then, when no
// droppable record is left, the unread records of the oldest segment.
// Records already read (in flight) are never dropped.
func (s *Spool) enforce() error {
	for s.bytes > s.opts.MaxBytes {
		var victim *segment
		keep := func(r recMeta) bool { return r.seq < s.curNext || !r.drop }
		for _, g := range s.segs {
			if g.unreadDrop > 0 {
				victim = g
				break
			}
		}
		if victim == nil {
			keep = func(r recMeta) bool { return r.seq < s.curNext }
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

// compact rewrites g with only the good records keep accepts (damage found
// on the way is handled as Read would) and fixes the counters and the
// cursor. Nothing changes unless the rewrite succeeded.
func (s *Spool) compact(g *segment, keep func(recMeta) bool) error {
	data, err := os.ReadFile(g.name(s.dir))
	if err != nil {
		return err
	}
	recs, bad := parseSegment(data, g.first)
	if len(bad) > 0 {
		return s.repair(g, data, recs, bad)
	}
	var kept []recMeta
	for _, r := range recs {
		if keep(r) {
			kept = append(kept, r)
		}
	}
	if err := s.replace(g, data, recs, kept); err != nil {
		return err
	}
	s.dropped += uint64(len(recs) - len(kept))
	return nil
}

// replace rewrites g with kept (a subset of recs, g's good records in
// data) and fixes g's counters, the totals and the read cursor.
func (s *Spool) replace(g *segment, data []byte, recs, kept []recMeta) error {
	size, err := s.rewrite(g, data, kept)
	if err != nil {
		return err
	}
	g.size, g.unread, g.unreadDrop = size, 0, 0
	var off int64
	curOff := int64(-1)
	for _, r := range kept {
		if r.seq >= s.curNext {
			if curOff < 0 {
				curOff = off
			}
			g.unread++
			if r.drop {
				g.unreadDrop++
			}
		}
		off += r.n
	}
	if len(recs) > 0 {
		g.last = max(g.last, recs[len(recs)-1].seq)
	}
	if g == s.cur {
		s.curOff = size
		if curOff >= 0 {
			s.curOff = curOff
		}
	}
	s.recount()
	return nil
}

// repair handles damage found after Open (by Read or a drop): the segment
// is copied aside and rewritten with its good records, the unread records
// the damage held are counted in Lost and logged, and the returned error
// wraps ErrCorrupt.
func (s *Spool) repair(g *segment, data []byte, recs []recMeta, bad []stretch) error {
	path := g.name(s.dir)
	end := s.head + 1 // what follows damage at the end of g
	if i := s.index(g); i+1 < len(s.segs) {
		end = s.segs[i+1].first
	}
	var lost uint64
	prev := g.first - min(g.first, 1)
	for _, b := range bad {
		next, size := end, int64(-1)
		if b.next < len(recs) {
			next, size = recs[b.next].seq, b.n
		}
		if b.next > 0 {
			prev = recs[b.next-1].seq
		}
		lost += lostBetween(prev, next, s.curNext-1, size)
	}
	kept := s.keepAside(path, data)
	if err := s.replace(g, data, recs, recs); err != nil {
		return fmt.Errorf("repair damaged spool segment %s: %w", filepath.Base(path), err)
	}
	s.lost += lost
	s.logDamage(path, bad, len(recs), lost, kept)
	return fmt.Errorf("spool segment %s: %w at offset %d: %d records lost, the rest kept",
		filepath.Base(path), ErrCorrupt, bad[0].off, lost)
}

// Read returns up to n records after the last one read, in order, and
// moves the read cursor past them. They stay on disk until acknowledged.
// On damaged bytes it returns what it read before them and an error
// wrapping ErrCorrupt, having repaired the segment (see repair); the next
// Read goes on after the damage.
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
			if errors.Is(err, errTorn) || errors.Is(err, io.EOF) {
				f.Close()
				return out, s.repairCursor()
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

// repairCursor repairs the read cursor's segment, where Read found damage.
func (s *Spool) repairCursor() error {
	data, err := os.ReadFile(s.cur.name(s.dir))
	if err != nil {
		return fmt.Errorf("read spool: %w", err)
	}
	recs, bad := parseSegment(data, s.cur.first)
	if len(bad) == 0 { // the file changed under the reader (a rewrite): read again
		return s.replace(s.cur, data, recs, recs)
	}
	return s.repair(s.cur, data, recs, bad)
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
	if err := s.writeAck(); err != nil {
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
// and not acked. Like Unread, Bytes, Dropped and Lost it never waits for a
// write.
func (s *Spool) Pending() int { return int(s.pendingN.Load()) }

// Bytes is the size of the spool's segment files.
func (s *Spool) Bytes() int64 { return s.bytesN.Load() }

// Dropped counts records dropped to keep under MaxBytes since Open.
func (s *Spool) Dropped() uint64 { return s.droppedN.Load() }

// Lost counts undelivered records lost to damaged bytes since Open
// (found by Open, Read or a drop), each logged. It is exact when the
// damage lies between good records; at the end of the spool it relies on
// the highest appended sequence number in the ack file, which a power
// loss may leave short. Records dropped earlier for the bound and lying
// inside a damaged run count again.
func (s *Spool) Lost() uint64 { return s.lostN.Load() }

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
	s.bytes, s.unread = 0, 0
	for _, g := range s.segs {
		s.bytes += g.size
		s.unread += g.unread
	}
}
