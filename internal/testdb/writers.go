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

// FreezeUnderWrites SIGSTOPs replica, a semi-sync replica of primary, while
// n sessions commit stmt in a loop on primary, so that commits wait for an
// acknowledgement that never comes; it returns when the replica froze.
// When the test ends (before the writers' connections close) the replica
// resumes, semi-sync is switched off so blocked commits return, and the
// writers are waited for.
func FreezeUnderWrites(t testing.TB, primary, replica *Server, n int, stmt string) time.Time {
	t.Helper()
	admin := primary.Conn(t)
	replica.Pause()
	frozen := time.Now()
	w := primary.StartWriters(t, n, stmt)
	t.Cleanup(func() {
		w.Stop()
		replica.Resume()
		if _, err := admin.Execute("SET GLOBAL rpl_semi_sync_master_enabled=OFF"); err != nil {
			t.Errorf("testdb: switch semi-sync off: %v", err)
		}
		if !w.Wait(30 * time.Second) {
			t.Error("testdb: writers still blocked 30 s after cleanup")
		}
	})
	return frozen
}
