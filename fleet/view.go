package fleet

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Finding types, the short event types of the problems `sidecar fleet
// --publish` sends.
const (
	TypeReplicaMisdirected = "fleet.replica_misdirected"
	TypeReplicaShared      = "fleet.replica_shared"
	TypeSidecarSilent      = "fleet.sidecar_silent"
	TypeServerIDConflict   = "fleet.server_id_conflict"
)

// FindingTypes lists every finding type.
func FindingTypes() []string {
	return []string{TypeReplicaMisdirected, TypeReplicaShared, TypeSidecarSilent, TypeServerIDConflict}
}

// Entry is one key of the bucket as last read. Doc is nil when the key is
// gone and its value was never seen (a delete marker read on its own).
// Updated is the server's time of the last put (zero: unknown, the
// document's own time is used). Gone marks a key deleted or expired.
type Entry struct {
	Key     string
	Doc     *Document
	Updated time.Time
	Gone    bool
}

// View is the fleet at one moment: every primary and the findings.
type View struct {
	At        time.Time `json:"at"`
	Primaries []Primary `json:"primaries"`
	Findings  []Finding `json:"findings"`
}

// Primary is a document with whether it is stale: not updated for
// StaleAfter periods, or its key gone.
type Primary struct {
	Document
	Stale bool `json:"stale"`
}

// Finding is a fault seen across primaries. Subject names what it is
// about (replica/ADDR, sidecar/CLUSTER/INSTANCE, server_id/N); together
// with Type it identifies the finding from one computation to the next.
type Finding struct {
	Type     string   `json:"type"`
	Subject  string   `json:"subject"`
	Severity string   `json:"severity"`
	Summary  string   `json:"summary"`
	Evidence Evidence `json:"evidence"`
}

// Evidence is what a finding rests on; fields not relevant to its type are
// left out.
type Evidence struct {
	// ExpectedBy are the primaries (cluster/instance) that expect the
	// replica and see it missing; ConnectedTo those it is connected to.
	ExpectedBy  []string `json:"expected_by,omitempty"`
	ConnectedTo []string `json:"connected_to,omitempty"`
	// Key is the bucket key of a silent sidecar, LastAt its last put
	// (zero when never seen), Gone whether the key was removed.
	Key    string    `json:"key,omitempty"`
	LastAt time.Time `json:"last_at,omitzero"`
	Gone   bool      `json:"gone,omitempty"`
	// ServerID and Holders: the id used twice and who uses it
	// ("server cluster/instance", "sidecar cluster/instance", "replica ADDR").
	ServerID uint32   `json:"server_id,omitempty"`
	Holders  []string `json:"holders,omitempty"`
}

// Severities of findings, as the problem events name them.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Compute builds the view of entries at now; every is the sidecars' put
// period (DefaultEvery when zero). Primaries are sorted by cluster and
// instance, findings by type and subject, so that two computations of
// one bucket are equal.
func Compute(entries []Entry, now time.Time, every time.Duration) View {
	if every <= 0 {
		every = DefaultEvery
	}
	v := View{At: now, Primaries: []Primary{}, Findings: []Finding{}}
	var live []Document
	for _, e := range entries {
		stale := e.Gone || now.Sub(lastPut(e)) > StaleAfter*every
		if stale {
			v.Findings = append(v.Findings, silent(e, now))
		}
		if e.Doc == nil {
			continue
		}
		v.Primaries = append(v.Primaries, Primary{Document: *e.Doc, Stale: stale})
		if !stale {
			live = append(live, *e.Doc)
		}
	}
	slices.SortFunc(v.Primaries, func(a, b Primary) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Instance, b.Instance))
	})
	slices.SortFunc(live, func(a, b Document) int { return cmp.Compare(name(a), name(b)) })
	v.Findings = append(v.Findings, misdirected(live)...)
	v.Findings = append(v.Findings, shared(live)...)
	v.Findings = append(v.Findings, conflicts(live)...)
	slices.SortFunc(v.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Subject, b.Subject))
	})
	return v
}

