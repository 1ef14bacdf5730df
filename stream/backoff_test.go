package stream

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff_Next(t *testing.T) {
	tests := []struct {
		name string
		give Backoff
		want []time.Duration
	}{
		{
			name: "doubles to the cap",
			give: Backoff{Min: 100 * time.Millisecond, Max: time.Second},
			want: []time.Duration{100e6, 200e6, 400e6, 800e6, 1e9, 1e9},
		},
		{
			name: "defaults",
			give: Backoff{},
			want: []time.Duration{DefaultBackoffMin, 2 * DefaultBackoffMin},
		},
		{
			name: "max below min is min",
			give: Backoff{Min: time.Second, Max: time.Millisecond},
			want: []time.Duration{time.Second, time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.give
			for i, want := range tt.want {
				if got := b.Next(); got != want {
					t.Fatalf("Next() #%d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestBackoff_Reset(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	b.Next()
	b.Next()
	b.Reset()
	if got := b.Next(); got != time.Second {
		t.Errorf("Next() after Reset = %v, want %v", got, time.Second)
	}
}

func TestSleepContext(t *testing.T) {
	t.Run("elapses", func(t *testing.T) {
		if err := SleepContext(context.Background(), time.Millisecond); err != nil {
			t.Errorf("SleepContext = %v, want nil", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := SleepContext(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("SleepContext = %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- SleepContext(ctx, time.Hour) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("SleepContext = %v, want context.Canceled", err)
		}
	})
}

func TestBackoff_After(t *testing.T) {
	b := Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 250 * time.Millisecond},
		{1, 250 * time.Millisecond},
		{2, 500 * time.Millisecond},
		{5, 4 * time.Second},
		{6, 5 * time.Second},
		{1 << 30, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := b.After(tt.attempt); got != tt.want {
			t.Errorf("After(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
	if got := b.Next(); got != b.Min {
		t.Errorf("Next after After = %s, want %s: After must leave the sequence alone", got, b.Min)
	}
}

// With Jitter every wait lies in the upper half of its range, and waits
// differ (a fleet does not retry in step).
func TestBackoff_jitter(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second, Jitter: true}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.After(3) // 4 s without jitter
		if d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("After(3) with jitter = %s, want within [2s, 4s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("200 jittered waits took %d distinct values, want several", len(seen))
	}
	first := b.Next()
	if first < time.Second/2 || first > time.Second {
		t.Errorf("first Next with jitter = %s, want within [0.5s, 1s]", first)
	}
}
