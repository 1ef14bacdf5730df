package events

import "time"

// SetJSRecheckEvery sets how often a publisher in core NATS mode asks for
// JetStream again, and returns a function restoring the default. Set it
// before Start, restore it after Close.
func SetJSRecheckEvery(d time.Duration) (restore func()) {
	old := jsRecheckEvery
	jsRecheckEvery = d
	return func() { jsRecheckEvery = old }
}
