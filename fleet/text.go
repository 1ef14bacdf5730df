package fleet

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the view for a terminal or a script: a header line,
// one line per primary (health, stream rate, lag, replicas by status,
// active problems), then one line per finding.
func WriteText(w io.Writer, v View) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "fleet at %s: %d primaries, %d findings\n", v.At.UTC().Format(time.RFC3339), len(v.Primaries), len(v.Findings))
	if len(v.Primaries) > 0 {
		fmt.Fprintln(tw, strings.Join(PrimaryColumns, "\t"))
	}
	for _, p := range v.Primaries {
		fmt.Fprintln(tw, strings.Join(PrimaryCells(p), "\t"))
	}
	if len(v.Findings) > 0 {
		fmt.Fprintln(tw, "FINDING\tSEVERITY\tSUBJECT\tSUMMARY")
	}
	for _, f := range v.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Type, f.Severity, f.Subject, f.Summary)
	}
	return tw.Flush()
}

// PrimaryColumns are the names of a primary's columns in the text view
// and on `sidecar fleet --http`'s page.
var PrimaryColumns = []string{"PRIMARY", "HEALTH", "STREAM", "LAG", "REPLICAS", "PROBLEMS"}

// PrimaryCells are a primary's cells, in the order of PrimaryColumns.
func PrimaryCells(p Primary) []string {
	return []string{primaryName(p), p.Health, streamText(p.Stream), lagText(p.Stream.LagSeconds),
		replicasText(p.Document), problemsText(p.Problems)}
}

func primaryName(p Primary) string {
	n := p.Cluster + "/" + p.Instance
	if p.Stale {
		n += " (stale)"
	}
	return n
}

func streamText(s Stream) string {
	if !s.Connected {
		return "down"
	}
	return strconv.FormatFloat(s.PerSecond, 'f', 1, 64) + " ev/s"
}

func lagText(lag *float64) string {
	if lag == nil {
		return "?"
	}
	return strconv.FormatFloat(*lag, 'f', 1, 64) + "s"
}

func replicasText(d Document) string {
	c := d.Counts()
	var parts []string
	for _, s := range []string{ReplicaConnected, ReplicaMissing, ReplicaUnknown, ReplicaZombie} {
		if c[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func problemsText(ps []Problem) string {
	if len(ps) == 0 {
		return "-"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Type + " " + p.Subject
	}
	return strings.Join(out, ", ")
}

// Filter keeps the entries of one cluster (all when cluster is empty).
// An entry without a document is kept when its key starts with the
// cluster's token (keys are <cluster>.<instance>, each a subject token).
func Filter(entries []Entry, cluster, clusterToken string) []Entry {
	if cluster == "" {
		return entries
	}
	var out []Entry
	for _, e := range entries {
		if (e.Doc != nil && e.Doc.Cluster == cluster) || (e.Doc == nil && strings.HasPrefix(e.Key, clusterToken+".")) {
			out = append(out, e)
		}
	}
	return out
}
