package health

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
)

// replica is one server replicating from this one, as identified in a poll.
type replica struct {
	// key is the identity that survives reconnects: the server_id when the
	// replica registered, else its address and user.
	key     string
	reg     *Registration
	ips     []string     // resolved addresses of reg.Host
	threads []DumpThread // threads[0] serves it now; the rest are superseded
	// exact is false when threads were paired with reg by connection
	// address among several candidates, so which is which is a guess.
	exact bool
	entry *inventory.Entry
}

// current is the thread serving the replica now, if any.
func (r *replica) current() (DumpThread, bool) {
	if len(r.threads) == 0 {
		return DumpThread{}, false
	}
	return r.threads[0], true
}

// addr is how the replica is named: the inventory's address, else the
// registered one, else the connection's IP.
func (r *replica) addr() string {
	switch {
	case r.entry != nil:
		return r.entry.Addr()
	case r.reg != nil && r.reg.Host != "":
		return r.reg.Addr()
	case len(r.threads) > 0:
		return r.threads[0].IP()
	}
	return "server_id " + strconv.FormatUint(uint64(r.reg.ServerID), 10)
}

// probeAddr is where the replica's own server should answer a handshake;
// empty when its port is unknown.
func (r *replica) probeAddr() string {
	switch {
	case r.entry != nil:
		return r.entry.Addr()
	case r.reg == nil || r.reg.Port == 0:
		return ""
	case r.reg.Host != "":
		return r.reg.Addr()
	case len(r.threads) > 0: // MySQL without report_host: the connection's IP
		return net.JoinHostPort(r.threads[0].IP(), itoa(r.reg.Port))
	}
	return ""
}

// topology is who replicates from this server in one poll.
type topology struct {
	self     []DumpThread // the sidecar's own stream
	replicas []*replica
	missing  []inventory.Entry // expected, with no replica this poll
}

// identify maps dump threads to registrations, the sidecar and inventory
// entries. Its steps are the rules, in order: registered, matchUUIDs,
// selfByElimination, pairByIP, joinSuperseded, unregistered; then the
// inventory entries are matched (matchInventory).
//
// The sidecar's registration is the one with its server_id and, when
// selfHost is set, that Host (the name the stream registers under): a real
// replica that uses the sidecar's server_id is a replica, not the sidecar.
func identify(o Observation, entries []inventory.Entry, resolved map[string][]string, selfID uint32, selfHost string, selfThread uint64) topology {
	id := identifier{user: o.User, byUUID: map[string]*replica{}}
	id.registered(o.Replicas, resolved, selfID, selfHost)
	id.matchUUIDs(sortedThreads(o.DumpThreads, resolved), selfThread)
	id.selfByElimination()
	id.pairByIP()
	id.joinSuperseded()
	id.unregistered()
	id.t.missing = matchInventory(id.t.replicas, entries, resolved)
	return id.t
}

// identifier is identify in progress: the topology so far and the threads
// that no step has placed yet.
type identifier struct {
	t       topology
	user    string // the sidecar's account
	selfReg *Registration
	byUUID  map[string]*replica // registered replicas by Replica_UUID (MySQL)
	// pending are threads for pairByIP, orphans threads with a UUID no
	// registration has, leftover threads no registration took.
	pending, orphans, leftover []DumpThread
	// ambiguousIP is the IP of the sidecar's thread when selfByElimination
	// had several of its user to choose from: no pairing there is exact.
	ambiguousIP string
}

// registered: every registration is a replica, except one with the
// sidecar's server_id (and register host), which is the sidecar's, never
// a replica's.
func (id *identifier) registered(regs []Registration, resolved map[string][]string, selfID uint32, selfHost string) {
	for i := range regs {
		reg := &regs[i]
		if isSelfRegistration(*reg, selfID, selfHost) {
			id.selfReg = reg
			continue
		}
		r := &replica{key: "server_id:" + strconv.FormatUint(uint64(reg.ServerID), 10), reg: reg,
			ips: hostIPs(reg.Host, resolved), exact: true}
		id.t.replicas = append(id.t.replicas, r)
		if reg.UUID != "" {
			id.byUUID[reg.UUID] = r
		}
	}
}

