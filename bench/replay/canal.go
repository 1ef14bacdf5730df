package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/canal"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// errDone is what the handler returns once the end is reached; it is the
// only way to make canal.RunFrom return by itself.
var errDone = errors.New("replay: end reached")

// canalCounter counts what canal hands over. canal skips the fake ROTATE
// itself and hides every event it has no callback for (TABLE_MAP, FDE,
// checkpoints), so bytes are taken from the position: a gap would show as
// a final position short of the end.
type canalCounter struct {
	canal.DummyEventHandler
	o        options
	res      result
	sawFirst bool
}

func (c *canalCounter) see(h *replication.EventHeader, rotate bool) error {
	if h == nil || h.LogPos == 0 {
		return nil
	}
	c.res.Events++
	c.res.End = h.LogPos
	if c.o.end != 0 && h.LogPos >= c.o.end {
		return errDone
	}
	if c.o.end == 0 && rotate {
		return errDone
	}
	return nil
}

func (c *canalCounter) OnRow(e *canal.RowsEvent) error {
	n := uint64(len(e.Rows))
	if e.Action == canal.UpdateAction {
		n /= 2
	}
	c.res.Rows += n
	return c.see(e.Header, false)
}

func (c *canalCounter) OnXID(h *replication.EventHeader, _ mysql.Position) error {
	return c.see(h, false)
}

func (c *canalCounter) OnGTID(h *replication.EventHeader, _ mysql.BinlogGTIDEvent) error {
	return c.see(h, false)
}

func (c *canalCounter) OnRotate(h *replication.EventHeader, _ *replication.RotateEvent) error {
	return c.see(h, true)
}

func (c *canalCounter) String() string { return "replay" }

// readCanal is lab-notes §4.2 (c).
func readCanal(ctx context.Context, o options) (result, error) {
	cfg := canal.NewDefaultConfig()
	cfg.Addr = o.addr
	cfg.User = o.user
	cfg.Password = o.password
	cfg.Flavor = mysql.MariaDBFlavor
	cfg.ServerID = o.serverID
	cfg.Dump.ExecutionPath = ""
	cfg.DisableRetrySync = true
	cfg.Logger = discard
	cv, err := canal.NewCanal(cfg)
	if err != nil {
		return result{}, fmt.Errorf("new canal: %w", err)
	}
	h := &canalCounter{o: o, res: result{End: o.start}}
	cv.SetEventHandler(h)

	done := make(chan error, 1)
	go func() { done <- cv.RunFrom(mysql.Position{Name: o.file, Pos: o.start}) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		cv.Close()
		<-done
		err = ctx.Err()
	}
	cv.Close()
	if err != nil && !errors.Is(err, errDone) && !strings.Contains(err.Error(), errDone.Error()) {
		return h.res, fmt.Errorf("canal run at %s:%d: %w", o.file, h.res.End, err)
	}
	// canal does not show event sizes; the position it reached is checked.
	h.res.Bytes = uint64(h.res.End - o.start)
	return h.res, nil
}
