package stream

import (
	"reflect"
	"testing"
	"time"
)

func TestSeconds(t *testing.T) {
	h := NewSeconds([]float64{0.001, 1})
	for _, d := range []time.Duration{700 * time.Microsecond, time.Second, 3 * time.Second} {
		h.Observe(d)
	}
	c := h.Clone()
	h.Observe(0)
	if want := []uint64{1, 2}; !reflect.DeepEqual(c.Buckets, want) || c.Count != 3 || c.Sum != 4.0007 {
		t.Errorf("histogram %+v, want buckets %v, count 3, sum 4.0007 (and the clone unchanged)", c, want)
	}
	if got, want := c.BucketMap(), map[float64]uint64{0.001: 1, 1: 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("BucketMap %v, want %v", got, want)
	}
}
