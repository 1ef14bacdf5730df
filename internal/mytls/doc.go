// Package mytls holds the one rule of SIDECAR_MYSQL_TLS=preferred that every
// connection to the server follows: use TLS when the server offers it,
// plain text when it does not. go-mysql has no "preferred" mode: with a TLS
// config set it refuses a server whose greeting lacks CLIENT_SSL, so the
// adapters connect again without TLS when that is the error. Connect applies
// it for every SQL connection the sidecar opens (the health probe, validate
// --live, audit); the stream's dump reader still dials on its own.
package mytls
