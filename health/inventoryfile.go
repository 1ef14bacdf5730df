package health

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
)

// InventoryFile is the inventory kept in SIDECAR_EXPECTED_REPLICAS_FILE.
// Entries re-reads the file on every call (it is small; a poll calls it
// once) and re-parses it when its bytes changed. A file that vanished or no
// longer parses keeps the last good entries, so a half-written edit does
// not make every replica unknown; Err says what is wrong meanwhile.
type InventoryFile struct {
	path string
	log  zerolog.Logger

	mu      sync.Mutex
	raw     []byte
	loaded  bool
	entries []inventory.Entry
	err     error
}

// NewInventoryFile returns an inventory read from path; initial, if the
// caller already parsed the file at start-up, is used until it changes.
func NewInventoryFile(path string, initial []inventory.Entry, log zerolog.Logger) *InventoryFile {
	return &InventoryFile{path: path, entries: slices.Clone(initial),
		log: log.With().Str("component", "inventory").Str("path", path).Logger()}
}

// Entries returns the current entries; the inventory is always configured.
func (f *InventoryFile) Entries() ([]inventory.Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, err := os.ReadFile(f.path)
	if err != nil {
		f.fail(fmt.Errorf("read inventory: %w", err))
		return f.entries, true
	}
	if f.loaded && bytes.Equal(raw, f.raw) {
		return f.entries, true
	}
	entries, err := inventory.Parse(bytes.NewReader(raw))
	f.raw, f.loaded = raw, true
	if err != nil {
		f.fail(fmt.Errorf("parse inventory: %w", err))
		return f.entries, true
	}
	f.entries, f.err = entries, nil
	f.log.Info().Int("entries", len(entries)).Msg("inventory loaded")
	return f.entries, true
}

// Err returns why the last read failed, nil when the entries are current.
func (f *InventoryFile) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *InventoryFile) fail(err error) {
	if f.err == nil || f.err.Error() != err.Error() {
		f.log.Error().Err(err).Msg("inventory not reloaded; keeping the last good entries")
	}
	f.err = err
}
