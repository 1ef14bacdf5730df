package mysqlserver

import "hash/fnv"

// Derived server ids live in the top of the id space, which real servers
// rarely use, so that the sidecar's pseudo-replica never collides with a
// replica: on MariaDB a shared server_id evicts the real replica's dump
// thread. validate warns about a server whose server_id is in this range.
const (
	DerivedServerIDMin = 4_000_000_000
	DerivedServerIDMax = 4_294_967_295
)

// DerivedServerID maps an instance name to a stable server_id in
// DerivedServerIDMin–DerivedServerIDMax, so that a restarted sidecar keeps
// its id (on MariaDB its new dump thread then replaces its old one instead
// of leaving a zombie) and two sidecars rarely collide.
func DerivedServerID(instance string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(instance))
	span := uint64(DerivedServerIDMax - DerivedServerIDMin + 1)
	return uint32(DerivedServerIDMin + uint64(h.Sum32())%span)
}
