package binlog

// MySQL's GTID event body (Gtid_log_event; ANONYMOUS_GTID has the same
// layout): commit flags 1 byte, SID 16, GNO 8; since 5.7 the logical
// clock: its type code 1 byte (2), last_committed 8, sequence_number 8;
// since 8.0.1 immediate_commit_timestamp, 7 bytes little-endian,
// microseconds since the epoch, whose top bit (bit 55) says that
// original_commit_timestamp (7 more bytes) follows; then the transaction
// length and server versions, which the stream does not read.
//
// MySQL 8.4's GTID_TAGGED_LOG_EVENT serialises the same fields with
// variable-length integers; it is not read here (lag then falls back to
// the binlog timestamps, see stream.Meter).
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