// lastPut is when the entry was last written: the server's time when
// known (the sidecar's clock may be off), else the document's.
func lastPut(e Entry) time.Time {
	switch {
	case !e.Updated.IsZero():
		return e.Updated
	case e.Doc != nil:
		return e.Doc.At
	}
	return time.Time{}
}

func name(d Document) string { return d.Cluster + "/" + d.Instance }

func silent(e Entry, now time.Time) Finding {
	who := e.Key
	if e.Doc != nil {
		who = name(*e.Doc)
	}
	f := Finding{Type: TypeSidecarSilent, Subject: "sidecar/" + who, Severity: SeverityWarning,
		Evidence: Evidence{Key: e.Key, LastAt: lastPut(e), Gone: e.Gone}}
	switch {
	case e.Gone:
		f.Summary = fmt.Sprintf("sidecar %s stopped updating its status: its key was removed", who)
	default:
		f.Summary = fmt.Sprintf("sidecar %s has not updated its status for %s", who, now.Sub(f.Evidence.LastAt).Round(time.Second))
	}
	return f
}

// connected is every replica connected to a primary (any status but
// missing), with the primary's name.
type attachment struct {
	primary string
	replica Replica
}

func attachments(docs []Document) []attachment {
	var out []attachment
	for _, d := range docs {
		for _, r := range d.Replicas {
			if r.Status != ReplicaMissing {
				out = append(out, attachment{primary: name(d), replica: r})
			}
		}
	}
	return out
}

// misdirected: a replica in one primary's inventory, missing there, and
// connected to another primary.
func misdirected(docs []Document) []Finding {
	atts := attachments(docs)
	var out []Finding
	for _, d := range docs {
		for _, r := range d.Replicas {
			if r.Status != ReplicaMissing {
				continue
			}
			item := inventoryItem(d, r.Address)
			var to []string
			for _, a := range atts {
				if a.primary != name(d) && sameReplica(item, a.replica.Address) {
					to = append(to, a.primary)
				}
			}
			if len(to) == 0 {
				continue
			}
			to = uniq(to)
			out = append(out, Finding{Type: TypeReplicaMisdirected, Subject: "replica/" + r.Address, Severity: SeverityCritical,
				Summary: fmt.Sprintf("replica %s is expected by %s, missing there, and replicating from %s",
					r.Address, name(d), strings.Join(to, ", ")),
				Evidence: Evidence{ExpectedBy: []string{name(d)}, ConnectedTo: to}})
		}
	}
	return out
}

func inventoryItem(d Document, addr string) InventoryItem {
	for _, it := range d.Inventory {
		if it.Address == addr {
			return it
		}
	}
	return InventoryItem{Address: addr}
}

// sameReplica reports whether a replica seen at addr (host:port from its
// registration, or a bare IP from its connection) is the inventory item:
// the same address, or the same port on one of the addresses its name
// resolved to (a bare IP matches on the host alone).
func sameReplica(item InventoryItem, addr string) bool {
	if addr == item.Address {
		return true
	}
	wantHost, wantPort := splitAddr(item.Address)
	host, port := splitAddr(addr)
	if port != "" && port != wantPort {
		return false
	}
	return host == wantHost || slices.Contains(item.IPs, host)
}

func splitAddr(addr string) (host, port string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	return h, p
}

// shared: one replica connected to two primaries, by server_id when it
// registered one, else by address.
func shared(docs []Document) []Finding {
	by := map[string][]string{}
	var keys []string
	for _, a := range attachments(docs) {
		k := "replica/" + a.replica.Address
		if a.replica.ServerID != 0 {
			k = "server_id/" + strconv.FormatUint(uint64(a.replica.ServerID), 10)
		}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], a.primary)
	}
	var out []Finding
	for _, k := range keys {
		ps := uniq(by[k])
		if len(ps) < 2 {
			continue
		}
		out = append(out, Finding{Type: TypeReplicaShared, Subject: k, Severity: SeverityCritical,
			Summary:  fmt.Sprintf("%s is connected to %d primaries: %s", strings.Replace(k, "/", " ", 1), len(ps), strings.Join(ps, ", ")),
			Evidence: Evidence{ConnectedTo: ps}})
	}
	return out
}

