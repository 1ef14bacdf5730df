package client

import (
	"crypto/tls"
	"strings"
)

// noTLS is the start of go-mysql's error for a server without TLS
// (client/auth.go, readInitialHandshake).
const noTLS = "does not support TLS"

// fallBackToPlain reports whether err means "the server offers no TLS" and the
// connection may be retried in plain text because TLS is only preferred.
func fallBackToPlain(err error, cfg *tls.Config, preferred bool) bool {
	return err != nil && cfg != nil && preferred && strings.Contains(err.Error(), noTLS)
}
