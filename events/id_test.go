package events

import (
	"testing"
	"time"
)

func TestIDSource_Next(t *testing.T) {
	var s idSource
	t0 := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name string
		give time.Time
	}{
		{"first", t0},
		{"same millisecond", t0},
		{"same millisecond again", t0},
		{"clock stepped back", t0.Add(-time.Second)},
		{"later", t0.Add(time.Millisecond)},
	}
	prev := ""
	for _, tt := range tests {
		got := s.next(tt.give)
		if len(got) != 26 || got <= prev {
			t.Errorf("%s: got %q after %q, want 26 characters sorting after it", tt.name, got, prev)
		}
		prev = got
	}
}

func TestIDSource_Encoding(t *testing.T) {
	s := idSource{lastMS: 1, lo: 0}
	// Same millisecond: the random part counts up from 0 to 1.
	if got, want := s.next(time.UnixMilli(1)), "0000000001"+"0000000000000001"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestNewID_Unique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for range 10000 {
		id := NewID()
		if seen[id] || id <= prev {
			t.Fatalf("id %q repeated or out of order after %q", id, prev)
		}
		seen[id], prev = true, id
	}
}
