// Package testnats runs a real nats-server process with JetStream for
// tests that must kill and restart the server (SIGKILL, same port, same
// store directory), which an embedded server cannot show.
//
// Require finds /usr/sbin/nats-server (or nats-server on PATH). When it is
// missing the test is skipped with the reason, except under CI=1 where
// it fails: a test that cannot run there must not pass silently.
//
// StartCluster runs several as one routed cluster; Embedded starts the
// sidecar's embedded server instead, for tests of its anonymous reader.
package testnats
