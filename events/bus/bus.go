package bus

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// DefaultAddr is where the embedded server listens unless told otherwise.
const DefaultAddr = "127.0.0.1:4222"

// readyTimeout bounds the wait for the server to accept connections.
const readyTimeout = 10 * time.Second

// Options configure the embedded server.
type Options struct {
	// Addr is host:port to listen on (default DefaultAddr); port 0 picks a free one.
	Addr string
	// StoreDir is the JetStream store directory (required).
	StoreDir string
	// Password is the sidecar user's password; empty (always, in the
	// daemon): 32 random bytes made at start. Tests set it to connect a
	// publisher before the server exists.
	Password string
}

// SidecarUser is the embedded server's user for the sidecar's own
// connection; its password is generated at every start (Credentials).
const SidecarUser = "binlog-sidecar"

// anonymousUser is who a client without credentials is (no_auth_user).
const anonymousUser = "anonymous"

// anonymousPublish is all an anonymous client may publish: what reading
// and consuming need (JetStream's info, stream and message reads, consumer
// create/info/list/next/delete, acks and flow control), never an event
// subject, never a stream's create, update, purge or delete, never a reply
// to another client's inbox (which could forge the sidecar's acks).
var anonymousPublish = []string{
	"$JS.API.INFO",
	"$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.>",
	"$JS.API.STREAM.MSG.GET.>", "$JS.API.DIRECT.GET.>",
	"$JS.API.CONSUMER.>",
	"$JS.ACK.>", "$JS.FC.>",
}

// anonymousDeny restates what anonymousPublish leaves out and matters
// most, so that a later widening of the allow list cannot let it in.
var anonymousDeny = []string{
	"$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.DELETE.>",
	"$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.MSG.DELETE.>",
	"$JS.API.STREAM.SNAPSHOT.>", "$JS.API.STREAM.RESTORE.>", "$JS.API.STREAM.PEER.>", "$JS.API.STREAM.LEADER.>",
	"$KV.>", "$O.>", "_INBOX.>",
}

// Embedded is a running in-process NATS server.
type Embedded struct {
	srv      *server.Server
	password string
}

// Credentials are the user and password of the sidecar's own connection:
// the only one that may publish events and manage streams. The password
// is random, made at start, kept in memory only: never log it.
func (e *Embedded) Credentials() (user, password string) { return SidecarUser, e.password }

// newPassword is 32 random bytes, base64url.
func newPassword() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate the sidecar's nats password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// StartEmbedded starts the server and waits until it accepts connections
// (at most 10 s, or until ctx is done).
func StartEmbedded(ctx context.Context, o Options, log zerolog.Logger) (*Embedded, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.StoreDir == "" {
		return nil, errors.New("start embedded nats: no store directory")
	}
	host, portStr, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: address %q: %w", o.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("start embedded nats: address %q: bad port", o.Addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	password := o.Password
	if password == "" {
		if password, err = newPassword(); err != nil {
			return nil, fmt.Errorf("start embedded nats: %w", err)
		}
	}
	anonPassword, err := newPassword() // never given out: no_auth_user needs one
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "binlog-sidecar", Host: host, Port: port,
		// The sidecar authenticates; anyone else is the anonymous user,
		// who may subscribe and consume and publish nothing else.
		Users: []*server.User{
			{Username: SidecarUser, Password: password},
			{Username: anonymousUser, Password: anonPassword, Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: anonymousPublish, Deny: anonymousDeny},
			}},
		},
		NoAuthUser: anonymousUser,
		JetStream:  true, StoreDir: o.StoreDir, NoSigs: true,
		// fsync every write before the ack: the publisher deletes its
		// spooled copy of an event once acked, so the default background
		// fsync (every 2 minutes) could lose acknowledged events in a
		// power loss. Events are few (a stats event every 10 s, problems).
		SyncAlways: true,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	l := logger{log: log.With().Str("component", "nats-server").Logger(), fatal: new(atomic.Pointer[string])}
	srv.SetLogger(l, true, false)
	go srv.Start()

	deadline := time.Now().Add(readyTimeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		// A fatal error (e.g. the address is in use) is logged, not returned.
		if f := l.fatal.Load(); f != nil || ctx.Err() != nil || time.Now().After(deadline) {
			srv.Shutdown()
			srv.WaitForShutdown()
			if f != nil {
				return nil, fmt.Errorf("start embedded nats on %s: %s", o.Addr, *f)
			}
			return nil, fmt.Errorf("start embedded nats on %s: not ready", o.Addr)
		}
	}
	return &Embedded{srv: srv, password: password}, nil
}

// ClientURL is the URL clients connect to, e.g. nats://127.0.0.1:4222.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped, at most until
// ctx is done. JetStream flushes its store on the way down.
func (e *Embedded) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shut down embedded nats: %w", ctx.Err())
	}
}

// logger routes the server's log to zerolog with a constant message and the
// server's line in "detail".
// Fatal lines are kept for StartEmbedded, which reports them.
type logger struct {
	log   zerolog.Logger
	fatal *atomic.Pointer[string]
}

func (l logger) Noticef(f string, v ...any) { l.emit(l.log.Debug(), f, v) }
func (l logger) Debugf(f string, v ...any)  { l.emit(l.log.Debug(), f, v) }
func (l logger) Tracef(string, ...any)      {}
func (l logger) Warnf(f string, v ...any) {
	// The passwords are generated per start and held in memory only; the
	// server's advice to hash them would be noise at every start.
	if strings.HasPrefix(f, "Plaintext passwords detected") {
		l.emit(l.log.Debug(), f, v)
		return
	}
	l.emit(l.log.Warn(), f, v)
}
func (l logger) Errorf(f string, v ...any) { l.emit(l.log.Error(), f, v) }
func (l logger) Fatalf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	l.fatal.Store(&msg)
	l.emit(l.log.Error(), "%s", []any{msg})
}

func (logger) emit(e *zerolog.Event, f string, v []any) {
	e.Str("detail", fmt.Sprintf(f, v...)).Msg("nats server")
}
