// Package spool is the publisher's on-disk queue: an append-only, crash-safe
// FIFO of opaque records in one directory, so that events survive a NATS
// outage and a sidecar restart.
//
// Records go to segment files (named by their first sequence number) as
// [length][CRC-32C][seq, flags, data]. Append fsyncs before it returns; a
// record torn by a crash fails its length or CRC check and is cut off when
// the spool is opened again. A record damaged later (found by Read, e.g. a
// bad disk block) cannot be read past: Read skips the rest of its segment,
// counts those records in Dropped and returns an error wrapping ErrCorrupt
// (the reader logs it and reads on). Read hands records out in order and Ack
// records (in the small "ack" file) the highest sequence number delivered;
// segments whose records are all delivered are deleted. After a restart,
// everything after the last ack is read again, so delivery is at least once
// and the reader must tolerate duplicates (the publisher sends each record's
// event id as Nats-Msg-Id, so JetStream drops them).
//
// The spool is bounded by Options.MaxBytes. Over the bound it drops unread
// records a segment at a time: first the droppable ones (stream.stats) of
// the oldest segment holding any, and only when none is left, the oldest
// unread records of any kind. Records already read (in flight) are never
// dropped. Dropped counts what was dropped.
package spool
