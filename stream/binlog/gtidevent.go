package binlog

import (
	"errors"
	"fmt"
	"math"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// MySQL's GTID event body (Gtid_log_event; ANONYMOUS_GTID has the same
// layout): commit flags 1 byte, SID 16, GNO 8; since 5.7 the logical
// clock: its type code 1 byte (2), last_committed 8, sequence_number 8;
// since 8.0.1 immediate_commit_timestamp, 7 bytes little-endian,
// microseconds since the epoch, whose top bit (bit 55) says that
// original_commit_timestamp (7 more bytes) follows; then the transaction
// length and server versions, which the stream does not read.
//
// MySQL 8.3+'s GTID_TAGGED_LOG_EVENT serialises the same fields, and the
// tag, in the mysql::serialization format (variable-length integers,
// optional fields); decodeTagged reads it with go-mysql.
const (
	gtidClockOff    = 1 + 16 + 8 // the logical clock's type code
	gtidClockCode   = 2
	gtidICTOff      = gtidClockOff + 1 + 8 + 8
	gtidICTLen      = 7
	gtidOCTFollows  = 1 << 55
	gtidICTMinBody  = gtidICTOff + gtidICTLen
	gtidSIDOff      = 1
	gtidGNOOff      = 1 + 16
	gtidWithGNOBody = gtidGNOOff + 8
)

// immediateCommitUS returns the immediate_commit_timestamp of a MySQL GTID
// or ANONYMOUS_GTID event body (without header and checksum), in
// microseconds since the epoch: the commit time on the server that wrote
// this binlog. 0 when the event has none (MySQL before 8.0.1, or a body
// too short). It reads 8 bytes in place and never allocates: it runs on
// every transaction.
func immediateCommitUS(body []byte) int64 {
	if len(body) < gtidICTMinBody || body[gtidClockOff] != gtidClockCode {
		return 0
	}
	b := body[gtidICTOff : gtidICTOff+gtidICTLen]
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48
	return int64(v &^ gtidOCTFollows)
}

// taggedMinBody is the shortest tagged GTID body go-mysql's decoder is
// given: its serialization.Unmarshal indexes the message's first two bytes
// (version, size) and the last-non-ignorable-field byte without checking.
const taggedMinBody = 3

var (
	// errTaggedShort: a tagged GTID body too short to hold its header.
	errTaggedShort = errors.New("tagged GTID event too short")
	// errTaggedTruncated: a tagged GTID body that ends before its
	// immediate_commit_timestamp. go-mysql reads a missing field as absent,
	// not as an error, so a body cut before the tag would otherwise read as
	// the untagged uuid:gno: another transaction.
	errTaggedTruncated = errors.New("tagged GTID event truncated: no immediate_commit_timestamp")
)

// decodeTagged reads a MySQL GTID_TAGGED_LOG_EVENT body (without header
// and checksum) with go-mysql's GtidTaggedLogEvent.Decode: the GTID, with
// its tag, and the immediate_commit_timestamp in microseconds since the
// epoch (0 when the event has none). Unlike immediateCommitUS it allocates
// (the decoder builds a message of fields): tagged GTIDs are rare, written
// only when an application sets a tagged gtid_next, so one decode per
// tagged transaction is cheap. go-mysql v1.16.0 panics on some malformed
// bodies (a commit_group_ticket field, which it has no type for; a body
// under 3 bytes), so a panic is turned into an error: a bad event must
// never stop the stream.
func decodeTagged(body []byte) (g stream.GTID, commitUS int64, err error) {
	if len(body) < taggedMinBody {
		return stream.GTID{}, 0, errTaggedShort
	}
	defer func() {
		if r := recover(); r != nil {
			g, commitUS, err = stream.GTID{}, 0, fmt.Errorf("tagged GTID event: decoder panic: %v", r)
		}
	}()
	var ev replication.GtidTaggedLogEvent
	if err := ev.Decode(body); err != nil {
		return stream.GTID{}, 0, fmt.Errorf("tagged GTID event: %w", err)
	}
	if ev.ImmediateCommitTimestamp == 0 {
		// A mandatory field, after the GNO and the tag: without it the
		// ones before it cannot be trusted to be whole.
		return stream.GTID{}, 0, errTaggedTruncated
	}
	return taggedGTID(&ev), taggedCommitUS(&ev), nil
}

// taggedGTID is the event's GTID, or none when a field it needs was
// absent (the decoder marks a missing field skipped and leaves it zero).
func taggedGTID(ev *replication.GtidTaggedLogEvent) stream.GTID {
	if len(ev.SID) != 16 || ev.GNO <= 0 {
		return stream.GTID{}
	}
	g := stream.GTID{Kind: stream.GTIDMySQL, Seq: uint64(ev.GNO), Tag: ev.Tag.String()}
	copy(g.SID[:], ev.SID)
	return g
}

// taggedCommitUS is the immediate_commit_timestamp, 0 when absent or
// beyond what a time can hold.
func taggedCommitUS(ev *replication.GtidTaggedLogEvent) int64 {
	if ev.ImmediateCommitTimestamp > math.MaxInt64 {
		return 0
	}
	return int64(ev.ImmediateCommitTimestamp)
}
