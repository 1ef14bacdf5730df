package binlog

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/binlog-sidecar/binlog-sidecar/internal/testdb"
	"github.com/binlog-sidecar/binlog-sidecar/internal/testwait"
)

// TestSource_onCanary: the rows of binlog_sidecar.heartbeat reach
// OnCanary with their sequence and write time, from an insert, an upsert
// (update event, full image) and an update logged with a minimal row
// image; a table of the same shape and name in another schema never does.
func TestSource_onCanary(t *testing.T) {
	p := testdb.StartPrimary(t, testdb.Options{})
	const shape = ` (seq BIGINT UNSIGNED NOT NULL, written_us BIGINT NOT NULL, server_id INT UNSIGNED NOT NULL,
		instance VARCHAR(255) NOT NULL, PRIMARY KEY (instance))`
	var mu sync.Mutex
	var got []string
	r := startSource(t, p, Config{MaxDelay: countEachEvent, OnCanary: func(seq uint64, us int64) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%d@%d", seq, us))
		mu.Unlock()
	}})
	waitCaughtUp(t, p, r.meter)
	for _, q := range []string{
		"CREATE DATABASE binlog_sidecar", "CREATE TABLE binlog_sidecar." + CanaryTable + shape,
		"CREATE DATABASE other", "CREATE TABLE other." + CanaryTable + shape,
		"INSERT INTO other.heartbeat VALUES (1, 10, 1, 'db-1')",
		"INSERT INTO binlog_sidecar.heartbeat VALUES (2, 20, 1, 'db-1')",
		"INSERT INTO binlog_sidecar.heartbeat VALUES (3, 30, 1, 'db-1') ON DUPLICATE KEY UPDATE seq = 3, written_us = 30",
		"UPDATE other.heartbeat SET seq = 5, written_us = 50",
		"SET SESSION binlog_row_image = MINIMAL",
		"UPDATE binlog_sidecar.heartbeat SET seq = 4, written_us = 40 WHERE instance = 'db-1'",
		"DELETE FROM binlog_sidecar.heartbeat",
	} {
		p.Exec(t, q)
	}
	waitCaughtUp(t, p, r.meter)
	want := []string{"2@20", "3@30", "4@40"}
	testwait.Until(t, "three canary rows", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OnCanary got %q, want %q", got, want)
	}
}
