package binlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/internal/lograte"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// errStopReached ends a stream that reached Config.StopAt.
var errStopReached = errors.New("stop position reached")

var errRotateShort = errors.New("rotate event too short")

// Liveness inside an open transaction: the meter hears of a transaction's
// events only at its end, so one huge or slowly arriving transaction would
// look like a stall. Every touchCheckCost units of work (an event is 1 unit
// plus 1 per 4 KiB, so a run of 1 MiB blobs checks at every event) the
// translator reads the monotonic clock and touches the meter when
// touchInterval (or a quarter heartbeat, if shorter) has passed since the
// last touch. The clock is read at most once per 16 small events, and
// nothing allocates.
const (
	touchCheckCost = 16
	touchInterval  = 100 * time.Millisecond
)

// taggedLogEvery is how often an undecodable tagged GTID event may be
// logged.
const taggedLogEvery = time.Minute

// monoBase anchors monotonicNow.
var monoBase = time.Now()

// monotonicNow is a monotonic clock reading (time.Since uses the
// monotonic clock).
func monotonicNow() time.Duration { return time.Since(monoBase) }

// maxCachedTables bounds the table-map cache; table ids only grow on a
// server, so a long-lived stream would otherwise keep every id it saw.
const maxCachedTables = 4096

// groupState is where the stream is relative to transaction boundaries.
type groupState uint8

const (
	// outside any event group: each event stands alone.
	outside groupState = iota
	// opened by a GTID event; the next statement decides whether it is a
	// transaction (BEGIN, or row events) or a single statement (DDL).
	awaiting
	// inside a transaction, until XID or COMMIT/ROLLBACK.
	inTxn
)

// translator turns raw binlog events into meter figures. It decodes only
// what it needs (see events.go, gtidevent.go, tablemap.go, rows.go) and hands the meter
// one Batch per transaction, so a transaction cut short by a disconnect is
// dropped and never counted twice; resuming at the last committed position
// then replays it whole.
//
// It is driven by one goroutine at a time: the Source's, which reads the
// dump (reader.go) and hands it each event in place.
type translator struct {
	meter  *stream.Meter
	log    zerolog.Logger
	stopAt *stream.Position
	// onCommit is Config.OnCommit.
	onCommit func(stream.GTID)
	// onCanary is Config.OnCanary.
	onCanary func(seq uint64, writtenUS int64)

	// onFirstEvent runs at the first event of a session.
	onFirstEvent func()
	started      bool

	fd     formatDesc
	tables map[uint64]*tableInfo
	walker rowWalker
	last   *tableInfo // the most recent table map, nearly always the next rows event's
	lastID uint64

	batch stream.Batch
	group groupState

	// Liveness inside a transaction (touchCheckCost): work done since the
	// last clock check, the clock, the clock at the last touch, and the
	// interval between touches.
	touchCost     uint32
	clock         func() time.Duration
	lastTouch     time.Duration
	touchInterval time.Duration

	// file:pos is the position after the last event received; committed is
	// after the last complete transaction or event outside one, where a
	// new session resumes.
	file      string
	pos       uint32
	committed stream.Position
	// progressed is set when committed moved during the session.
	progressed bool
	// preamble is set while a dump started from a GTID set has not yet
	// reached its first transaction. The server first sends the start
	// file's opening events (FDE, GTID list, checkpoints), then skips the
	// transactions the set already has: if it skipped any, those opening
	// events lie before the start point and are not counted.
	preamble bool

	// received counts events and heartbeats, for the Source's watchdog.
	received atomic.Uint64

	// warned holds the warnings logged this session. A malformed event is
	// logged and skipped, never returned as an error: the reconnect would
	// resume before it and fail on it again, forever.
	warned map[string]bool
	// taggedLog rate-limits the warning for tagged GTID events that do not
	// decode (taggedGTID).
	taggedLog lograte.Limiter
}

