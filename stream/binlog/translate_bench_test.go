package binlog

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/stream"
)

// The benchmarks replay the committed sysbench binlog (testdata) event by
// event through each decoder. Each op is one pass over the file; ns/event
// and allocs/event are reported per event. Compare:
//
//	go-mysql raw    what go-mysql costs in RawModeEnabled (header, FDE, ROTATE)
//	translate       the sidecar's own decoding and metering alone
//	sidecar         raw + translate: what the stream pays per event
//	go-mysql full   go-mysql's default decoding of every row

func benchEvents(b *testing.B, each func(raw []byte)) {
	_, events := loadTestdata(b)
	var size int64
	for _, e := range events {
		size += int64(len(e))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, e := range events {
			each(e)
		}
	}
	n := float64(b.N) * float64(len(events))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
}

func newParser(raw bool) *replication.BinlogParser {
	p := replication.NewBinlogParser()
	p.SetFlavor("mariadb")
	p.SetRawMode(raw)
	return p
}

func BenchmarkGoMySQLRaw(b *testing.B) {
	p := newParser(true)
	benchEvents(b, func(raw []byte) {
		if _, err := p.Parse(raw); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkTranslate(b *testing.B) {
	file, _ := loadTestdata(b)
	tr := newTranslator(stream.NewMeter(stream.MeterOptions{}), zerolog.Nop(), nil)
	tr.startSession(stream.Position{File: file, Pos: 4})
	benchEvents(b, func(raw []byte) {
		if err := tr.handle(raw); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkSidecar(b *testing.B) {
	file, _ := loadTestdata(b)
	p := newParser(true)
	tr := newTranslator(stream.NewMeter(stream.MeterOptions{}), zerolog.Nop(), nil)
	tr.startSession(stream.Position{File: file, Pos: 4})
	benchEvents(b, func(raw []byte) {
		e, err := p.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.handle(e.RawData); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkGoMySQLFull(b *testing.B) {
	p := newParser(false)
	benchEvents(b, func(raw []byte) {
		if _, err := p.Parse(raw); err != nil {
			b.Fatal(err)
		}
	})
}
