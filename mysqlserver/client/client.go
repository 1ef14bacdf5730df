package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	gmclient "github.com/go-mysql-org/go-mysql/client"
)

// Target is a server to open a client connection to.
type Target struct {
	Addr     string // host:port, or a unix socket path starting with /
	User     string
	Password string
	// TLS, when set, is used for the connection.
	TLS *tls.Config
	// TLSPreferred connects without TLS when the server offers none
	// (SIDECAR_MYSQL_TLS=preferred).
	TLSPreferred bool

	// Dial, when set, opens the transport instead of a plain net.Dialer
	// (the stream ties its connections to its session this way).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// IOTimeout, when set, bounds every packet read and write after the
	// handshake, instead of one deadline for the whole connection.
	IOTimeout time.Duration
	// Attributes are sent in the handshake as connection attributes.
	Attributes map[string]string
}

// Conn is a connection Connect opened.
type Conn struct {
	c   *gmclient.Conn
	tls bool
}

// Connect opens a client connection to t. deadline bounds the dial and the
// handshake, and stays set on the connection until SetDeadline changes it.
// With TLS only preferred, a server that offers none is connected to
// again in plain text.
func Connect(ctx context.Context, t Target, deadline time.Time) (*Conn, error) {
	c, err := t.connect(ctx, t.TLS, deadline)
	usedTLS := t.TLS != nil
	if fallBackToPlain(err, t.TLS, t.TLSPreferred) {
		c, err = t.connect(ctx, nil, deadline)
		usedTLS = false
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", t.Addr, err)
	}
	return &Conn{c: c, tls: usedTLS}, nil
}

// connect opens one connection, with tlsCfg or in plain text.
func (t Target) connect(ctx context.Context, tlsCfg *tls.Config, deadline time.Time) (*gmclient.Conn, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		var err error
		if t.Dial != nil {
			c, err = t.Dial(ctx, network, addr)
		} else {
			d := net.Dialer{Deadline: deadline}
			c, err = d.DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		if err := c.SetDeadline(deadline); err != nil { // bounds the MySQL handshake too
			c.Close()
			return nil, err
		}
		return c, nil
	}
	network := "tcp"
	if strings.HasPrefix(t.Addr, "/") {
		network = "unix"
	}
	opt := func(c *gmclient.Conn) error {
		if tlsCfg != nil {
			c.SetTLSConfig(tlsCfg)
		}
		c.ReadTimeout, c.WriteTimeout = t.IOTimeout, t.IOTimeout
		if t.Attributes != nil {
			c.SetAttributes(t.Attributes)
		}
		return nil
	}
	return gmclient.ConnectWithDialer(ctx, network, t.Addr, t.User, t.Password, "", dial, opt)
}

// TLS reports whether the connection is encrypted (false after the
// "preferred" fallback).
func (c *Conn) TLS() bool { return c.tls }

// ConnectionID is the server's id of this connection (KILL, processlist).
func (c *Conn) ConnectionID() uint32 { return c.c.GetConnectionID() }

// ServerVersion is the version the server's greeting announced.
func (c *Conn) ServerVersion() string { return c.c.GetServerVersion() }

// SetDeadline bounds what follows on the connection; the zero time lifts
// the bound.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

// Query runs one statement and returns its result, copied.
func (c *Conn) Query(sql string) (Rows, error) {
	res, err := c.c.Execute(sql)
	if err != nil {
		return Rows{}, err
	}
	defer res.Close()
	return copyRows(res), nil
}

// Exec runs one statement whose result is not needed.
func (c *Conn) Exec(sql string) error {
	res, err := c.c.Execute(sql)
	if err == nil {
		res.Close()
	}
	return err
}

// quitTimeout bounds the goodbye: the connection's last deadline has
// usually passed by the time it is closed.
const quitTimeout = time.Second

// Quit says goodbye (COM_QUIT), so the server logs no aborted connection,
// and always closes the connection: go-mysql's Quit leaves the socket open
// when the goodbye cannot be written.
func (c *Conn) Quit() error {
	_ = c.c.SetDeadline(time.Now().Add(quitTimeout))
	err := c.c.Quit()
	if err != nil {
		_ = c.c.Close()
	}
	return err
}

// Close closes the connection without a goodbye.
func (c *Conn) Close() error { return c.c.Close() }
