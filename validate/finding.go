package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Severity is how bad a finding is; the values are the contract's.
type Severity string

// Severities. An error is a configuration that breaks replication or hides
// a failure; it makes `sidecar validate` exit 1.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one problem, located at the line that causes it (Line 0 when
// the problem is a missing line, or a live value).
type Finding struct {
	ID       string   `json:"id"` // check number, "V1" … "V19"
	Severity Severity `json:"severity"`
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// String is the text form: `file:line: severity [Vn] message (fix: …)`.
func (f Finding) String() string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			b.WriteString(":" + strconv.Itoa(f.Line))
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s [%s] %s", f.Severity, f.ID, f.Message)
	if f.Fix != "" {
		fmt.Fprintf(&b, " (fix: %s)", f.Fix)
	}
	return b.String()
}

// Summary counts findings by severity.
type Summary struct {
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Infos    int      `json:"infos"`
	Servers  []string `json:"servers"`
}

// Summarize counts the findings; servers names what was checked.
func Summarize(fs []Finding, servers []string) Summary {
	s := Summary{Servers: servers}
	if s.Servers == nil {
		s.Servers = []string{}
	}
	for _, f := range fs {
		switch f.Severity {
		case SeverityError:
			s.Errors++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	return s
}

// WriteText writes one line per finding and a closing summary line.
func WriteText(w io.Writer, fs []Finding, s Summary) error {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	fmt.Fprintf(&b, "%d error(s), %d warning(s), %d info in %s\n", s.Errors, s.Warnings, s.Infos, strings.Join(s.Servers, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is the JSON form of a validation.
type Report struct {
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
}

// WriteJSON writes {"findings": [...], "summary": {...}}.
func WriteJSON(w io.Writer, fs []Finding, s Summary) error {
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // people read it: log_bin=<basename> as written
	return enc.Encode(Report{Findings: fs, Summary: s})
}

// tidy drops duplicates (several views of one file report the same line)
// and sorts by place, then check number.
func tidy(fs []Finding) []Finding {
	seen := map[Finding]bool{}
	out := fs[:0]
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if idNum(a.ID) != idNum(b.ID) {
			return idNum(a.ID) < idNum(b.ID)
		}
		return rank[a.Severity] < rank[b.Severity]
	})
	return out
}

var rank = map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}

func idNum(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "V"))
	return n
}
