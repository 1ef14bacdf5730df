package events

// item is one encoded event waiting in memory for the spool writer.
type item struct {
	data      []byte
	droppable bool
}

// queue is the publisher's bounded memory queue, oldest first. It is not
// safe for concurrent use; the publisher guards it.
//
// Two bounds: droppable items (stream.stats) count toward a number of
// items, the rest only toward a number of bytes. A burst of problem events
// (one per missing replica of a 10,000-entry inventory) is a few MiB and
// must all reach the spool; stats events are the ones to shed.
type queue struct {
	items     []item
	bytes     int
	droppable int
}

// bounds are the queue's limits: at most items items while any of them
// is droppable, and at most bytes bytes of any kind.
type bounds struct{ items, bytes int }

// push appends it and then trims the queue to b, which drops the oldest
// droppable items first (it may be the one just pushed) and only then,
// over the byte bound, the oldest of any kind. It returns the dropped items.
func (q *queue) push(it item, b bounds) []item {
	q.items = append(q.items, it)
	q.add(it, 1)
	return q.trim(b)
}

// requeue puts items that could not be written back at the front, in
// order, and trims to b like push.
func (q *queue) requeue(items []item, b bounds) []item {
	q.items = append(append(make([]item, 0, len(items)+len(q.items)), items...), q.items...)
	for _, it := range items {
		q.add(it, 1)
	}
	return q.trim(b)
}

func (q *queue) add(it item, sign int) {
	q.bytes += sign * len(it.data)
	if it.droppable {
		q.droppable += sign
	}
}

func (q *queue) trim(b bounds) []item {
	var dropped []item
	for {
		i := -1
		switch {
		case q.bytes > b.bytes && len(q.items) > 0:
			i = max(q.firstDroppable(), 0)
		case len(q.items) > max(b.items, 0) && q.droppable > 0:
			i = q.firstDroppable()
		}
		if i < 0 {
			return dropped
		}
		dropped = append(dropped, q.items[i])
		q.add(q.items[i], -1)
		if i == 0 {
			q.items = q.items[1:] // the common case (the queue is all stats): no copy
			continue
		}
		q.items = append(q.items[:i], q.items[i+1:]...)
	}
}

func (q *queue) firstDroppable() int {
	if q.droppable == 0 {
		return -1
	}
	for j, it := range q.items {
		if it.droppable {
			return j
		}
	}
	return -1
}

// take removes and returns up to n items from the front.
func (q *queue) take(n int) []item {
	n = min(n, len(q.items))
	out := make([]item, n)
	copy(out, q.items)
	for _, it := range out {
		q.add(it, -1)
	}
	q.items = q.items[n:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	return out
}

func (q *queue) len() int { return len(q.items) }
