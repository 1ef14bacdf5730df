package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestUnknownVariables(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []unknownVariable
	}{
		{"known names, and not ours", []string{"SIDECAR_MYSQL_PASSWORD=x", "SIDECAR_MYSQL_PASSWORD_FILE=/run/s", "SIDECAR_NATS_STREAM=",
			"SIDECAR_NATS_SUBJECT_PREFIX=a.b", "SIDECAR_SPOOL_MAX_BYTES=1GiB", "HOME=/root", "MYSQL_PWD=x"}, nil},
		{"a typo names the variable it meant", []string{"SIDECAR_MYSQL_PASWORD=secret"},
			[]unknownVariable{{Name: "SIDECAR_MYSQL_PASWORD", Nearest: "SIDECAR_MYSQL_PASSWORD"}}},
		{"a swapped word", []string{"SIDECAR_INTERVAL_POLL=1s", "SIDECAR_POLL_INTERVALL=1s"},
			[]unknownVariable{{Name: "SIDECAR_INTERVAL_POLL"}, {Name: "SIDECAR_POLL_INTERVALL", Nearest: "SIDECAR_POLL_INTERVAL"}}},
		{"a _FILE variant of a variable that holds no secret", []string{"SIDECAR_MYSQL_USER_FILE=/x"},
			[]unknownVariable{{Name: "SIDECAR_MYSQL_USER_FILE"}}},
		{"nothing close", []string{"SIDECAR_FROBNICATE=1"}, []unknownVariable{{Name: "SIDECAR_FROBNICATE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unknownVariables(tt.environ); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The warning names the variable and the likely meant one, never the value.
func TestWarnUnknownVariables(t *testing.T) {
	var buf bytes.Buffer
	warnUnknownVariables(zerolog.New(&buf), []string{"SIDECAR_MYSQL_PASWORD=hunter2", "SIDECAR_MYSQL_USER=sidecar"})
	out := buf.String()
	if !strings.Contains(out, `"variable":"SIDECAR_MYSQL_PASWORD"`) || !strings.Contains(out, `"did_you_mean":"SIDECAR_MYSQL_PASSWORD"`) ||
		!strings.Contains(out, `"level":"warn"`) || strings.Contains(out, "hunter2") || strings.Count(out, "\n") != 1 {
		t.Errorf("warning %q: want one warn line naming both names and not the value", out)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"PASWORD", "PASSWORD", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 2}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