func newTranslator(meter *stream.Meter, log zerolog.Logger, stopAt *stream.Position) *translator {
	return &translator{
		meter:     meter,
		log:       log,
		stopAt:    stopAt,
		tables:    make(map[uint64]*tableInfo),
		warned:    make(map[string]bool),
		taggedLog: lograte.Limiter{Every: taggedLogEvery},
		fd:        formatDesc{checksum: checksumLen}, // until the FDE says otherwise

		clock:         monotonicNow,
		touchInterval: touchInterval,
	}
}

// startSession prepares for a new dump from pos (File empty when starting
// from a GTID set): the partial transaction of the previous session is
// dropped, and the format comes anew with the dump's first events.
func (t *translator) startSession(pos stream.Position) {
	t.preamble = pos.File == ""
	t.batch.Reset()
	t.group = outside
	t.started = false
	t.progressed = false
	clear(t.warned)
	t.file, t.pos = pos.File, pos.Pos
	t.committed = stream.Position{File: pos.File, Pos: pos.Pos}
	t.last = nil
}

// handle processes one event as received: header, body and checksum. What
// runs on every event is written here; the rare branches (control events,
// the preamble, the liveness touch) and the per-type work are steps of
// their own.
func (t *translator) handle(raw []byte) error {
	h, err := decodeHeader(raw)
	if err != nil {
		return err
	}
	t.received.Add(1)
	if !t.started {
		t.firstEvent()
	}
	if isControl[h.typ] || h.flags&flagArtificial != 0 {
		if done, err := t.control(raw, h); done {
			return err
		}
	}
	// A real event: it is in the binlog and counts. Its position and
	// figures are written out here, not as steps of their own: as
	// inlined calls they cost 8% of BenchmarkTranslate.
	if t.preamble && h.logPos != 0 {
		t.preambleAt(h)
	}
	if h.logPos != 0 {
		t.pos = h.logPos
	} else {
		t.pos += h.size
	}
	b := &t.batch
	b.Events[metricType[h.typ]]++
	b.Bytes += uint64(h.size)
	if h.timestamp != 0 {
		b.EventTime = h.timestamp
	}
	end := len(raw) - t.fd.checksum
	if end < headerLen {
		end = headerLen
	}
	body := raw[headerLen:end]
	endsGroup := false
	switch h.typ {
	case evMariaGTID:
		t.mariaGTID(body, h)
	case evGTID, evAnonymousGTID:
		t.mysqlGTID(body, h)
	case evGTIDTagged:
		t.taggedGTID(body)
	case evQuery, evMariaQueryCompressed:
		endsGroup = t.queryEvent(body, h)
	case evXID, evXAPrepare, evTransactionPay:
		// A MySQL compressed transaction payload holds the whole
		// transaction; its rows are not counted (see doc.go).
		endsGroup = true
	case evTableMap:
		// Inline, not a step of its own: one table map per table per
		// transaction, and the call costs 2% of the benchmark.
		t.implicitTxn()
		if ti, err := t.tableMap(body); err != nil {
			t.warn("table map event not decoded; rows of its table are not counted", err)
		} else {
			t.batch.AddTable(ti.schema, ti.table, uint64(h.size), 0)
		}
	case evStop:
		// A server restart left this file without a ROTATE; the next
		// file follows after an artificial ROTATE.
	default:
		if k := rowsKinds[h.typ]; k.op != 0 {
			t.implicitTxn()
			t.rows(body, h, k)
		}
	}
	switch {
	case t.preamble:
		return nil // held until the first transaction shows where the dump starts
	case t.group != outside && !endsGroup:
		t.touchInGroup(h) // the batch goes on
		return nil
	}
	return t.commit(endsGroup)
}

// firstEvent runs onFirstEvent at a session's first event.
func (t *translator) firstEvent() {
	t.started = true
	if t.onFirstEvent != nil {
		t.onFirstEvent()
	}
}

// isControl marks the event types control handles whatever their flags.
var isControl = [256]bool{evHeartbeat: true, evHeartbeatV2: true, evRotate: true, evFormatDescription: true}

