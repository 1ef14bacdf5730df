package stream

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
