package events_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// compileSchemaV1 compiles events/schema/v1.json with a complete JSON
// Schema 2020-12 implementation, formats (date-time) asserted, under the
// URI events name in dataschema.
func compileSchemaV1(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(events.SchemaV1()))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	if id := doc.(map[string]any)["$id"]; id != events.DataSchemaV1 {
		t.Errorf("schema $id: got %v, want %s", id, events.DataSchemaV1)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(events.DataSchemaV1, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(events.DataSchemaV1)
	if err != nil {
		t.Fatalf("compile v1.json: %v", err)
	}
	return sch
}

// instance decodes an encoded event the way the validator wants it.
func instance(t *testing.T, raw []byte) any {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestSchemaV1 checks every event type against events/schema/v1.json, so
// the committed schema and the encoder cannot drift apart: a field the code
// adds without the schema fails additionalProperties, a required field the
// code stops writing fails required.
func TestSchemaV1(t *testing.T) {
	sch := compileSchemaV1(t)
	b := events.NewBuilder("prod", "db-1")
	b.SetServer(health.Server{Flavor: "mysql", Version: "8.4.3", ServerID: 7, ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"})
	var seen []string
	for _, e := range oneOfEach(b) {
		seen = append(seen, e.ShortType())
		t.Run(e.ShortType(), func(t *testing.T) {
			raw, err := events.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			if e.DataSchema != events.DataSchemaV1 {
				t.Errorf("dataschema %q, want %q", e.DataSchema, events.DataSchemaV1)
			}
			if err := sch.Validate(instance(t, raw)); err != nil {
				t.Errorf("%v\n%s", err, raw)
			}
		})
	}
	slices.Sort(seen)
	want := events.Types()
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("types tested: got %v, want every type %v", seen, want)
	}
}

// TestSchemaV1_Extensions: the envelope is open to CloudEvents extension
// attributes, as the spec allows any consumer or relay to add them
// (distributed tracing's traceparent above all), and closed to anything
// that is not one.
func TestSchemaV1_Extensions(t *testing.T) {
	sch := compileSchemaV1(t)
	raw, _ := events.Encode(events.NewBuilder("c", "i").Lifecycle(events.TypeSidecarStarted, "x", nil))
	tests := []struct {
		name  string
		attrs map[string]any
		ok    bool
	}{
		{"traceparent", map[string]any{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, true},
		{"traceparent and tracestate", map[string]any{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "rojo=00f067aa0ba902b7"}, true},
		{"integer and boolean", map[string]any{"sequence": 42, "replayed": true}, true},
		{"20 characters", map[string]any{"abcdefghij0123456789": "x"}, true},
		{"upper case", map[string]any{"traceParent": "x"}, false},
		{"underscore", map[string]any{"trace_parent": "x"}, false},
		{"21 characters", map[string]any{"abcdefghij01234567890": "x"}, false},
		{"object value", map[string]any{"trace": map[string]any{"id": "x"}}, false},
		{"null value", map[string]any{"trace": nil}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := instance(t, raw).(map[string]any)
			for k, v := range tt.attrs {
				m[k] = v
			}
			// Through JSON again, so numbers are what a decoder gives.
			b, _ := json.Marshal(m)
			err := sch.Validate(instance(t, b))
			if tt.ok && err != nil {
				t.Errorf("extension refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Errorf("accepted %v, want it refused", tt.attrs)
			}
		})
	}
}

// TestSchemaV1_Rejects makes sure the schema is not vacuous.
func TestSchemaV1_Rejects(t *testing.T) {
	sch := compileSchemaV1(t)
	e := events.NewBuilder("c", "i").Lifecycle(events.TypeSidecarStarted, "x", nil)
	raw, _ := events.Encode(e)
	tests := []struct {
		name string
		edit func(m map[string]any)
	}{
		{"not an extension name", func(m map[string]any) { m["Extra"] = 1 }},
		{"unknown data field", func(m map[string]any) { m["data"].(map[string]any)["extra"] = 1 }},
		{"missing id", func(m map[string]any) { delete(m, "id") }},
		{"bad severity", func(m map[string]any) { m["data"].(map[string]any)["severity"] = "fatal" }},
		{"problem data without state", func(m map[string]any) { m["type"] = "binlog_sidecar.stream.down" }},
		{"time not RFC 3339", func(m map[string]any) { m["time"] = "yesterday" }},
		{"dataschema on a branch", func(m map[string]any) {
			m["dataschema"] = "https://raw.githubusercontent.com/binlog-sidecar/binlog-sidecar/main/events/schema/v1.json"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := instance(t, raw).(map[string]any)
			tt.edit(m)
			b, _ := json.Marshal(m)
			if err := sch.Validate(instance(t, b)); err == nil {
				t.Error("got no error, want one")
			}
		})
	}
}
