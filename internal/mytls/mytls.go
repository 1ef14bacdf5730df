// Package mytls holds the one rule of SIDECAR_MYSQL_TLS=preferred that every
// connection to the server follows: use TLS when the server offers it,
// plain text when it does not. go-mysql has no "preferred" mode: with a TLS
// config set it refuses a server whose greeting lacks CLIENT_SSL, so the
// adapters connect again without TLS when that is the error.
package mytls

import (
	"crypto/tls"
	"strings"
)

// noTLS is the start of go-mysql's error for a server without TLS
// (client/auth.go, readInitialHandshake).
const noTLS = "does not support TLS"

// Preferred reports whether err means "the server offers no TLS" and the
// connection may be retried in plain text because TLS is only preferred.
func Preferred(err error, cfg *tls.Config, preferred bool) bool {
	return err != nil && cfg != nil && preferred && strings.Contains(err.Error(), noTLS)
}
