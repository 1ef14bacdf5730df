package inventory

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Source hands the health monitor the current inventory. A file source
// re-reads its file when it changes (Puppet or a ConfigMap rewrites it in
// place), keeping the last good inventory when the new text does not parse,
// so that a typo never makes every replica look unexpected.
type Source struct {
	path string

	mu         sync.Mutex
	entries    []Entry
	configured bool
	err        error
	modTime    time.Time
	size       int64
}

// Static is a source for an inventory given inline (SIDECAR_EXPECTED_REPLICAS).
// configured false means no inventory at all: missing/unknown are not evaluated.
func Static(entries []Entry, configured bool) *Source {
	return &Source{entries: entries, configured: configured}
}

// File is a source that reads path now and again whenever it changes.
func File(path string) *Source {
	s := &Source{path: path, configured: true}
	s.refresh()
	return s
}

// Get returns the current entries and whether an inventory is configured.
// For a file source it first re-reads the file if its size or mtime moved;
// the health monitor calls it once per poll.
func (s *Source) Get() ([]Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" {
		s.refreshLocked()
	}
	return s.entries, s.configured
}

// Err returns the last error reading or parsing the file, nil when the
// current file is good.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Source) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
}

func (s *Source) refreshLocked() {
	fi, err := os.Stat(s.path)
	if err != nil {
		s.err = fmt.Errorf("inventory file: %w", err)
		return
	}
	if s.err == nil && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size && s.entries != nil {
		return
	}
	f, err := os.Open(s.path)
	if err != nil {
		s.err = fmt.Errorf("inventory file: %w", err)
		return
	}
	defer f.Close()
	entries, err := Parse(f)
	s.modTime, s.size = fi.ModTime(), fi.Size()
	if err != nil {
		s.err = fmt.Errorf("inventory file %s: %w", s.path, err)
		return
	}
	if entries == nil {
		entries = []Entry{}
	}
	s.entries, s.err = entries, nil
}
