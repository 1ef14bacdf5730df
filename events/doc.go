// Package events turns health transitions, stream figures and lifecycle
// steps into CloudEvents and delivers them to NATS without ever blocking
// the sidecar and without losing them.
//
// # Wire format
//
// Each event is CloudEvents 1.0 in structured JSON mode (see the Example
// functions for every type, byte for byte): specversion "1.0"; id, a ULID
// (unique, sorts by creation time) that is also the Nats-Msg-Id header;
// source "binlog-sidecar/<cluster>/<instance>"; type "binlog_sidecar.<type>";
// time, when the sidecar produced the event; subject, the object it is about
// (replica/<host:port>, thread/<id>, stream/<instance>, server/<instance>,
// sidecar/<instance>); datacontenttype "application/json"; and dataschema,
// DataSchemaV1, naming events/schema/v1.json (JSON Schema 2020-12, also
// SchemaV1), which a test checks every event type against. Fields may be
// added within v1; a change that breaks consumers needs a new schema URI.
//
// data always has cluster, instance, severity, summary and server; problem
// events add state, problem_id, since, remediation and evidence; stream.stats
// has the interval's figures; health.changed from, to and problems;
// stream.gap from, to, reason and at; informational events details.
// A Builder makes them; it carries cluster, instance and the server.
//
// # Subjects
//
// Events go to <prefix>.<cluster>.<instance>.<type> (Subject), e.g.
// mysql.health.prod.db-1.replica.missing. Token makes cluster and instance
// one subject token each: '.', '*', '>', white space and control
// characters become '_', and an empty name becomes "_".
//
// # Delivery
//
// Publisher.Publish encodes the event and appends it to a memory queue of
// at most Options.MaxPending events, then returns: it never waits for the
// network or the disk. A writer goroutine appends queued events to the
// spool (package spool) in DataDir/spool and fsyncs each batch, so an event
// that reached the spool survives a kill or a power loss; an event still in
// memory (normally for well under a millisecond) is lost with the process.
// A single sender goroutine reads the spool in order and publishes:
//
//   - to JetStream when Options.Stream is set and the server has JetStream.
//     The stream is created if missing (subjects <prefix>.>, file storage,
//     limits retention, max age 7 days, max bytes 1 GiB, duplicate window
//     2 minutes); an existing stream is used as it is. Messages carry
//     Nats-Msg-Id (the event id) and Nats-Expected-Stream. Up to
//     Options.InFlight are published asynchronously, and the acks are
//     awaited in order; an event counts as published when acknowledged.
//   - to core NATS otherwise (no stream configured, or JetStream not
//     enabled); a successful flush counts as published. With a stream
//     configured this lasts only until JetStream answers (a NATS server
//     starting together with the sidecar may answer "not enabled" at
//     first): the publisher asks again every 30 s and after every
//     reconnect, and switches to JetStream as soon as it answers. Once
//     JetStream has been seen, the publisher waits for it rather than
//     falling back.
//
// After any failure (a disconnect, an ack timeout), the sender resends from
// the oldest unacknowledged event. JetStream drops the duplicates within its
// 2-minute window; consumers dedupe on id for anything older (an outage
// longer than the window in which an ack was lost, or a restart). Order on
// each subject is the order of Publish. Delivery is at least once.
//
// The connection is retried forever, with exponential backoff from 250 ms
// to 5 s and jitter. NATS's own reconnect buffer is off: while disconnected,
// events wait in the spool, which is bounded and durable.
//
// An event that can never be delivered as it is does not block the ones
// after it. The sender checks each record before it publishes (a subject
// the server would refuse; more bytes than the server's announced
// max_payload, nc.MaxPayload) and classifies each publish error: a
// permanent one (nats.ErrMaxPayload, the stream's maximum message size,
// nats.ErrBadSubject, a permission violation for the subject, reported
// asynchronously) dead-letters the record, anything else (a disconnect, a
// timeout) is retried. A dead-lettered record is appended to
// DataDir/dead-letter.jsonl (one JSON line: time, reason, error, subject,
// id, type, size and the event, or its head when over 64 KiB; the file is
// rotated to .1 at 16 MiB), counted in Stats.DeadLettered by type and
// reason, logged at error level, and acknowledged in the spool with the
// records around it, so delivery goes on with the next record, also after
// a restart. Events the Builder makes never come near: see MaxEventBytes.
//
// A damaged spool (a flipped bit, a zeroed block, a file cut short, a
// bogus ack file), found at start or while reading, never stops delivery
// and never loses more than the damaged records: the damaged file is kept
// aside, every record whose checksum holds is delivered, and the records
// lost are counted in Stats.Dropped and logged (package spool).
//
// URLs are logged with the password or token of their userinfo replaced
// (RedactURLs), with or without a scheme.
//
// # Bounds
//
// Memory: at most MaxPending stream.stats events and MaxPendingBytes (64
// MiB) of events of any kind wait in memory, plus InFlight in the sender;
// a burst of problem events (one per missing replica of a 10,000-replica
// inventory) is kept whole. Disk: the spool is bounded by
// Options.MaxSpoolBytes (SIDECAR_SPOOL_MAX_BYTES, 256 MiB by default). When
// the memory queue is over a bound (the disk is slower than the producer)
// or the spool is over its bound, stream.stats events are dropped first,
// oldest first; problem and other events are dropped only when no stats
// event is left, again oldest first. Stats.Dropped counts them.
//
// # Shutdown
//
// Close stops taking events, writes the memory queue to the spool and
// sends until everything is acknowledged or its context is done (the
// contract gives it 10 s on SIGTERM); what is left stays in the spool, goes
// out first after the next start, and Close returns an error wrapping
// ErrUndelivered. Events still in memory when the deadline passes (the
// writer backing off after spool write errors, or in a slow fsync) are
// written to the spool by Close once the writer stopped; only what that
// last write cannot store is lost, logged and counted in Stats.Dropped,
// and Close's error says so.
//
// # Metrics
//
// Stats feeds binlog_sidecar_events_published_total{type} (Published, every
// type present from the start), binlog_sidecar_events_pending (Pending:
// produced and not yet acknowledged, in memory and in the spool) and
// binlog_sidecar_events_dropped_total (Dropped) and
// binlog_sidecar_events_dead_lettered_total{type,reason} (DeadLettered).
//
// LogOnly is the Sink for SIDECAR_NATS_URL=none: each event becomes a log
// line. Package bus runs the embedded NATS server for
// SIDECAR_NATS_URL=embedded.
package events