// control handles the events that are not a binlog event at the stream's
// position: heartbeats, ROTATEs, an FDE resent at a dump's start, and the
// events a server makes up for the dump (MariaDB's artificial GTID list of
// a GTID dump carries the start point). done reports that the event is
// fully handled, with err the result.
func (t *translator) control(raw []byte, h header) (done bool, err error) {
	switch h.typ {
	case evHeartbeat, evHeartbeatV2:
		t.heartbeat(raw, h)
		return true, nil
	case evRotate:
		return true, t.rotate(raw, h)
	case evFormatDescription:
		if fd, err := decodeFormatDescription(raw[headerLen:]); err != nil {
			t.warn("format description event not decoded; keeping the previous format", err)
		} else {
			t.fd = fd
		}
		if h.logPos == 0 {
			// Re-sent at the start of a dump that begins past the
			// file's own FDE: not in the binlog at this position.
			return true, nil
		}
	}
	if h.flags&flagArtificial != 0 {
		if t.preamble && h.logPos != 0 {
			t.endPreamble(h.logPos)
		}
		return true, nil
	}
	return false, nil
}

// preambleAt sees a real event in the preamble: a GTID event is the
// dump's first transaction; any event that does not follow the last one
// means the server skipped transactions in between.
func (t *translator) preambleAt(h header) {
	switch start := h.logPos - h.size; {
	case isGTIDEvent(h.typ):
		t.endPreamble(start) // the server never sends a transaction the set has
	case start != t.pos:
		t.skipTo(start) // it skipped transactions; what came before is before the start
	}
}

// queryEvent applies a statement to the event group and reports whether
// it ends the group.
func (t *translator) queryEvent(body []byte, h header) bool {
	if h.typ == evMariaQueryCompressed {
		return t.query(queryOther) // only long statements are compressed; never BEGIN or COMMIT
	}
	q, err := queryText(body, t.fd.postHeaderLen(evQuery, queryPostHeaderLen))
	if err != nil {
		t.warn("query event not decoded; taken as a statement of its own", err)
	}
	return t.query(classifyQuery(q))
}

// mariaGTID opens a MariaDB event group: a transaction unless the GTID
// says it is a standalone statement.
func (t *translator) mariaGTID(body []byte, h header) {
	t.openGroup()
	if len(body) < 13 {
		return
	}
	t.batch.GTID = stream.GTID{
		Kind:   stream.GTIDMariaDB,
		Seq:    binary.LittleEndian.Uint64(body),
		Domain: binary.LittleEndian.Uint32(body[8:]),
		Server: h.serverID,
	}
	if body[12]&mariaGTIDStandalone == 0 {
		t.group = inTxn // MariaDB sends no BEGIN after a GTID
	}
}

// mysqlGTID opens a MySQL event group and takes its GTID and commit
// timestamp (gtidevent.go).
func (t *translator) mysqlGTID(body []byte, h header) {
	t.openGroup()
	b := &t.batch
	if h.typ == evGTID && len(body) >= gtidWithGNOBody {
		b.GTID = stream.GTID{Kind: stream.GTIDMySQL, Seq: binary.LittleEndian.Uint64(body[gtidGNOOff:])}
		copy(b.GTID.SID[:], body[gtidSIDOff:gtidGNOOff])
	}
	b.CommitTimeUS = immediateCommitUS(body)
}

// taggedGTID opens a MySQL event group at a tagged GTID (MySQL 8.3+) and
// takes its GTID, tag included, and commit timestamp (gtidevent.go). An
// event that does not decode opens the group all the same, without a GTID
// or commit time (lag then follows the binlog timestamps), and is logged
// at most once per taggedLogEvery, across sessions: a server writing many
// such events must not flood the log, nor stop the stream.
func (t *translator) taggedGTID(body []byte) {
	t.openGroup()
	b := &t.batch
	g, us, err := decodeTagged(body)
	b.GTID, b.CommitTimeUS = g, us
	if err != nil && t.taggedLog.Allow() {
		t.log.Warn().Err(err).Str("file", t.file).Uint32("pos", t.pos).
			Msg("tagged GTID event not decoded; its transaction has no GTID or commit time")
	}
}

