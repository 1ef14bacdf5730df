package binlog

import (
	"encoding/binary"
	"errors"

	"github.com/binlog-sidecar/binlog-sidecar/mysqlserver"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// This file decodes the few parts of raw binlog events the meter needs. It
// imports nothing from go-mysql: the adapter reads the dump itself
// (reader.go) and hands the bytes here, which costs a fraction of go-mysql's
// full decoding (see translate_bench_test.go).

// headerLen is the v4 event header: timestamp(4) type(1) server_id(4)
// event_size(4) log_pos(4) flags(2).
const headerLen = 19

// checksumLen is the CRC32 trailer of each event when binlog_checksum=CRC32.
const checksumLen = 4

// Header flags (log_event.h).
const flagArtificial = 0x0020

// Event type codes (MySQL binlog_event.h, MariaDB log_event.h).
const (
	evQuery             = 2
	evStop              = 3
	evRotate            = 4
	evFormatDescription = 15
	evXID               = 16
	evTableMap          = 19
	evWriteRowsV0       = 20
	evUpdateRowsV0      = 21
	evDeleteRowsV0      = 22
	evWriteRowsV1       = 23
	evUpdateRowsV1      = 24
	evDeleteRowsV1      = 25
	evHeartbeat         = 27
	evWriteRowsV2       = 30
	evUpdateRowsV2      = 31
	evDeleteRowsV2      = 32
	evGTID              = 33
	evAnonymousGTID     = 34
	evXAPrepare         = 38
	evPartialUpdateRows = 39
	evTransactionPay    = 40
	evHeartbeatV2       = 41
	evGTIDTagged        = 42

	evMariaAnnotateRows    = 160
	evMariaGTID            = 162
	evMariaQueryCompressed = 165
	evMariaWriteRowsCV1    = 166
	evMariaUpdateRowsCV1   = 167
	evMariaDeleteRowsCV1   = 168
	evMariaWriteRowsC      = 169
	evMariaUpdateRowsC     = 170
	evMariaDeleteRowsC     = 171
)

// MariaDB GTID event flags.
const mariaGTIDStandalone = 0x01

// metricType maps a binlog event type code to the meter's label.
var metricType = func() (m [256]stream.EventType) {
	for i := range m {
		m[i] = stream.EventOther
	}
	for _, c := range []byte{evWriteRowsV0, evWriteRowsV1, evWriteRowsV2, evMariaWriteRowsCV1, evMariaWriteRowsC} {
		m[c] = stream.EventWriteRows
	}
	for _, c := range []byte{evUpdateRowsV0, evUpdateRowsV1, evUpdateRowsV2, evPartialUpdateRows, evMariaUpdateRowsCV1, evMariaUpdateRowsC} {
		m[c] = stream.EventUpdateRows
	}
	for _, c := range []byte{evDeleteRowsV0, evDeleteRowsV1, evDeleteRowsV2, evMariaDeleteRowsCV1, evMariaDeleteRowsC} {
		m[c] = stream.EventDeleteRows
	}
	m[evTableMap] = stream.EventTableMap
	m[evQuery] = stream.EventQuery
	m[evMariaQueryCompressed] = stream.EventQuery
	m[evXID] = stream.EventXID
	m[evGTID] = stream.EventGTID
	m[evAnonymousGTID] = stream.EventGTID
	m[evGTIDTagged] = stream.EventGTID
	m[evMariaGTID] = stream.EventGTID
	m[evRotate] = stream.EventRotate
	m[evFormatDescription] = stream.EventFormatDescription
	m[evMariaAnnotateRows] = stream.EventAnnotateRows
	m[evHeartbeat] = stream.EventHeartbeat
	m[evHeartbeatV2] = stream.EventHeartbeat
	return m
}()

// rowsKind describes a rows event type: which operation, whether it has a
// second (after) image, a v2 extra-data header, or a zlib-compressed body.
type rowsKind struct {
	op         byte // 0 not a rows event, 'i', 'u', 'd'
	update     bool
	v2         bool
	v0         bool
	compressed bool
	partial    bool
}

var rowsKinds = func() (k [256]rowsKind) {
	k[evWriteRowsV0] = rowsKind{op: 'i', v0: true}
	k[evUpdateRowsV0] = rowsKind{op: 'u', v0: true, update: true}
	k[evDeleteRowsV0] = rowsKind{op: 'd', v0: true}
	k[evWriteRowsV1] = rowsKind{op: 'i'}
	k[evUpdateRowsV1] = rowsKind{op: 'u', update: true}
	k[evDeleteRowsV1] = rowsKind{op: 'd'}
	k[evWriteRowsV2] = rowsKind{op: 'i', v2: true}
	k[evUpdateRowsV2] = rowsKind{op: 'u', update: true, v2: true}
	k[evDeleteRowsV2] = rowsKind{op: 'd', v2: true}
	k[evPartialUpdateRows] = rowsKind{op: 'u', update: true, v2: true, partial: true}
	k[evMariaWriteRowsCV1] = rowsKind{op: 'i', compressed: true}
	k[evMariaUpdateRowsCV1] = rowsKind{op: 'u', update: true, compressed: true}
	k[evMariaDeleteRowsCV1] = rowsKind{op: 'd', compressed: true}
	k[evMariaWriteRowsC] = rowsKind{op: 'i', v2: true, compressed: true}
	k[evMariaUpdateRowsC] = rowsKind{op: 'u', update: true, v2: true, compressed: true}
	k[evMariaDeleteRowsC] = rowsKind{op: 'd', v2: true, compressed: true}
	return k
}()

// header is a decoded v4 event header.
type header struct {
	timestamp uint32
	typ       byte
	serverID  uint32
	size      uint32
	logPos    uint32
	flags     uint16
}

var errShortEvent = errors.New("event shorter than its header")

func decodeHeader(raw []byte) (header, error) {
	if len(raw) < headerLen {
		return header{}, errShortEvent
	}
	return header{
		timestamp: binary.LittleEndian.Uint32(raw[0:]),
		typ:       raw[4],
		serverID:  binary.LittleEndian.Uint32(raw[5:]),
		size:      binary.LittleEndian.Uint32(raw[9:]),
		logPos:    binary.LittleEndian.Uint32(raw[13:]),
		flags:     binary.LittleEndian.Uint16(raw[17:]),
	}, nil
}

// formatDesc is what the format description event tells about the events
// after it.
type formatDesc struct {
	checksum   int // bytes of checksum trailer per event: 0 or 4
	postHeader []byte
}

// postHeaderLen returns the post-header length of an event type, or def
// when the format description does not list it.
func (f *formatDesc) postHeaderLen(typ byte, def int) int {
	if int(typ) >= 1 && int(typ) <= len(f.postHeader) {
		return int(f.postHeader[typ-1])
	}
	return def
}

// tableIDSize is 4 on servers older than 5.1.4 whose rows and table-map
// post-headers are 6 bytes, else 6.
func (f *formatDesc) tableIDSize(typ byte) int {
	if f.postHeaderLen(typ, 8) == 6 {
		return 4
	}
	return 6
}

// Checksums exist from MySQL 5.6.1 and MariaDB 5.3.0; an FDE from such a
// server ends with the checksum algorithm (1 byte) and a 4-byte checksum.
var (
	checksumSinceMySQL   = mysqlserver.Version{5, 6, 1}
	checksumSinceMariaDB = mysqlserver.Version{5, 3, 0}
)

const (
	fdeServerVersionLen = 50
	fdeFixedLen         = 2 + fdeServerVersionLen + 4 + 1 // version, server version, create ts, header len
	checksumAlgCRC32    = 1
)

// decodeFormatDescription reads an FDE body (after the header, including
// any checksum trailer).
func decodeFormatDescription(body []byte) (formatDesc, error) {
	if len(body) < fdeFixedLen {
		return formatDesc{}, errors.New("format description event too short")
	}
	sv := body[2 : 2+fdeServerVersionLen]
	if i := indexByte(sv, 0); i >= 0 {
		sv = sv[:i]
	}
	version := string(sv)
	since := checksumSinceMySQL
	if mysqlserver.Flavor(version, "") == mysqlserver.FlavorMariaDB {
		since = checksumSinceMariaDB
	}
	ph := body[fdeFixedLen:]
	f := formatDesc{}
	if mysqlserver.VersionAtLeast(version, since) {
		if len(ph) < 5 {
			return formatDesc{}, errors.New("format description event too short for its checksum")
		}
		if ph[len(ph)-5] == checksumAlgCRC32 {
			f.checksum = checksumLen
		}
		ph = ph[:len(ph)-5]
	}
	f.postHeader = append([]byte(nil), ph...)
	return f, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// lenencInt reads a length-encoded integer; n is 0 when b is too short.
func lenencInt(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1
	case c == 0xfc:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8, 3
	case c == 0xfd:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case c == 0xfe:
		if len(b) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(b[1:]), 9
	}
	return 0, 0 // 0xfb (NULL) and 0xff are not valid here
}

// leUint reads an n-byte little-endian unsigned integer (n <= 8).
func leUint(b []byte, n int) uint64 {
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// queryKind classifies a QUERY event's statement by what it does to the
// transaction boundaries.
type queryKind uint8

const (
	queryOther    queryKind = iota // DDL, or a statement inside a transaction
	queryBegin                     // BEGIN, XA START
	queryCommit                    // COMMIT, ROLLBACK (not TO SAVEPOINT), XA PREPARE/COMMIT/ROLLBACK
	queryXAIgnore                  // XA END: inside a transaction, changes nothing
)

// queryPostHeaderLen is the QUERY post-header on every 5.0+ server:
// thread_id(4) exec_time(4) db_len(1) error_code(2) status_vars_len(2).
const queryPostHeaderLen = 13

// queryText returns the statement of a QUERY event body (checksum removed).
func queryText(body []byte, postHeader int) ([]byte, error) {
	if postHeader < queryPostHeaderLen || len(body) < postHeader {
		return nil, errors.New("query event too short")
	}
	dbLen := int(body[8])
	statusLen := int(binary.LittleEndian.Uint16(body[11:]))
	p := postHeader + statusLen + dbLen + 1
	if p > len(body) {
		return nil, errors.New("query event too short for its status and schema")
	}
	return body[p:], nil
}

func classifyQuery(q []byte) queryKind {
	for len(q) > 0 && (q[0] == ' ' || q[0] == '\t' || q[0] == '\n' || q[0] == '\r') {
		q = q[1:]
	}
	switch {
	case hasWord(q, "BEGIN"):
		return queryBegin
	case hasWord(q, "COMMIT"):
		return queryCommit
	case hasWord(q, "ROLLBACK"):
		rest := q[len("ROLLBACK"):]
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if hasWord(rest, "TO") {
			return queryOther // ROLLBACK TO SAVEPOINT stays in the transaction
		}
		return queryCommit
	case hasWord(q, "XA"):
		rest := q[2:]
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		switch {
		case hasWord(rest, "START"), hasWord(rest, "BEGIN"):
			return queryBegin
		case hasWord(rest, "END"):
			return queryXAIgnore
		case hasWord(rest, "PREPARE"), hasWord(rest, "COMMIT"), hasWord(rest, "ROLLBACK"):
			return queryCommit
		}
	}
	return queryOther
}

// hasWord reports whether q starts with the upper-case word w, case
// insensitively, followed by a non-letter or the end.
func hasWord(q []byte, w string) bool {
	if len(q) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if q[i]&^0x20 != w[i] {
			return false
		}
	}
	if len(q) == len(w) {
		return true
	}
	c := q[len(w)]
	return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_')
}
