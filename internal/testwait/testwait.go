// Package testwait is the tests' one way to wait for something that must
// happen: poll a condition until it holds, bounded, and fail the test
// naming what did not happen. It never asserts how long anything took.
package testwait

import (
	"testing"
	"time"
)

// Every is how often Until polls.
const Every = 10 * time.Millisecond

// Until polls cond every Every until it holds, failing t (Fatalf) once
// limit has passed without it.
func Until(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(Every)
	}
}
