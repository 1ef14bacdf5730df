package events

// item is one encoded event waiting in memory for the spool writer.
type item struct {
	data      []byte
	droppable bool
}

// queue is the publisher's bounded memory queue, oldest first. It is not
// safe for concurrent use; the publisher guards it.
type queue struct{ items []item }

// push appends it and then trims the queue to limit items, which drops
// the oldest droppable items first (it may be the one just pushed) and
// only then the oldest of any kind. It returns the dropped items.
func (q *queue) push(it item, limit int) []item {
	q.items = append(q.items, it)
	return q.trim(limit)
}

// requeue puts items that could not be written back at the front, in
// order, and trims to limit like push.
func (q *queue) requeue(items []item, limit int) []item {
	q.items = append(append(make([]item, 0, len(items)+len(q.items)), items...), q.items...)
	return q.trim(limit)
}

func (q *queue) trim(limit int) []item {
	var dropped []item
	for len(q.items) > max(limit, 0) {
		i := 0
		for j, it := range q.items {
			if it.droppable {
				i = j
				break
			}
		}
		dropped = append(dropped, q.items[i])
		if i == 0 {
			q.items = q.items[1:] // the common case (the queue is all stats): no copy
			continue
		}
		q.items = append(q.items[:i], q.items[i+1:]...)
	}
	return dropped
}

// take removes and returns up to n items from the front.
func (q *queue) take(n int) []item {
	n = min(n, len(q.items))
	out := make([]item, n)
	copy(out, q.items)
	q.items = q.items[n:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	return out
}

func (q *queue) len() int { return len(q.items) }
