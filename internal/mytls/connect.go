package mytls

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
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
}

// Connect opens a client connection to t; the dial and the handshake share
// deadline. With TLS only preferred, a server that offers none is connected
// to again in plain text.
func Connect(ctx context.Context, t Target, deadline time.Time) (*client.Conn, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Deadline: deadline}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			err = c.SetDeadline(deadline) // bounds the MySQL handshake too
		}
		return c, err
	}
	network := "tcp"
	if strings.HasPrefix(t.Addr, "/") {
		network = "unix"
	}
	connect := func(tlsCfg *tls.Config) (*client.Conn, error) {
		var opts []client.Option
		if tlsCfg != nil {
			opts = append(opts, func(c *client.Conn) error { c.SetTLSConfig(tlsCfg); return nil })
		}
		return client.ConnectWithDialer(ctx, network, t.Addr, t.User, t.Password, "", dial, opts...)
	}
	c, err := connect(t.TLS)
	if Preferred(err, t.TLS, t.TLSPreferred) {
		c, err = connect(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", t.Addr, err)
	}
	return c, nil
}
