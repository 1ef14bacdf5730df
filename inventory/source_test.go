package inventory

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileSource_RereadsOnChangeAndKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replicas")
	write := func(text string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// Set the mtime explicitly: two writes within one clock tick must
		// still be seen as a change.
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write("db-2 semisync\n", t0)
	src := File(path)
	if got, ok := src.Get(); !ok || len(got) != 1 || got[0].Host != "db-2" {
		t.Fatalf("first read = %+v %v", got, ok)
	}

	write("db-2 semisync\ndb-3\n", t0.Add(time.Second))
	if got, _ := src.Get(); len(got) != 2 {
		t.Fatalf("after change = %+v, want 2 entries", got)
	}

	write("db-2 semisync\ndb 3 4\n", t0.Add(2*time.Second))
	got, _ := src.Get()
	if len(got) != 2 {
		t.Errorf("after a bad edit = %+v, want the last good inventory", got)
	}
	if src.Err() == nil {
		t.Error("Err() = nil after a bad edit, want the parse error")
	}

	write("db-4\n", t0.Add(3*time.Second))
	if got, _ := src.Get(); len(got) != 1 || got[0].Host != "db-4" || src.Err() != nil {
		t.Errorf("after the fix = %+v, err %v", got, src.Err())
	}
}

func TestStaticSource(t *testing.T) {
	if _, ok := Static(nil, false).Get(); ok {
		t.Error("unconfigured static source says configured")
	}
}
