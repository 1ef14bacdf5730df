package regfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "inventory")
	if err := os.WriteFile(regular, []byte("db-2:3306\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	toFIFO := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, toFIFO); err != nil {
		t.Fatal(err)
	}
	toRegular := filepath.Join(dir, "link-to-inventory")
	if err := os.Symlink(regular, toRegular); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, make([]byte, MaxSize), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		want    string // content, when it is read
		wantErr error
		wantMsg string
	}{
		{"regular file", regular, "db-2:3306\n", nil, ""},
		{"symlink to a regular file", toRegular, "db-2:3306\n", nil, ""},
		{"exactly the limit", exact, strings.Repeat("\x00", MaxSize), nil, ""},
		// Each of these blocked or never ended with os.ReadFile.
		{"named pipe without a writer", fifo, "", ErrNotRegular, fifo + " is a named pipe, not a regular file"},
		{"symlink to a named pipe", toFIFO, "", ErrNotRegular, toFIFO + " is a named pipe, not a regular file"},
		{"endless device", "/dev/zero", "", ErrNotRegular, "/dev/zero is a character device, not a regular file"},
		{"directory", dir, "", ErrNotRegular, dir + " is a directory, not a regular file"},
		{"over the limit", big, "", ErrTooLarge, big + " is larger than 1 MiB"},
		{"missing", filepath.Join(dir, "none"), "", os.ErrNotExist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFile(tt.path)
			if tt.wantErr == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("ReadFile = %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadFile error = %v, want errors.Is %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("ReadFile error = %q, want %q", err, tt.wantMsg)
			}
			if got != nil {
				t.Errorf("ReadFile returned %d bytes with the error", len(got))
			}
		})
	}
}

// TestReadFile_procFile: files in /proc say size 0 and are read to their
// real end; the limit applies to what is read, not to what Stat says.
func TestReadFile_procFile(t *testing.T) {
	got, err := ReadFile("/proc/self/status")
	if err != nil || !strings.Contains(string(got), "Name:") {
		t.Fatalf("ReadFile(/proc/self/status) = %d bytes, %v", len(got), err)
	}
}
