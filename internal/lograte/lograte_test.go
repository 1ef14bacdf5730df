package lograte

import (
	"reflect"
	"testing"
	"time"
)

func TestLimiter_AllowKey(t *testing.T) {
	type step struct {
		after time.Duration // clock advance before the call
		key   string
		reset bool // Reset before the call
	}
	tests := []struct {
		name string
		give []step
		want []bool
	}{
		{"first line passes, a repeat within Every does not", []step{{0, "", false}, {time.Second, "", false}}, []bool{true, false}},
		{"a repeat after Every passes", []step{{0, "", false}, {30 * time.Second, "", false}, {29 * time.Second, "", false}}, []bool{true, true, false}},
		{"a changed key passes at once", []step{{0, "a", false}, {time.Second, "b", false}, {time.Second, "b", false}}, []bool{true, true, false}},
		{"Reset lets the next line through", []step{{0, "", false}, {time.Second, "", true}, {time.Second, "", false}}, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
			l := &Limiter{Every: 30 * time.Second, now: func() time.Time { return at }}
			got := []bool{}
			for _, s := range tt.give {
				at = at.Add(s.after)
				if s.reset {
					l.Reset()
				}
				got = append(got, l.AllowKey(s.key))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLimiter_zeroValueLetsEveryLineThrough(t *testing.T) {
	var l Limiter
	for i := range 3 {
		if !l.Allow() {
			t.Fatalf("call %d: got false, want true", i)
		}
	}
}
