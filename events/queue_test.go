package events

import (
	"fmt"
	"testing"
)

// it names an item: "s" prefix for stats (droppable), "p" for problems.
func it(name string) item { return item{data: []byte(name), droppable: name[0] == 's'} }

func names(items []item) string {
	out := make([]string, len(items))
	for i, x := range items {
		out[i] = string(x.data)
	}
	return fmt.Sprint(out)
}

func TestQueue_Push(t *testing.T) {
	tests := []struct {
		name        string
		give        []string
		limit       int
		want        string
		wantDropped string
	}{
		{"under the bound", []string{"p1", "s1"}, 3, "[p1 s1]", "[]"},
		{"oldest stats go first", []string{"s1", "p1", "s2", "p2"}, 2, "[p1 p2]", "[s1 s2]"},
		{"a new stats event is dropped before a problem", []string{"p1", "p2", "s1"}, 2, "[p1 p2]", "[s1]"},
		{"only problems: none goes under the byte bound", []string{"p1", "p2", "p3"}, 2, "[p1 p2 p3]", "[]"},
		{"stats go while there are too many items", []string{"p1", "s1", "p2", "s2", "s3"}, 3, "[p1 p2 s3]", "[s1 s2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q queue
			var dropped []item
			for _, n := range tt.give {
				dropped = append(dropped, q.push(it(n), bounds{items: tt.limit, bytes: 1 << 20})...)
			}
			if got := names(q.items); got != tt.want {
				t.Errorf("queue: got %s, want %s", got, tt.want)
			}
			if got := names(dropped); got != tt.wantDropped {
				t.Errorf("dropped: got %s, want %s", got, tt.wantDropped)
			}
		})
	}
}

func TestQueue_TakeRequeue(t *testing.T) {
	var q queue
	for _, n := range []string{"p1", "s1", "p2", "s2"} {
		q.push(it(n), bounds{10, 1 << 20})
	}
	batch := q.take(3)
	if got, want := names(batch), "[p1 s1 p2]"; got != want {
		t.Fatalf("take: got %s, want %s", got, want)
	}
	q.push(it("p3"), bounds{10, 1 << 20})
	dropped := q.requeue(batch, bounds{4, 1 << 20}) // the write failed: back to the front
	if got, want := names(q.items), "[p1 p2 s2 p3]"; got != want {
		t.Errorf("requeue: got %s, want %s", got, want)
	}
	if got, want := names(dropped), "[s1]"; got != want {
		t.Errorf("requeue dropped: got %s, want %s", got, want)
	}
}

// Over the byte bound, stats go first, then the oldest of any kind.
func TestQueue_ByteBound(t *testing.T) {
	tests := []struct {
		name        string
		give        []string
		bytes       int
		want        string
		wantDropped string
	}{
		{"stats first", []string{"p1", "s1", "p2", "p3"}, 6, "[p1 p2 p3]", "[s1]"},
		{"then the oldest problem", []string{"p1", "p2", "p3", "p4"}, 6, "[p2 p3 p4]", "[p1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q queue
			var dropped []item
			for _, n := range tt.give {
				dropped = append(dropped, q.push(it(n), bounds{items: 100, bytes: tt.bytes})...)
			}
			if got := names(q.items); got != tt.want {
				t.Errorf("queue: got %s, want %s", got, tt.want)
			}
			if got := names(dropped); got != tt.wantDropped {
				t.Errorf("dropped: got %s, want %s", got, tt.wantDropped)
			}
			if q.bytes != 2*len(q.items) {
				t.Errorf("bytes %d, want %d", q.bytes, 2*len(q.items))
			}
		})
	}
}

// A burst of firing problem events far beyond the item bound (one per
// missing replica of a 10,000-entry inventory, about 1 KiB each) is kept
// whole; the stats among them are what gives.
func TestQueue_ProblemBurstKept(t *testing.T) {
	var q queue
	b := bounds{items: DefaultMaxPending, bytes: DefaultMaxPendingBytes}
	pad := make([]byte, 1000)
	var dropped []item
	for i := range 10000 {
		dropped = append(dropped, q.push(item{data: append([]byte(fmt.Sprintf("p%05d", i)), pad...)}, b)...)
		if i%500 == 0 {
			dropped = append(dropped, q.push(item{data: []byte("s"), droppable: true}, b)...)
		}
	}
	problems := 0
	for _, x := range q.items {
		if !x.droppable {
			problems++
		}
	}
	if problems != 10000 || len(dropped) != 20 {
		t.Errorf("kept %d problems, dropped %d; want all 10000 kept and the 20 stats dropped", problems, len(dropped))
	}
}
