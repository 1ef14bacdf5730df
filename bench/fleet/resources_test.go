package fleetbench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testnats"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// CPU times (100 on every Linux this runs on).
const clockTicks = 100

// nodeSample is one nats-server process at one moment.
type nodeSample struct {
	name     string
	cpuTicks int64 // utime + stime
	rssBytes int64
	varz     testnats.Varz
}

// resources are the three nodes at one moment.
type resources struct {
	at    time.Time
	nodes []nodeSample
}

func sample(t *testing.T, ctx context.Context, nodes []*testnats.Server) resources {
	t.Helper()
	r := resources{at: time.Now()}
	for _, n := range nodes {
		s := nodeSample{name: n.Name()}
		var err error
		if s.cpuTicks, s.rssBytes, err = procFigures(n.PID()); err != nil {
			t.Fatal(err)
		}
		if s.varz, err = n.Varz(ctx); err != nil {
			t.Fatal(err)
		}
		r.nodes = append(r.nodes, s)
	}
	return r
}

// procFigures reads a process's CPU time (ticks) and resident memory.
func procFigures(pid int) (ticks, rss int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces) start at state.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return utime + stime, rss, nil
}

// loadavg is /proc/loadavg's three load averages, as uptime prints them.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], ", ")
}

// percentile is the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// table renders the results as a Markdown table: the change-to-view
// latency, and per node its CPU (percent of one core over the window),
// resident memory at the end, and messages and bytes per second in and
// out (clients and routes, from /varz).
func table(lat []time.Duration, before, after resources) string {
	slices.Sort(lat)
	secs := after.at.Sub(before.at).Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "change → view: p50 %v, p99 %v, max %v (%d changes)\n\n", percentile(lat, 50).Round(time.Millisecond),
		percentile(lat, 99).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond), len(lat))
	b.WriteString("| node | CPU (% of a core) | RSS (MiB) | msgs/s in | msgs/s out | KB/s in | KB/s out |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	var cpu, rss, min, mout, bin, bout float64
	for i, a := range after.nodes {
		o := before.nodes[i]
		row := [6]float64{
			float64(a.cpuTicks-o.cpuTicks) / clockTicks / secs * 100, float64(a.rssBytes) / (1 << 20),
			float64(a.varz.InMsgs-o.varz.InMsgs) / secs, float64(a.varz.OutMsgs-o.varz.OutMsgs) / secs,
			float64(a.varz.InBytes-o.varz.InBytes) / secs / 1000, float64(a.varz.OutBytes-o.varz.OutBytes) / secs / 1000,
		}
		cpu, rss, min, mout, bin, bout = cpu+row[0], rss+row[1], min+row[2], mout+row[3], bin+row[4], bout+row[5]
		fmt.Fprintf(&b, "| %s | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", a.name, row[0], row[1], row[2], row[3], row[4], row[5])
	}
	fmt.Fprintf(&b, "| all three | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", cpu, rss, min, mout, bin, bout)
	return b.String()
}
