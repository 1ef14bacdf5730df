// Package client is the one way the sidecar opens SQL connections to the
// server (the health probe, the stream's preflight and dump, validate
// --live, audit, the canary): it applies SIDECAR_MYSQL_TLS=preferred, copies
// result sets out of go-mysql's pooled buffers, and tells the server's
// errors from the network's. Besides it only the stream's dump reader
// (stream/binlog, for the binlog protocol types) and the test and bench
// harnesses import go-mysql. The knowledge of which statement to send to
// which server is mysqlserver's, which imports the standard library only so
// that the pure packages may use it.
package client
