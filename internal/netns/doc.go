// Package netns creates throwaway Linux network namespaces for tests that
// cut the network between two real servers: one namespace per New, joined to
// the host by a veth pair with host side 10.213.X.1/30 and namespace side
// 10.213.X.2/30, where the /30 is unique per test process and per call
// (derived from the pid, skipping any /30 the host already uses).
//
// The namespace has lo and its veth end and no other route, so a process in
// it reaches only the host's veth address: no traffic leaves the machine.
// Both neighbour entries are permanent, so ARP plays no part: Partition
// silently drops every IP packet in both directions, like a link cut beyond
// a router, and Heal lets the same sockets carry on.
//
// Partition mechanisms, tried in this order when the namespace is created
// (the first that the kernel accepts is used; Mechanism says which):
//
//   - "blackhole": `tc qdisc replace dev <veth> root blackhole` on both ends.
//     sch_blackhole is built into every kernel with CONFIG_NET_SCHED; its
//     enqueue frees the packet and returns NET_XMIT_SUCCESS, so the sending
//     TCP stack sees no local error: no RST, no ICMP, no route change, only
//     retransmissions into silence.
//   - "netem": `tc qdisc replace dev <veth> root netem loss 100%`, the same
//     silent drop where sch_netem exists (it is not built on the lab
//     machines' kernel 6.18, CONFIG_NET_SCH_NETEM unset).
//   - "link-down": `ip link set <namespace veth> down`. A last resort: it
//     removes the namespace's connected route, so the namespace's own
//     sends fail at once with ENETUNREACH instead of timing out.
//
// (pfifo with limit 0 would also drop everything, but returns NET_XMIT_DROP,
// which TCP treats as local congestion; there is no iptables here.)
//
// Everything is deleted in t.Cleanup, failed tests included; New also
// deletes namespaces this package left behind in test processes that died.
// Register servers that run inside the namespace after New, so that their
// cleanups (which run first) stop them before the namespace goes.
//
// Without root, ip(8) or tc(8), tests skip with the reason, unless the
// environment variable CI is set: then they fail.
package netns
