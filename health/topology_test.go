package health

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/inventory"
)

// describe renders a topology as sorted, comparable lines.
func describe(t topology) []string {
	out := []string{}
	for _, th := range t.self {
		out = append(out, fmt.Sprintf("self %d", th.ID))
	}
	for _, r := range t.replicas {
		ids := []uint64{}
		for _, th := range r.threads {
			ids = append(ids, th.ID)
		}
		entry := "-"
		if r.entry != nil {
			entry = r.entry.Addr()
		}
		out = append(out, fmt.Sprintf("%s threads=%v exact=%v entry=%s probe=%s", r.key, ids, r.exact, entry, r.probeAddr()))
	}
	for _, e := range t.missing {
		out = append(out, "missing "+e.Addr())
	}
	return out
}

func TestIdentify(t *testing.T) {
	resolved := map[string][]string{"localhost": {"127.0.0.1", "::1"}, "db-2.test": {"10.0.0.2"}}
	local := func(id uint64, user string) DumpThread { return th(id, user, fmt.Sprintf("127.0.0.1:%d", 40000+id)) }
	tests := []struct {
		name       string
		threads    []DumpThread
		regs       []Registration
		inv        []inventory.Entry
		selfThread uint64
		selfHost   string
		want       []string
	}{
		{
			name:     "a replica using the sidecar's server_id is a replica, not the sidecar",
			threads:  []DumpThread{thr2},
			regs:     []Registration{{ServerID: selfID, Host: "db-2.test", Port: 3306}},
			inv:      inv2,
			selfHost: "binlog-sidecar",
			want:     []string{"server_id:4000000001 threads=[10] exact=true entry=db-2.test:3306 probe=db-2.test:3306"},
		},
		{
			name:     "the sidecar's registration has its server_id and its host",
			threads:  []DumpThread{thr2, selfTh},
			regs:     []Registration{reg2, selfReg},
			inv:      inv2,
			selfHost: "binlog-sidecar",
			want:     []string{"self 7", "server_id:2 threads=[10] exact=true entry=db-2.test:3306 probe=db-2.test:3306"},
		},
		{
			name:    "one replica per IP is exact; the sidecar is set aside by elimination",
			threads: []DumpThread{thr2, selfTh},
			regs:    []Registration{reg2, selfReg},
			inv:     inv2,
			want:    []string{"self 7", "server_id:2 threads=[10] exact=true entry=db-2.test:3306 probe=db-2.test:3306"},
		},
		{
			name:    "sidecar and replica on one IP: the sidecar's user decides",
			threads: []DumpThread{local(1, "repl"), local(2, "sidecar")},
			regs:    []Registration{{ServerID: 2, Host: "127.0.0.1", Port: 3307}, selfReg},
			inv:     []inventory.Entry{{Host: "localhost", Port: 3307}},
			want:    []string{"self 2", "server_id:2 threads=[1] exact=true entry=localhost:3307 probe=localhost:3307"},
		},
		{
			name:       "the stream's connection id names the sidecar even when it shares the user",
			threads:    []DumpThread{local(1, "sidecar"), local(2, "sidecar")},
			regs:       []Registration{{ServerID: 2, Host: "127.0.0.1", Port: 3307}, selfReg},
			selfThread: 1,
			want:       []string{"self 1", "server_id:2 threads=[2] exact=true entry=- probe=127.0.0.1:3307"},
		},
		{
			name:    "two replicas behind one IP pair as a guess",
			threads: []DumpThread{local(1, "repl"), local(2, "repl")},
			regs:    []Registration{{ServerID: 2, Host: "127.0.0.1", Port: 3307}, {ServerID: 3, Host: "127.0.0.1", Port: 3308}},
			want: []string{"server_id:2 threads=[2] exact=false entry=- probe=127.0.0.1:3307",
				"server_id:3 threads=[1] exact=false entry=- probe=127.0.0.1:3308"},
		},
		{
			name:    "MySQL UUIDs pair exactly and expose a superseded thread",
			threads: []DumpThread{{ID: 5, User: "repl", Host: "10.0.0.2:1", ReplicaUUID: "a"}, {ID: 9, User: "repl", Host: "10.0.0.2:2", ReplicaUUID: "b"}},
			regs:    []Registration{{ServerID: 2, Host: "", Port: 3306, UUID: "b"}},
			inv:     inv2,
			want:    []string{"server_id:2 threads=[9 5] exact=true entry=db-2.test:3306 probe=db-2.test:3306"},
		},
		{
			name:    "a registration whose host does not resolve pairs with the last thread left",
			threads: []DumpThread{th(4, "repl", "10.9.9.9:5")},
			regs:    []Registration{{ServerID: 4, Host: "replica-a.test", Port: 3310}},
			want:    []string{"server_id:4 threads=[4] exact=true entry=- probe=replica-a.test:3310"},
		},
		{
			name:    "an unregistered reader is its own identity and matches the inventory by IP",
			threads: []DumpThread{th(4, "cdc", "10.0.0.2:5")},
			inv:     inv2,
			want:    []string{"ip:10.0.0.2 user:cdc threads=[4] exact=true entry=db-2.test:3306 probe=db-2.test:3306"},
		},
		{
			name:    "an expected replica without thread is missing; the port must match",
			threads: []DumpThread{thr2},
			regs:    []Registration{{ServerID: 2, Host: "db-2.test", Port: 3307}},
			inv:     inv2,
			want:    []string{"server_id:2 threads=[10] exact=true entry=- probe=db-2.test:3307", "missing db-2.test:3306"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Observation{User: "sidecar", DumpThreads: tt.threads, Replicas: tt.regs}
			got := describe(identify(o, tt.inv, resolved, selfID, tt.selfHost, tt.selfThread))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("topology:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDumpThread_IP(t *testing.T) {
	tests := []struct{ give, want string }{
		{"127.0.0.1:48016", "127.0.0.1"},
		{"::ffff:10.0.0.2:3306", "10.0.0.2"},
		{"[::1]:5000", "::1"},
		{"fe80::1:5000", "fe80::1"},
		{"localhost", "localhost"},
	}
	for _, tt := range tests {
		if got := (DumpThread{Host: tt.give}).IP(); got != tt.want {
			t.Errorf("IP(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
