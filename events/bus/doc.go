// Package bus runs the sidecar's default event bus: a NATS server with
// JetStream inside the sidecar's own process (SIDECAR_NATS_URL=embedded), so
// that events are stored and can be consumed with no other service to run.
// It listens on SIDECAR_NATS_EMBEDDED_ADDR (default 127.0.0.1:4222, loopback
// only) and keeps its JetStream store in
// SIDECAR_DATA_DIR/nats. JetStream fsyncs every message before it
// acknowledges it (SyncAlways, not the default fsync every 2 minutes): the
// publisher deletes an event from its spool once acknowledged, so an
// acknowledged event must survive a power loss. Events are few, so the
// cost is small. Its own log lines go to zerolog at debug level,
// warnings and errors at their levels. It installs no signal handlers.
//
// Access: a client without credentials is the anonymous user, who may
// subscribe to anything and consume (nats sub, JetStream pull and push
// consumers, durable or not, acks, message reads), and may publish nothing
// else: no event subject, no stream create, update, purge or delete, no KV
// put, no reply to another client's inbox. The sidecar's own connection
// authenticates as SidecarUser with a password generated at every start
// (32 random bytes, kept in memory only, never logged or written), which
// may do everything.
package bus