// conflicts: one server_id held by two primaries, two sidecars, or a
// sidecar and any server. Replicas are compared with sidecars only: one
// replica seen by two primaries under two names (a host name here, an IP
// there) would look like two replicas sharing an id, and a replica that is
// itself a watched primary (a chain) holds its id twice legitimately.
func conflicts(docs []Document) []Finding {
	// who names a holder; key tells holders apart (two sidecars of one
	// server list that server twice under one key).
	type holder struct{ kind, key, who string }
	by := map[uint32][]holder{}
	add := func(id uint32, h holder) {
		if id != 0 && !slices.ContainsFunc(by[id], func(o holder) bool { return o.kind == h.kind && o.key == h.key }) {
			by[id] = append(by[id], h)
		}
	}
	// A sidecar is itself a replica of the primary it watches: another
	// sidecar of that primary lists it, and that is no conflict.
	type watcher struct {
		server string
		id     uint32
	}
	sidecars := map[watcher]bool{}
	for _, d := range docs {
		sidecars[watcher{serverIdentity(d), d.SidecarServerID}] = true
	}
	for _, d := range docs {
		add(d.Server.ServerID, holder{"server", serverIdentity(d), name(d)})
		add(d.SidecarServerID, holder{"sidecar", name(d), name(d)})
		for _, r := range d.Replicas {
			if r.Status != ReplicaMissing && !sidecars[watcher{serverIdentity(d), r.ServerID}] {
				add(r.ServerID, holder{"replica", r.Address, r.Address})
			}
		}
	}
	var out []Finding
	for id, hs := range by {
		count := map[string]int{}
		for _, h := range hs {
			count[h.kind]++
		}
		clash := count["server"] > 1 || count["sidecar"] > 1 ||
			(count["sidecar"] > 0 && len(hs) > count["sidecar"])
		if !clash {
			continue
		}
		names := make([]string, len(hs))
		for i, h := range hs {
			names[i] = h.kind + " " + h.who
		}
		slices.Sort(names)
		out = append(out, Finding{Type: TypeServerIDConflict, Subject: "server_id/" + strconv.FormatUint(uint64(id), 10),
			Severity: SeverityCritical,
			Summary:  fmt.Sprintf("server_id %d is used by %s: MariaDB and MySQL evict one of two connections with one server_id", id, strings.Join(names, " and ")),
			Evidence: Evidence{ServerID: id, Holders: names}})
	}
	return out
}

// serverIdentity tells two sidecars of one server from two servers: the
// server_uuid where there is one (MySQL); on MariaDB, which has none, the
// server_id, version and binlog base name, so that two primaries with one
// server_id are told apart when their binlog names differ (a conflict
// between two servers alike in all three is missed rather than one server
// reported as two).
func serverIdentity(d Document) string {
	if d.Server.ServerUUID != "" {
		return d.Server.ServerUUID
	}
	base, _, _ := strings.Cut(d.Stream.Position.File, ".")
	return fmt.Sprintf("%d %s %s %s", d.Server.ServerID, d.Server.Flavor, d.Server.Version, base)
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// ProblemID is the finding's stable problem id: the same type and subject
// give the same id in every `sidecar fleet --publish`, so that several of
// them agree on which problem a transition belongs to.
func (f Finding) ProblemID() string {
	sum := sha256.Sum256([]byte(f.Type + "\x00" + f.Subject))
	return "fleet-" + hex.EncodeToString(sum[:8])
}

// SameView reports whether a and b show the same fleet but for the
// figures that move all the time: the same primaries in the same state
// (SameState), equally stale, and the same findings. A reader that prints
// a view only when it changed (the live view into a pipe) uses it.
func SameView(a, b View) bool {
	return slices.EqualFunc(a.Primaries, b.Primaries, func(x, y Primary) bool {
		return x.Stale == y.Stale && SameState(x.Document, y.Document)
	}) && slices.EqualFunc(a.Findings, b.Findings, func(x, y Finding) bool {
		return x.Type == y.Type && x.Subject == y.Subject
	})
}