// touchInGroup keeps a long transaction from looking like a stall: see
// touchCheckCost.
func (t *translator) touchInGroup(h header) {
	if t.touchCost += 1 + h.size>>12; t.touchCost >= touchCheckCost {
		t.touchIfDue()
	}
}

func (t *translator) touchIfDue() {
	t.touchCost = 0
	if now := t.clock(); now-t.lastTouch >= t.touchInterval {
		t.lastTouch = now
		t.meter.Touch()
	}
}

// warn logs a decoding problem once per session.
func (t *translator) warn(msg string, err error) {
	if t.warned[msg] {
		return
	}
	t.warned[msg] = true
	t.log.Warn().Err(err).Str("file", t.file).Uint32("pos", t.pos).Msg(msg)
}

func isGTIDEvent(typ byte) bool {
	return typ == evMariaGTID || typ == evGTID || typ == evAnonymousGTID || typ == evGTIDTagged
}

// endPreamble decides, when a GTID-started dump reaches its start point
// (its first transaction, MariaDB's artificial GTID list that marks the
// end of the skipping, or a heartbeat when the server had nothing after the
// set), whether the events held so far count: yes if the start point
// follows them directly, no if the server skipped transactions in between.
func (t *translator) endPreamble(start uint32) {
	t.preamble = false
	if start == t.pos && !t.batch.Empty() {
		_ = t.commit(false) // a stop position cannot lie inside the preamble
		return
	}
	t.skipTo(start)
	t.committed = stream.Position{File: t.file, Pos: t.pos}
	t.meter.SetPosition(t.committed)
}

// skipTo drops the events held in the preamble: the server skipped
// transactions after them, so they lie before the dump's start point.
func (t *translator) skipTo(start uint32) {
	t.batch.Reset()
	t.group = outside
	t.pos = start
}

// openGroup starts an event group at a GTID event. A server never leaves a
// group open before the next GTID (a crash-truncated one ends at the file's
// end, where the rotation commits it), so nothing is pending here.
func (t *translator) openGroup() {
	t.group = awaiting
}

// implicitTxn opens a transaction for row events seen outside one.
func (t *translator) implicitTxn() {
	t.group = inTxn
}

// query applies a statement to the group state and reports whether it
// ends the group.
func (t *translator) query(k queryKind) bool {
	switch k {
	case queryBegin:
		t.group = inTxn
		return false
	case queryCommit:
		return true
	case queryXAIgnore:
		return false
	}
	// Any other statement: part of an open transaction, else a group of
	// its own (DDL after a GTID, or a statement without GTIDs).
	return t.group != inTxn
}

func (t *translator) tableMap(body []byte) (*tableInfo, error) {
	idSize := t.fd.tableIDSize(evTableMap)
	if len(body) < idSize {
		return nil, errTableMapShort
	}
	id := leUint(body, idSize)
	ti := t.tables[id]
	if ti != nil && ti.matches(body) {
		t.last, t.lastID = ti, id
		return ti, nil
	}
	if ti == nil {
		if len(t.tables) >= maxCachedTables {
			clear(t.tables)
		}
		ti = &tableInfo{}
		t.tables[id] = ti
	}
	if _, err := ti.parse(body, idSize); err != nil {
		delete(t.tables, id)
		return nil, err
	}
	t.last, t.lastID = ti, id
	return ti, nil
}

