// Package spool is the publisher's on-disk queue: an append-only, crash-safe
// FIFO of opaque records in one directory, so that events survive a NATS
// outage and a sidecar restart.
//
// Records go to segment files (named by their first sequence number) as
// [length][CRC-32C][seq, flags, data]. Append fsyncs before it returns and
// refuses a record over MaxRecord. A write torn by a crash (never
// committed) is cut off when the spool is opened again.
//
// Damage is never silent and never takes more than it must. Bytes that are
// not a good record (a flipped bit, a zeroed block, a length past the
// record limit, a file cut short), found by Open, Read or a drop, are
// handled the same way: the segment is copied aside as <segment>.damaged
// (at most four copies are kept), the scan resyncs at the next offset whose
// record has a plausible length, a matching CRC and a higher sequence
// number, the segment is rewritten with every good record, and the
// undelivered records the damage held are counted (Lost: the sequence
// numbers missing between the good records around it, or up to the highest
// appended one for damage at the end) and logged. Read returns an error
// wrapping ErrCorrupt for damage it found; the reader logs it and reads on.
//
// Read hands records out in order and Ack records (in the small "ack" file,
// with the highest sequence number appended) the highest one delivered;
// segments whose records are all delivered are deleted. After a restart,
// everything after the last ack is read again, so delivery is at least once
// and the reader must tolerate duplicates (the publisher sends each record's
// event id as Nats-Msg-Id, so JetStream drops them). An ack above the
// highest sequence number appended is damage: it is logged and reset so
// that everything on disk is delivered again, never counted as delivered.
//
// The spool is bounded by Options.MaxBytes. Over the bound it drops unread
// records a segment at a time: first the droppable ones (stream.stats) of
// the oldest segment holding any, and only when none is left, the oldest
// unread records of any kind. Records already read (in flight) are never
// dropped. Dropped counts what was dropped. A drop whose rewrite fails
// changes nothing, is logged, and is tried again at the next Append.
package spool
