package main

import (
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

func parseLevel(s string) (zerolog.Level, error) {
	return zerolog.ParseLevel(strings.ToLower(s))
}

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
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}
