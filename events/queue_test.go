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
		{"only problems: the oldest goes", []string{"p1", "p2", "p3"}, 2, "[p2 p3]", "[p1]"},
		{"stats left after problems are trimmed", []string{"p1", "s1", "p2", "s2", "s3"}, 3, "[p1 p2 s3]", "[s1 s2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q queue
			var dropped []item
			for _, n := range tt.give {
				dropped = append(dropped, q.push(it(n), tt.limit)...)
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
		q.push(it(n), 10)
	}
	batch := q.take(3)
	if got, want := names(batch), "[p1 s1 p2]"; got != want {
		t.Fatalf("take: got %s, want %s", got, want)
	}
	q.push(it("p3"), 10)
	dropped := q.requeue(batch, 4) // the write failed: back to the front
	if got, want := names(q.items), "[p1 p2 s2 p3]"; got != want {
		t.Errorf("requeue: got %s, want %s", got, want)
	}
	if got, want := names(dropped), "[s1]"; got != want {
		t.Errorf("requeue dropped: got %s, want %s", got, want)
	}
}