func (t *translator) rows(body []byte, h header, k rowsKind) {
	ev, err := decodeRowsEvent(body, k, t.fd.tableIDSize(h.typ))
	if err != nil {
		t.warn("rows event not decoded; its rows are not counted", err)
		return
	}
	ti := t.last
	if ti == nil || t.lastID != ev.tableID {
		ti = t.tables[ev.tableID]
	}
	if ti == nil {
		t.warn("rows event without its table map; its rows are not counted", fmt.Errorf("table id %d", ev.tableID))
		return
	}
	n, err := t.walker.count(ev, ti, k)
	if err != nil && !ti.warned {
		ti.warned = true
		t.log.Warn().Err(err).Str("schema", ti.schema).Str("table", ti.table).
			Msg("rows of this table cannot be counted exactly")
	}
	b := &t.batch
	switch k.op {
	case 'i':
		b.Rows.Insert += uint64(n)
	case 'u':
		b.Rows.Update += uint64(n)
	case 'd':
		b.Rows.Delete += uint64(n)
	}
	b.AddTable(ti.schema, ti.table, uint64(h.size), uint64(n))
	if ti.canary && k.op != 'd' && t.onCanary != nil {
		if seq, us, ok := t.walker.canaryRow(ev, ti, k); ok {
			t.onCanary(seq, us)
		}
	}
}

// rotate handles real ROTATE events (the last event of a file) and the
// artificial ones a server sends at the start of a dump and when it moves
// on to a file the previous one did not rotate to (after a restart).
func (t *translator) rotate(raw []byte, h header) error {
	artificial := h.flags&flagArtificial != 0 || h.timestamp == 0
	body := raw[headerLen:]
	switch {
	case !artificial:
		body = body[:max(len(body)-t.fd.checksum, 0)]
	case hasChecksum(raw):
		// Artificial ROTATEs come with or without a checksum (MariaDB
		// sends the first of a dump without, later ones with), so the
		// trailer is recognised by verifying it.
		body = body[:len(body)-checksumLen]
	}
	if len(body) < 8 {
		t.warn("rotate event too short; ignored", errRotateShort)
		return nil
	}
	next := body[8:]
	pos := uint32(binary.LittleEndian.Uint64(body))
	changed := t.file != "" && string(next) != t.file
	if !artificial {
		t.batch.Events[stream.EventRotate]++
		t.batch.Bytes += uint64(h.size)
		t.batch.EventTime = h.timestamp
	}
	if changed {
		t.batch.Rotations++
	}
	if string(next) != t.file {
		t.file = string(next)
	}
	t.pos = pos
	if t.preamble {
		return nil
	}
	if artificial && !changed {
		// A dump starting where we asked: nothing to commit, but the
		// position is now known (it was not, for a GTID start).
		t.committed = stream.Position{File: t.file, Pos: t.pos}
		t.meter.SetPosition(t.committed)
		return nil
	}
	return t.commit(false)
}

// hasChecksum reports whether the event ends with a valid CRC32 of the rest.
func hasChecksum(raw []byte) bool {
	if len(raw) < headerLen+checksumLen {
		return false
	}
	n := len(raw) - checksumLen
	return crc32.ChecksumIEEE(raw[:n]) == binary.LittleEndian.Uint32(raw[n:])
}

// heartbeat reports a heartbeat: liveness only, never bytes. Its log_pos
// and file name are the dump thread's coordinates, so a heartbeat at the
// committed position means the stream has everything.
func (t *translator) heartbeat(raw []byte, h header) {
	file := ""
	if h.typ == evHeartbeat && t.file != "" {
		name := raw[headerLen:]
		if len(name) >= len(t.file) && string(name[:len(t.file)]) == t.file &&
			(len(name) == len(t.file) || len(name) == len(t.file)+checksumLen) {
			file = t.file
		}
	}
	if t.preamble && file != "" && h.logPos != 0 {
		t.endPreamble(h.logPos)
	}
	t.meter.Heartbeat(file, h.logPos)
}

// commit hands the batch to the meter and moves the resume position.
func (t *translator) commit(tx bool) error {
	b := &t.batch
	b.Transaction = tx
	b.File, b.Pos = t.file, t.pos
	t.meter.Commit(b)
	if tx && t.onCommit != nil {
		t.onCommit(b.GTID)
	}
	b.Reset()
	t.group = outside
	t.committed = stream.Position{File: t.file, Pos: t.pos}
	t.progressed = true
	if t.stopAt != nil && t.committed.Compare(*t.stopAt) >= 0 {
		return errStopReached
	}
	return nil
}
