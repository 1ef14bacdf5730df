package health

import "strconv"

// key names an active problem, or a condition a rule counts over
// consecutive polls: the rule's problem type and what it is about. Keys are
// compared whole and never parsed: the parts a decision needs are fields.
type key struct {
	typ     string
	subject subject
}

// check is the check whose state decides whether a problem under this key
// may resolve: a failed read of the replica-side half (the server's own
// channels) must not resolve, nor freeze, the dump-thread half.
func (k key) check() string {
	if k.subject.kind == kindChannel {
		return k.typ + channelCheck
	}
	return k.typ
}

// subject is the object a problem is about, in parts; String is the
// published Problem.Subject ("replica/db-2:3306", "thread/42", "stream").
type subject struct {
	kind   string // one of the kinds below
	name   string // the address, channel, reason, check or identity; empty for a lone kind
	thread uint64 // the dump thread's id, for kindThread and the streak-only kinds
}

// Subject kinds. The last two name conditions a rule counts before they
// become a dump_thread.zombie problem (subject kindThread); they are never
// published.
const (
	kindStream     = "stream"
	kindReplica    = "replica"
	kindThread     = "thread"
	kindChannel    = "channel"
	kindSemiSync   = "semisync"
	kindSource     = "source"
	kindCheck      = "check"
	kindCanary     = "canary"
	kindUnanswered = "unanswered"
	kindSuperseded = "superseded"
)

// String is the subject as events and /status carry it.
func (s subject) String() string {
	switch {
	case s.kind == kindThread:
		return ThreadSubject(s.thread)
	case s.name == "":
		return s.kind
	}
	return s.kind + "/" + s.name
}

// ThreadSubject is the subject of an event about one dump thread.
func ThreadSubject(id uint64) string { return "thread/" + strconv.FormatUint(id, 10) }

func threadSubject(id uint64) subject { return subject{kind: kindThread, thread: id} }
