package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSize is the most a file may hold. The largest legitimate file (a CA
// bundle) is a few hundred KiB; an inventory or option file a few KiB.
const MaxSize = 1 << 20

// Sentinels for errors.Is.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("file too large")
)

// Error says why a file was refused, naming the file, never its content.
type Error struct {
	Path string
	What string // "a named pipe", "a directory", ...; empty for ErrTooLarge
	Err  error  // ErrNotRegular or ErrTooLarge
}

func (e *Error) Error() string {
	if errors.Is(e.Err, ErrTooLarge) {
		return fmt.Sprintf("%s is larger than 1 MiB", e.Path)
	}
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.What)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// ReadFile returns the content of the regular file at path (symlinks
// followed), refusing anything else and anything over MaxSize.
func ReadFile(path string) ([]byte, error) {
	data, _, err := ReadFileInfo(path)
	return data, err
}

// ReadFileInfo is ReadFile that also returns the file's metadata, taken
// from the descriptor the content was read from.
func ReadFileInfo(path string) ([]byte, fs.FileInfo, error) {
	// O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer.
	// Regular files ignore it. O_NOCTTY: a terminal device must not become
	// the process's controlling terminal on the way to being refused.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, &Error{Path: path, What: describe(fi.Mode()), Err: ErrNotRegular}
	}
	if fi.Size() > MaxSize {
		return nil, nil, &Error{Path: path, Err: ErrTooLarge}
	}
	// Sizes from Stat can lie (files in /proc say 0) or change while read:
	// the limit applies to what is read.
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, nil, &Error{Path: path, Err: ErrTooLarge}
	}
	return data, fi, nil
}

// Check reports whether path could be read by ReadFile, without keeping the
// content: for configuration checks of files another library reads later.
func Check(path string) error {
	_, err := ReadFile(path)
	return err
}

func describe(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}
