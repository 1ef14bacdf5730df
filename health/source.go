package health

import (
	"fmt"
	"strings"
)

// unreachableErrnos are client errors of a replica IO thread that mean its
// source does not answer or does not exist (replication-signals.md §5).
var unreachableErrnos = map[int]bool{2002: true, 2003: true, 2005: true, 2006: true, 2013: true}

// sourceUnreachable: this server is a replica whose IO thread cannot reach
// its source, in two consecutive polls.
func (e *eval) sourceUnreachable() {
	const typ = TypeSourceUnreachable
	if !e.need(typ, ReadChannels) {
		return
	}
	before := len(e.findings)
	for _, ch := range e.o.Channels {
		io := strings.ToLower(ch.IORunning)
		if io != "connecting" && io != "no" || !unreachableErrnos[ch.LastIOErrno] {
			continue
		}
		st := e.streak(key{typ: typ, subject: subject{kind: kindChannel, name: ch.Name}})
		if st.n < 2 {
			continue
		}
		e.add(finding{typ: typ, subject: subject{kind: kindSource, name: ch.SourceAddr()}, since: st.since,
			summary: fmt.Sprintf("This server replicates from %s, which does not answer or does not exist (IO thread %s, error %d).",
				ch.SourceAddr(), ch.IORunning, ch.LastIOErrno),
			remediation: e.repoint(ch),
			evidence:    map[string]any{"channel": ch, "polls": st.n, "sql": e.sql(ReadChannels)}})
	}
	e.done(typ, before, "")
}

func (e *eval) repoint(ch Channel) string {
	w := e.words
	change, stop, start, tail := w.change, w.stop, w.start, ""
	switch {
	case w.channelFmt != "":
		tail = fmt.Sprintf(w.channelFmt, ch.Name)
	case ch.Name != "": // MariaDB multi-source: the connection name follows the verb
		q := "'" + ch.Name + "'"
		change, stop, start = "CHANGE MASTER "+q+" TO", stop+" "+q, start+" "+q
	}
	return fmt.Sprintf("Check that %s is the right source and reachable from this server (DNS, firewall, its mysqld); to repoint: %s%s; %s %s='<source>', %s=<port>%s; %s%s; if this server should no longer replicate, RESET SLAVE ALL.",
		ch.SourceAddr(), stop, tail, change, w.host, w.port, tail, start, tail)
}
