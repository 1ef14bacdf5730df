package events_test

import (
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/events"
)

// benchPublish measures what Publish costs its caller (the binlog stream,
// the health loop). The memory queue is small and the spool bounded, so
// most events of a long run are dropped: the figure is the caller's cost
// alone, which must not depend on the bus.
func benchPublish(b *testing.B, url string) {
	p := newPublisher(b, events.Options{URLs: []string{url}, Stream: testStream, MaxSpoolBytes: 16 << 20}, testLogB(b))
	bl := events.NewBuilder(testCluster, testInstance)
	e := seqEvent(bl, events.TypeStreamStats, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.Publish(e)
	}
	b.StopTimer()
	st := p.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
}

func BenchmarkPublish_BusUp(b *testing.B) {
	benchPublish(b, startBus(b, "127.0.0.1:0").ClientURL())
}

func BenchmarkPublish_BusDown(b *testing.B) {
	url, _ := deadURL(b)
	benchPublish(b, url)
}

// BenchmarkEncode is the JSON encoding inside Publish, for comparison.
func BenchmarkEncode(b *testing.B) {
	e := seqEvent(events.NewBuilder(testCluster, testInstance), events.TypeStreamStats, 1)
	b.ReportAllocs()
	for b.Loop() {
		events.Encode(e)
	}
}
