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
//
// An inventory that had entries becomes empty only through a file that says
// so: no entries but at least one `#` comment line, read unchanged on two
// consecutive polls. A file with no entries and no comment (what a file
// truncated in place looks like until the writer finishes) keeps the last
// good inventory and is reported; otherwise the rewrite would resolve every
// real replica.missing, and fire it again a poll later.
type Source struct {
	path    string
	secrets []string // files the inventory must never be (password, credentials)

	mu         sync.Mutex
	entries    []Entry
	configured bool
	err        error
	modTime    time.Time
	size       int64
	// emptied is set while a commented file without entries waits for its
	// second, confirming read.
	emptied bool
}

// Static is a source for an inventory given inline (SIDECAR_EXPECTED_REPLICAS).
// configured false means no inventory at all: missing/unknown are not evaluated.
func Static(entries []Entry, configured bool) *Source {
	return &Source{entries: entries, configured: configured}
}

// File is a source that reads path now and again whenever it changes.
// secrets are files the inventory must never turn out to be (the password
// and credentials files): one swapped in is refused without being parsed,
// so a password never becomes a replica's host name.
func File(path string, secrets ...string) *Source {
	s := &Source{path: path, secrets: secrets, configured: true}
	s.refresh()
	return s
}

// Get returns the current entries and whether an inventory is configured.
// For a file source it first re-reads the file if its size or mtime moved;
// the health monitor calls it once per poll. It never blocks on the file:
// only a regular file is read (see ReadFile).
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
	// Stat does not open the file, so a named pipe cannot block it.
	fi, err := os.Stat(s.path)
	if err != nil {
		s.err = fmt.Errorf("inventory file: %w", err)
		return
	}
	unchanged := fi.ModTime().Equal(s.modTime) && fi.Size() == s.size
	if s.err == nil && unchanged && s.entries != nil {
		return
	}
	for _, secret := range s.secrets {
		if si, err := os.Stat(secret); secret != "" && err == nil && os.SameFile(fi, si) {
			s.err = fmt.Errorf("inventory file %s is the same file as %s, a secret; not read", s.path, secret)
			return
		}
	}
	entries, fi, commented, err := readFile(s.path)
	if err != nil {
		s.err = err
		return
	}
	confirmed := s.emptied && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size
	s.modTime, s.size, s.emptied = fi.ModTime(), fi.Size(), false
	if len(entries) == 0 && len(s.entries) > 0 {
		switch {
		case !commented:
			s.err = fmt.Errorf("inventory file %s: no entries and no comment line, read as a rewrite in progress; the previous %d entries stay in force (to expect no replicas, write a comment line such as \"# no replicas expected\")", s.path, len(s.entries))
			return
		case !confirmed:
			s.emptied = true
			s.err = fmt.Errorf("inventory file %s: emptied; the previous %d entries stay in force until it reads the same on the next poll", s.path, len(s.entries))
			return
		}
	}
	if entries == nil {
		entries = []Entry{}
	}
	s.entries, s.err = entries, nil
}
