package main

import (
	"reflect"
	"slices"
	"strings"

	"github.com/rs/zerolog"
)

// envVariables maps each Config field read from the environment to its
// variable, nested prefixes included. Field names are unique across the
// nested structs for exactly this reason.
func envVariables() map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if p, ok := f.Tag.Lookup("envPrefix"); ok {
				walk(f.Type, prefix+p)
				continue
			}
			if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag != "" && tag != "-" {
				out[f.Name] = prefix + tag
			}
		}
	}
	walk(reflect.TypeOf(Config{}), envPrefix)
	return out
}

// knownVariables lists every SIDECAR_* variable the sidecar reads: the
// Config fields' and the ones read by hand. Secrets' _FILE variants are
// fields of their own (MYSQL_PASSWORD_FILE).
func knownVariables() []string {
	// Read by hand: set-but-empty has a meaning.
	out := []string{envPrefix + "NATS_STREAM", envPrefix + "NATS_KV_BUCKET"}
	for _, v := range envVariables() {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// unknownVariable is a SIDECAR_* variable that is set but that the sidecar
// does not read, usually a typo that silently leaves a default in force.
type unknownVariable struct {
	Name    string
	Nearest string // the known name it most likely meant; "" when none is close
}

// maxTypoDistance is how many single-character edits still count as a typo
// of a known name.
const maxTypoDistance = 3

// unknownVariables returns the SIDECAR_* variables in environ the sidecar
// does not know, each with the nearest known name.
func unknownVariables(environ []string) []unknownVariable {
	known := knownVariables()
	var out []unknownVariable
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(known, name) {
			continue
		}
		u := unknownVariable{Name: name}
		best := maxTypoDistance + 1
		for _, k := range known {
			if d := editDistance(name, k); d < best {
				u.Nearest, best = k, d
			}
		}
		out = append(out, u)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes: the
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// warnUnknownVariables logs each SIDECAR_* variable the sidecar does not
// read, with the name it most likely meant: a typo would otherwise leave a
// default in force without a word.
func warnUnknownVariables(log zerolog.Logger, environ []string) {
	for _, u := range unknownVariables(environ) {
		ev := log.Warn().Str("variable", u.Name)
		msg := u.Name + " is not a variable the sidecar reads (deploy/env.example lists them all)"
		if u.Nearest != "" {
			ev = ev.Str("did_you_mean", u.Nearest)
			msg = u.Name + " is not a variable the sidecar reads; did you mean " + u.Nearest + "?"
		}
		ev.Msg(msg)
	}
}
