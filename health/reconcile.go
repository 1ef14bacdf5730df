package health

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// kills are the killable threads of this poll's zombie findings, each with
// the ID of the problem it acts on.
func (e *eval) kills() []Kill {
	var out []Kill
	for _, f := range e.findings {
		if p, ok := e.m.active[f.key()]; ok && f.kill != nil {
			k := *f.kill
			k.ProblemID = p.ID
			out = append(out, k)
		}
	}
	return out
}

// reconcile turns this poll's findings into problems: new ones fire,
// known ones keep their ID and since, gone ones resolve, except where the
// check could not be evaluated (a failed read is not a recovery).
func (m *Memory) reconcile(fs []finding, checks map[string]Check, now time.Time) []Transition {
	next := map[key]Problem{}
	var trs []Transition
	for _, f := range fs {
		k := f.key()
		if _, dup := next[k]; dup {
			continue
		}
		p, known := m.active[k]
		if !known {
			subj := f.subject.String()
			p = Problem{Type: f.typ, Subject: subj, Since: f.since.UTC(), ID: problemID(f.typ, subj, f.since)}
		}
		p.Severity = severityOf(f.typ, f.reason)
		p.Summary, p.Remediation, p.Evidence = f.summary, f.remediation, f.evidence
		next[k] = p
		if !known {
			trs = append(trs, Transition{Problem: p, State: StateFiring, At: now})
		}
	}
	for k, p := range m.active {
		if _, still := next[k]; still {
			continue
		}
		if st := checks[k.check()].State; st == CheckUnknown || st == CheckUnavailable {
			next[k] = p
			continue
		}
		trs = append(trs, Transition{Problem: p, State: StateResolved, At: now})
	}
	slices.SortFunc(trs, func(a, b Transition) int {
		return strings.Compare(a.Problem.Type+" "+a.Problem.Subject+" "+string(a.State), b.Problem.Type+" "+b.Problem.Subject+" "+string(b.State))
	})
	m.active = next
	return trs
}

// problemID is stable for one problem from firing to resolution, and
// different for the same condition coming back later.
func problemID(typ, subject string, since time.Time) string {
	sum := sha256.Sum256([]byte(typ + "\x00" + subject + "\x00" + since.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:8])
}
