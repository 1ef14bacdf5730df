package events

import (
	"strings"
	"unicode"
)

// Token makes s usable as one NATS subject token. Each '.', '*' and '>'
// (the subject separator and wildcards) and each white-space or control
// character becomes '_'; an empty string becomes "_". Everything else,
// including '-' and ':', is kept. The mapping is not one to one ("db.1" and
// "db_1" give the same token), so cluster and instance names should differ
// in more than those characters.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
}

// Subject returns the NATS subject of an event:
// <prefix>.<cluster>.<instance>.<type>, with cluster and instance made
// subject-safe by Token. typ is the short type, e.g. "replica.missing", so a
// consumer can subscribe to "<prefix>.*.*.replica.>".
func Subject(prefix, cluster, instance, typ string) string {
	return prefix + "." + Token(cluster) + "." + Token(instance) + "." + typ
}
