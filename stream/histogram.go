package stream

import (
	"slices"
	"time"
)

// TxBytesBuckets are the inclusive upper bounds, in bytes, of the
// transaction-size histogram (Snapshot.TxBytesHist): powers of four from
// 256 B to 256 MiB. A transaction larger than the last bound falls in the
// implicit +Inf bucket.
var TxBytesBuckets = []uint64{
	256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10,
	1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20,
}

// TxRowsBuckets are the inclusive upper bounds, in changed rows, of the
// transaction-rows histogram (Snapshot.TxRowsHist).
var TxRowsBuckets = []uint64{0, 1, 2, 5, 10, 20, 50, 100, 1000, 10000, 100000, 1000000}

// maxBuckets bounds the number of buckets a bucketCounts can hold.
const maxBuckets = 16

// Histogram is a fixed-bucket distribution. Counts[i] is the number of
// observations v with Bounds[i-1] < v <= Bounds[i] (not cumulative); the last
// element of Counts is the +Inf bucket, so len(Counts) == len(Bounds)+1.
type Histogram struct {
	Bounds []uint64 `json:"bounds"`
	Counts []uint64 `json:"counts"`
	Count  uint64   `json:"count"`
	Sum    uint64   `json:"sum"`
}

// Cumulative returns the counts of observations <= each bound, the form
// Prometheus histograms expose (without the +Inf bucket, which is Count).
func (h Histogram) Cumulative() []uint64 {
	out := make([]uint64, len(h.Bounds))
	var acc uint64
	for i := range h.Bounds {
		acc += h.Counts[i]
		out[i] = acc
	}
	return out
}

// bucketCounts is the meter's allocation-free histogram storage; bounds
// are passed in so one type serves both distributions.
type bucketCounts struct {
	counts     [maxBuckets]uint64
	count, sum uint64
}

func (b *bucketCounts) observe(bounds []uint64, v uint64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	b.counts[i]++
	b.count++
	b.sum += v
}

func (b *bucketCounts) histogram(bounds []uint64) Histogram {
	counts := make([]uint64, len(bounds)+1)
	copy(counts, b.counts[:])
	return Histogram{Bounds: bounds, Counts: counts, Count: b.count, Sum: b.sum}
}

// Seconds is a cumulative duration histogram: Buckets[i] counts the
// observations of at most Bounds[i] seconds (cumulative, as Prometheus
// exposes them); the +Inf bucket is Count.
type Seconds struct {
	Bounds  []float64 `json:"-"`
	Buckets []uint64
	Count   uint64
	Sum     float64 // seconds
}

// NewSeconds returns an empty histogram over bounds (in seconds).
func NewSeconds(bounds []float64) Seconds {
	return Seconds{Bounds: bounds, Buckets: make([]uint64, len(bounds))}
}

// Observe adds d, in place.
func (h *Seconds) Observe(d time.Duration) {
	s := d.Seconds()
	for i, le := range h.Bounds {
		if s <= le {
			h.Buckets[i]++
		}
	}
	h.Count++
	h.Sum += s
}

// Clone is a copy that shares nothing mutable with h.
func (h Seconds) Clone() Seconds {
	h.Buckets = slices.Clone(h.Buckets)
	return h
}

// BucketMap is Buckets by upper bound, every bound present: the form
// Prometheus const histograms take.
func (h Seconds) BucketMap() map[float64]uint64 {
	m := make(map[float64]uint64, len(h.Bounds))
	for i, le := range h.Bounds {
		m[le] = 0
		if i < len(h.Buckets) {
			m[le] = h.Buckets[i]
		}
	}
	return m
}