// sortedThreads are the dump threads newest first, each named by host
// name given the address that name resolved to.
func sortedThreads(dump []DumpThread, resolved map[string][]string) []DumpThread {
	threads := slices.Clone(dump)
	for i, th := range threads {
		if name := strings.ToLower(th.hostPart()); name != "localhost" && net.ParseIP(name) == nil {
			if ips := resolved[name]; len(ips) > 0 {
				threads[i].ResolvedIP = normalIP(ips[0])
			}
		}
	}
	slices.SortFunc(threads, func(a, b DumpThread) int { return cmpDesc(a.ID, b.ID) })
	return threads
}

// matchUUIDs places the threads whose identity is certain. The sidecar's
// thread is the one whose connection id the stream reports, or (MySQL) the
// one with its registration's UUID. MySQL: a thread's @replica_uuid equal
// to a registration's Replica_UUID is exact. A thread with a UUID that no
// registration has, while a registered thread of the same IP and user
// exists, was superseded (registrations are keyed by server_id, so a newer
// connection replaced its row): it waits for joinSuperseded. The rest wait
// for selfByElimination and pairByIP.
func (id *identifier) matchUUIDs(threads []DumpThread, selfThread uint64) {
	for _, th := range threads {
		switch {
		case selfThread != 0 && th.ID == selfThread:
			id.t.self = append(id.t.self, th)
		case th.ReplicaUUID != "" && id.selfReg != nil && th.ReplicaUUID == id.selfReg.UUID:
			id.t.self = append(id.t.self, th)
		case th.ReplicaUUID != "" && id.byUUID[th.ReplicaUUID] != nil:
			r := id.byUUID[th.ReplicaUUID]
			r.threads = append(r.threads, th)
		case th.ReplicaUUID != "" && len(id.byUUID) > 0:
			id.orphans = append(id.orphans, th) // superseded if a sibling exists
		default:
			id.pending = append(id.pending, th)
		}
	}
}

// selfByElimination: without a connection id or UUID (MariaDB has no
// UUIDs), the sidecar's thread is the newest of the sidecar's user among
// those its IP's registrations leave over: a thread on an IP with more
// threads than registrations is preferred.
func (id *identifier) selfByElimination() {
	if len(id.t.self) > 0 || id.selfReg == nil {
		return
	}
	best, inSurplus, n := -1, false, 0
	for i, th := range id.pending {
		if th.User != id.user {
			continue
		}
		n++
		surplus := countIP(id.pending, th.IP()) > len(id.candidates(th.IP()))
		if best < 0 || surplus && !inSurplus {
			best, inSurplus = i, surplus
		}
	}
	if best < 0 {
		return
	}
	id.t.self = append(id.t.self, id.pending[best])
	if n > 1 {
		id.ambiguousIP = id.pending[best].IP()
	}
	id.pending = slices.Delete(id.pending, best, best+1)
}

// pairByIP: the remaining threads pair with registrations whose host
// resolves to the thread's IP: exact when the IP has one thread and one
// registration, a guess (exact=false) when several replicas share an IP.
// A last single thread and single registration left pair exactly: a
// registration exists only while its thread does.
func (id *identifier) pairByIP() {
	for _, ip := range sortedIPs(id.pending) {
		var ths []DumpThread
		for _, th := range id.pending {
			if th.IP() == ip {
				ths = append(ths, th)
			}
		}
		cands := id.candidates(ip)
		exact := len(ths) == 1 && len(cands) == 1 && ip != id.ambiguousIP
		for i := range min(len(ths), len(cands)) {
			cands[i].threads = append(cands[i].threads, ths[i])
			cands[i].exact = exact
		}
		if len(ths) > len(cands) {
			id.leftover = append(id.leftover, ths[len(cands):]...)
		}
	}
	if rest := id.threadless(); len(id.leftover) == 1 && len(rest) == 1 {
		rest[0].threads = append(rest[0].threads, id.leftover[0])
		id.leftover = nil
	}
}

// joinSuperseded: a thread matchUUIDs found superseded joins the registered
// replica with a thread of the same IP and user; a lone one is a reader.
func (id *identifier) joinSuperseded() {
	for _, th := range id.orphans {
		if r := sibling(id.t.replicas, th); r != nil {
			r.threads = append(r.threads, th)
			continue
		}
		id.leftover = append(id.leftover, th)
	}
}

