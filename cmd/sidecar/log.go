package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// parseLevel accepts the five named levels only: zerolog also takes
// numbers ("-5"), "fatal", "panic", "disabled" and "", which would silence
// the sidecar's own warnings without anyone choosing so by name.
func parseLevel(s string) (zerolog.Level, error) {
	switch l := strings.ToLower(s); l {
	case "trace", "debug", "info", "warn", "error":
		return zerolog.ParseLevel(l)
	}
	return zerolog.NoLevel, fmt.Errorf("unknown log level %q", s)
}

var timeFormatOnce sync.Once

// newLogger is the only place a root logger is built; components get
// children with a `component` field.
func newLogger(w io.Writer, level, format string) zerolog.Logger {
	lvl, err := parseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	// Every component logs from its own goroutines: serialise the writes,
	// since run may be handed any io.Writer, not only a file.
	w = zerolog.SyncWriter(w)
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	// A package global of zerolog's: set once, since several daemons may
	// run in one process (the tests) and each would write it.
	timeFormatOnce.Do(func() { zerolog.TimeFieldFormat = time.RFC3339Nano })
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}
