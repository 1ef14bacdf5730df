package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current code")

// TestEvaluate_golden: records of every reader the bench runs (replay and
// live, several rounds) give the tables, checks and ratios recorded in
// testdata/evaluate.golden, and the text of `make bench`.
func TestEvaluate_golden(t *testing.T) {
	recs, err := readRecords(filepath.Join("testdata", "records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	res := Results{
		Date: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), Host: Host{CPUs: 2, GoVersion: "go1.test", MariaDB: "mariadbd 10.11"},
		File: "bp-bin.000002", Size: 200_000_000, Transactions: 130000, BuildTPS: 2100, LiveTransactions: 20000, Records: recs,
	}
	evaluate(&res)
	var got bytes.Buffer
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got.Write(b)
	got.WriteString("\n")
	render(&got, &res)
	golden := filepath.Join("testdata", "evaluate.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("got:\n%s\nwant:\n%s", got.Bytes(), want)
	}
}

// TestEvaluate_noRecords: an empty run evaluates to no rows and no checks.
func TestEvaluate_noRecords(t *testing.T) {
	var res Results
	evaluate(&res)
	if len(res.Replay) != 0 || len(res.Live) != 0 || len(res.Checks) != 0 || len(res.Ratios) != 0 || res.FileEvents != 0 {
		t.Errorf("got %+v, want nothing evaluated", res)
	}
}
