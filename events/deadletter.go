package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead-letter reasons: why an event can never be delivered as it is, the
// reason label of binlog_sidecar_events_dead_lettered_total.
const (
	// ReasonPayloadTooLarge: over the server's max_payload (or the
	// stream's maximum message size, or the spool's record limit).
	ReasonPayloadTooLarge = "payload_too_large"
	// ReasonInvalidSubject: the server refuses the subject.
	ReasonInvalidSubject = "invalid_subject"
	// ReasonPermission: the connection may not publish to the subject.
	ReasonPermission = "permission"
	// ReasonMalformed: a spool record that does not decode.
	ReasonMalformed = "malformed"
)

// DeadLetterReasons lists every reason, so metrics can expose each at 0.
func DeadLetterReasons() []string {
	return []string{ReasonPayloadTooLarge, ReasonInvalidSubject, ReasonPermission, ReasonMalformed}
}

// Dead-letter file: DataDir/dead-letter.jsonl, one JSON object a line. At
// MaxDeadLetterBytes it is renamed to dead-letter.jsonl.1 (replacing the
// previous one) and a new one starts, so at most twice that is kept. An
// event is kept whole up to deadLetterEventMax bytes, else its head.
const (
	DeadLetterFile     = "dead-letter.jsonl"
	MaxDeadLetterBytes = 16 << 20
	deadLetterEventMax = 64 << 10
	deadLetterHead     = 4 << 10
)

// DeadLetterKey labels a count of dead-lettered events.
type DeadLetterKey struct{ Type, Reason string }

// deadLetter is one line of the dead-letter file.
type deadLetter struct {
	At      time.Time       `json:"at"`
	Reason  string          `json:"reason"`
	Error   string          `json:"error"`
	Subject string          `json:"subject"`
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Bytes   int             `json:"bytes"`
	Event   json.RawMessage `json:"event,omitempty"`
	// EventHead is the start of an event too large to keep whole.
	EventHead string `json:"event_head,omitempty"`
}

// deadLetters keeps events that can never be delivered aside, on disk and
// bounded, and counts them. Safe for concurrent use.
type deadLetters struct {
	path   string
	mu     sync.Mutex
	counts map[DeadLetterKey]uint64
}

func newDeadLetters(dataDir string) *deadLetters {
	d := &deadLetters{path: filepath.Join(dataDir, DeadLetterFile), counts: map[DeadLetterKey]uint64{}}
	for _, t := range Types() {
		for _, r := range DeadLetterReasons() {
			d.counts[DeadLetterKey{t, r}] = 0
		}
	}
	return d
}

// add counts the record (encoded by encodeMsg) and appends it to the file.
// The count stands even when the write fails: the event is gone either way.
func (d *deadLetters) add(data []byte, reason string, cause error) (deadLetter, error) {
	dl := deadLetter{At: time.Now().UTC(), Reason: reason, Error: cause.Error(), Bytes: len(data)}
	subject, id, typ, body, ok := decodeMsg(data)
	if ok {
		dl.Subject, dl.ID, dl.Type = subject, id, typ
	} else {
		body = data
	}
	if len(body) <= deadLetterEventMax && json.Valid(body) {
		dl.Event = body
	} else {
		dl.EventHead = strings.ToValidUTF8(string(body[:min(len(body), deadLetterHead)]), "?")
	}
	line, err := json.Marshal(dl)
	if err != nil {
		return dl, fmt.Errorf("dead-letter: %w", err)
	}
	line = append(line, '\n')

	d.mu.Lock()
	defer d.mu.Unlock()
	typeLabel := typ
	if _, known := d.counts[DeadLetterKey{typ, reason}]; !known {
		typeLabel = "other" // a type this version does not know (an old spool)
	}
	d.counts[DeadLetterKey{typeLabel, reason}]++
	return dl, d.write(line)
}

func (d *deadLetters) write(line []byte) error {
	if st, err := os.Stat(d.path); err == nil && st.Size()+int64(len(line)) > MaxDeadLetterBytes {
		if err := os.Rename(d.path, d.path+".1"); err != nil {
			return fmt.Errorf("dead-letter: rotate: %w", err)
		}
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	_, werr := f.Write(line)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	return nil
}

func (d *deadLetters) snapshot() map[DeadLetterKey]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[DeadLetterKey]uint64, len(d.counts))
	for k, v := range d.counts {
		out[k] = v
	}
	return out
}

// permanentReason says why err means the record can never be published as
// it is however often it is retried (a reason), or "" for an error that a
// retry may cure (a disconnect, a timeout, a stream being created).
func permanentReason(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return ReasonPayloadTooLarge
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return ReasonPayloadTooLarge
	case errors.Is(err, nats.ErrBadSubject):
		return ReasonInvalidSubject
	case errors.Is(err, nats.ErrPermissionViolation):
		return ReasonPermission
	}
	return ""
}

// validSubject reports whether a subject can be published to: tokens
// separated by '.', none empty, no white space or control characters, no
// wildcard.
func validSubject(s string) bool {
	if s == "" {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f {
				return false
			}
		}
	}
	return true
}

// denials remembers the subjects the server refused a publish to
// (permission violations arrive asynchronously, without the message).
type denials struct {
	mu   sync.Mutex
	subj map[string]time.Time
}

// maxDenials bounds the subjects remembered.
const maxDenials = 1024

// record notes a permission violation reported by the server.
func (d *denials) record(err error) {
	const marker = `Publish to "`
	msg := err.Error()
	i := strings.Index(msg, marker)
	if !errors.Is(err, nats.ErrPermissionViolation) || i < 0 {
		return
	}
	subject, _, _ := strings.Cut(msg[i+len(marker):], `"`)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.subj == nil || len(d.subj) >= maxDenials {
		d.subj = map[string]time.Time{}
	}
	d.subj[subject] = time.Now()
}

// since reports whether a publish to subject was refused at or after t.
func (d *denials) since(subject string, t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.subj[subject]
	return ok && !at.Before(t)
}
