package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeAt writes text to path with the given mtime. Set explicitly: two
// writes within one clock tick must still be seen as a change.
func writeAt(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestFileSource_RereadsOnChangeAndKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replicas")
	write := func(text string, mtime time.Time) { t.Helper(); writeAt(t, path, text, mtime) }
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

// TestFileSource_specialFiles: an inventory swapped for a named pipe (or
// a symlink to one, or to /dev/zero) never blocks Get, which the health
// monitor calls every poll: the last good inventory stays and Err names
// the file. An inventory swapped for a symlink to a secret file reports
// file:line, never the content (which /status would serve).
func TestFileSource_specialFiles(t *testing.T) {
	const secret = "Zq9s3cr3tHash"
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	shadow := filepath.Join(dir, "shadow")
	if err := os.WriteFile(shadow, []byte("root:$6$"+secret+":19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		swap    func(path string) error
		wantErr string
	}{
		{"named pipe", func(p string) error { return syscall.Mkfifo(p, 0o600) }, "is a named pipe, not a regular file"},
		{"symlink to a named pipe", func(p string) error { return os.Symlink(fifo, p) }, "is a named pipe, not a regular file"},
		{"symlink to /dev/zero", func(p string) error { return os.Symlink("/dev/zero", p) }, "is a character device, not a regular file"},
		{"symlink to a secret file", func(p string) error { return os.Symlink(shadow, p) }, ":1: malformed address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replicas")
			if err := os.WriteFile(path, []byte("db-2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			src := File(path)
			if got, _ := src.Get(); len(got) != 1 {
				t.Fatalf("first read = %+v", got)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := tt.swap(path); err != nil {
				t.Fatal(err)
			}
			got, _ := src.Get() // blocked forever on a named pipe before
			if len(got) != 1 || got[0].Host != "db-2" {
				t.Errorf("after the swap = %+v, want the last good inventory", got)
			}
			err := src.Err()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("Err() = %v, want it to name %s and contain %q", err, path, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "root")) {
				t.Errorf("Err() carries the file's content: %q", err)
			}
			// A named pipe at start fails at once too.
			if fresh := File(path); fresh.Err() == nil {
				t.Error("File on the swapped file: Err() = nil, want an error")
			}
		})
	}
}

// TestFileSource_secretSwappedIn: an inventory swapped for (a link to) the
// password file keeps the last good inventory and is never parsed: the
// password read as a host name before.
func TestFileSource_secretSwappedIn(t *testing.T) {
	dir := t.TempDir()
	path, pw := filepath.Join(dir, "replicas"), filepath.Join(dir, "password")
	writeAt(t, path, "db-2\n", time.Now().Add(-time.Hour))
	writeAt(t, pw, "hunter2\n", time.Now())
	src := File(path, pw, "")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pw, path); err != nil {
		t.Fatal(err)
	}
	got, _ := src.Get()
	if len(got) != 1 || got[0].Host != "db-2" {
		t.Errorf("after the swap = %+v, want the last good inventory", got)
	}
	if err := src.Err(); err == nil || !strings.Contains(err.Error(), "is the same file as "+pw) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Err() = %v, want it to name the secret file and nothing of its content", err)
	}
}

// TestFileSource_emptied: a file truncated in place (no entries, no
// comment) keeps the last good inventory; an inventory emptied on purpose
// says so with a comment line and takes effect once it reads the same on
// the next poll. Before, a truncation resolved every replica.missing.
func TestFileSource_emptied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replicas")
	t0 := time.Now().Add(-time.Hour)
	write := func(text string, mtime time.Time) { t.Helper(); writeAt(t, path, text, mtime) }
	write("db-2\ndb-3\n", t0)
	src := File(path)

	steps := []struct {
		name      string
		write     string // "" keeps the file as it is
		wantHosts int
		wantErr   string
	}{
		{"truncated in place", "\n", 2, "no entries and no comment line"},
		{"still blank on the next poll", "", 2, "no entries and no comment line"},
		{"the writer finished", "db-2\ndb-3\ndb-4\n", 3, ""},
		{"emptied on purpose, first read", "# no replicas expected\n", 3, "emptied; the previous 3 entries stay in force"},
		{"emptied on purpose, confirmed", "", 0, ""},
		{"an empty file after an empty inventory", "\n", 0, ""},
	}
	for i, st := range steps {
		if st.write != "" {
			write(st.write, t0.Add(time.Duration(i+1)*time.Second))
		}
		got, ok := src.Get()
		if !ok || len(got) != st.wantHosts {
			t.Errorf("%s: %d entries (configured %v), want %d", st.name, len(got), ok, st.wantHosts)
		}
		err := src.Err()
		if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
			t.Errorf("%s: Err() = %v, want %q", st.name, err, st.wantErr)
		}
	}
}

func TestStaticSource(t *testing.T) {
	if _, ok := Static(nil, false).Get(); ok {
		t.Error("unconfigured static source says configured")
	}
}
