package events

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is the base-32 alphabet of ULIDs: no I, L, O or U, so ids read
// back unambiguously and sort as strings in the order they were made.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idSource makes ULIDs (48-bit millisecond time, 80 random bits). Within
// one millisecond the random part is incremented instead of redrawn, so ids
// from one process sort in the order they were made.
type idSource struct {
	mu     sync.Mutex
	lastMS uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64 of the 80 random bits
}

var ids idSource

// NewID returns a new event id: a 26-character ULID, unique and sortable by
// creation time. It is the CloudEvents id and the Nats-Msg-Id header.
func NewID() string { return ids.next(time.Now()) }

func (s *idSource) next(now time.Time) string {
	ms := uint64(now.UnixMilli())
	s.mu.Lock()
	if ms <= s.lastMS {
		// Same (or a stepped-back) millisecond: keep the last time and count
		// up, so order holds even if the wall clock moves backwards.
		ms = s.lastMS
		s.lo++
		if s.lo == 0 {
			s.hi++
		}
	} else {
		var b [10]byte
		_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
		s.lastMS, s.hi, s.lo = ms, binary.BigEndian.Uint16(b[:2]), binary.BigEndian.Uint64(b[2:])
	}
	hi, lo := ms<<16|uint64(s.hi), s.lo
	s.mu.Unlock()

	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
