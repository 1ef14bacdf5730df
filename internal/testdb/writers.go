package testdb

import (
	"sync"
	"testing"
	"time"
)

// Writers are sessions that commit in a loop, e.g. to keep commits
// waiting on a frozen semi-sync replica.
type Writers struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// StartWriters runs n sessions as bench, each executing stmt in a loop
// until Stop or until a statement fails. Their connections close when the
// test ends; register a cleanup that calls Stop, releases whatever blocks
// them and calls Wait after StartWriters, so that it runs first.
func (s *Server) StartWriters(t testing.TB, n int, stmt string) *Writers {
	t.Helper()
	w := &Writers{stop: make(chan struct{})}
	for range n {
		c := s.Conn(t)
		w.wg.Go(func() {
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				if _, err := c.Execute(stmt); err != nil {
					return
				}
			}
		})
	}
	return w
}

// Stop asks every session to end after its current statement.
func (w *Writers) Stop() { w.once.Do(func() { close(w.stop) }) }

// Wait waits up to limit for the sessions to end and reports whether they
// did (a statement still blocked keeps its session).
func (w *Writers) Wait(limit time.Duration) bool {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}
