// Package partition holds fault tests of the health monitor against a real
// network partition: a primary on the host, a real replica inside a network
// namespace (internal/netns), and the real health.Monitor with the real
// probe watching the primary while the link between them drops every
// packet and then comes back.
//
// It has no code of its own; everything is in its _test.go files. The
// tests need root (ip netns, tc) and mariadbd: without them they skip with
// the reason, and fail when the environment variable CI is set.
package partition
