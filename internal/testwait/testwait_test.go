package testwait

import (
	"testing"
	"time"
)

func TestUntil_returnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	Until(t, "the third call", time.Minute, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3: Until must stop as soon as it holds", n)
	}
}

// fakeTB records Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f) // Fatalf does not return
}

func TestUntil_failsNamingWhatDidNotHappen(t *testing.T) {
	f := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v, want the fake's Fatalf", r)
			}
		}()
		Until(f, "never", 0, func() bool { return false })
	}()
	if f.failed == "" {
		t.Error("Until returned without failing on a condition that never holds")
	}
}