// unregistered: threads left are unregistered readers, one identity per
// IP and user. A leftover thread of the sidecar's own account is an
// earlier stream of the sidecar (go-mysql sends a new replica UUID on
// every connect, so a thread left by a restarted sidecar matches nothing):
// it is never a replica. The price: a real replica that borrowed the
// sidecar's account would be hidden here, so give replicas their own.
func (id *identifier) unregistered() {
	byAddr := map[string]*replica{}
	for _, th := range id.leftover {
		if id.user != "" && th.User == id.user {
			id.t.self = append(id.t.self, th)
			continue
		}
		key := "ip:" + th.IP() + " user:" + th.User
		r := byAddr[key]
		if r == nil {
			r = &replica{key: key, exact: true}
			byAddr[key] = r
			id.t.replicas = append(id.t.replicas, r)
		}
		r.threads = append(r.threads, th)
	}
}

// threadless are the replicas no thread is paired with yet.
func (id *identifier) threadless() []*replica {
	var out []*replica
	for _, r := range id.t.replicas {
		if len(r.threads) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// candidates are the threadless replicas whose host resolves to ip.
func (id *identifier) candidates(ip string) []*replica {
	var out []*replica
	for _, r := range id.threadless() {
		if slices.Contains(r.ips, ip) {
			out = append(out, r)
		}
	}
	return out
}

// matchInventory sets each replica's entry and returns the entries that no
// replica matched. Inventory entries match a registered replica by host
// name or resolved IP plus port, and an unregistered one by IP.
func matchInventory(replicas []*replica, entries []inventory.Entry, resolved map[string][]string) []inventory.Entry {
	used := make([]bool, len(entries))
	match := func(r *replica, ok func(e inventory.Entry) bool) {
		for i, e := range entries {
			if !used[i] && ok(e) {
				used[i], r.entry = true, &entries[i]
				return
			}
		}
	}
	for _, r := range replicas {
		if r.reg == nil {
			continue
		}
		match(r, func(e inventory.Entry) bool {
			if r.reg.Port != 0 && r.reg.Port != e.Port {
				return false
			}
			ips := hostIPs(e.Host, resolved)
			if strings.EqualFold(e.Host, r.reg.Host) || intersects(ips, r.ips) {
				return true
			}
			th, ok := r.current()
			return r.reg.Host == "" && ok && slices.Contains(ips, th.IP())
		})
	}
	for _, r := range replicas {
		if th, ok := r.current(); r.reg == nil && ok {
			match(r, func(e inventory.Entry) bool { return slices.Contains(hostIPs(e.Host, resolved), th.IP()) })
		}
	}
	var missing []inventory.Entry
	for i, e := range entries {
		if !used[i] {
			missing = append(missing, e)
		}
	}
	return missing
}

// sibling is the registered replica whose current thread comes from the
// same IP and user as th.
func sibling(replicas []*replica, th DumpThread) *replica {
	for _, r := range replicas {
		if cur, ok := r.current(); ok && r.reg != nil && cur.IP() == th.IP() && cur.User == th.User {
			return r
		}
	}
	return nil
}

// hostIPs is the addresses of a host: itself when it is an IP, else what
// the monitor resolved it to.
func hostIPs(host string, resolved map[string][]string) []string {
	if host == "" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}
	}
	var out []string
	for _, s := range resolved[strings.ToLower(host)] {
		out = append(out, normalIP(s))
	}
	return out
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func countIP(ths []DumpThread, ip string) int {
	n := 0
	for _, th := range ths {
		if th.IP() == ip {
			n++
		}
	}
	return n
}

func sortedIPs(ths []DumpThread) []string {
	var ips []string
	for _, th := range ths {
		if !slices.Contains(ips, th.IP()) {
			ips = append(ips, th.IP())
		}
	}
	slices.Sort(ips)
	return ips
}

func cmpDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// isSelfRegistration reports whether reg is the sidecar's own registration.
func isSelfRegistration(reg Registration, selfID uint32, selfHost string) bool {
	return selfID != 0 && reg.ServerID == selfID && (selfHost == "" || reg.Host == selfHost)
}

// Hosts returns the host names the rules need resolved: inventory hosts and
// registered replica hosts that are not IP literals, but not the sidecar's
// own registration (selfID, selfHost), whose host is a label, not a name.
func Hosts(entries []inventory.Entry, regs []Registration, threads []DumpThread, selfID uint32, selfHost string) []string {
	var out []string
	add := func(h string) {
		h = strings.ToLower(h)
		if h != "" && h != "localhost" && net.ParseIP(h) == nil && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	for _, e := range entries {
		add(e.Host)
	}
	for _, r := range regs {
		if !isSelfRegistration(r, selfID, selfHost) {
			add(r.Host)
		}
	}
	// Without skip_name_resolve the processlist shows the replicas' names.
	for _, th := range threads {
		add(th.hostPart())
	}
	return out
}
