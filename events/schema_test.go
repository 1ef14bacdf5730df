package events_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
)

// TestSchemaV1 checks every event type against events/schema/v1.json, so
// the committed schema and the encoder cannot drift apart: a field the code
// adds without the schema fails additionalProperties, a required field the
// code stops writing fails required.
func TestSchemaV1(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(events.SchemaV1(), &schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if got := schema["$id"]; got != events.DataSchemaV1 {
		t.Errorf("schema $id: got %v, want %s", got, events.DataSchemaV1)
	}
	b := events.NewBuilder("prod", "db-1")
	b.SetServer(health.Server{Flavor: "mysql", Version: "8.4.3", ServerID: 7, ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"})
	all := oneOfEach(b)
	var seen []string
	for _, e := range all {
		seen = append(seen, e.ShortType())
		t.Run(e.ShortType(), func(t *testing.T) {
			raw, _ := events.Encode(e)
			var doc any
			_ = json.Unmarshal(raw, &doc)
			v := validator{root: schema}
			v.check(schema, doc, "")
			for _, err := range v.errs {
				t.Error(err)
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

// TestSchemaV1_Rejects makes sure the validator is not vacuous.
func TestSchemaV1_Rejects(t *testing.T) {
	var schema map[string]any
	_ = json.Unmarshal(events.SchemaV1(), &schema)
	e := events.NewBuilder("c", "i").Lifecycle(events.TypeSidecarStarted, "x", nil)
	raw, _ := events.Encode(e)
	tests := []struct {
		name string
		edit func(m map[string]any)
	}{
		{"unknown envelope field", func(m map[string]any) { m["extra"] = 1 }},
		{"unknown data field", func(m map[string]any) { m["data"].(map[string]any)["extra"] = 1 }},
		{"missing id", func(m map[string]any) { delete(m, "id") }},
		{"bad severity", func(m map[string]any) { m["data"].(map[string]any)["severity"] = "fatal" }},
		{"problem data without state", func(m map[string]any) { m["type"] = "binlog_sidecar.stream.down" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			tt.edit(m)
			v := validator{root: schema}
			v.check(schema, any(m), "")
			if len(v.errs) == 0 {
				t.Error("got no error, want one")
			}
		})
	}
}

// validator implements the part of JSON Schema 2020-12 that v1.json uses:
// type, const, enum, required, properties, additionalProperties (false),
// items, maxItems, minimum, allOf, if/then and local $ref. It ignores
// annotations (description, format).
type validator struct {
	root map[string]any
	errs []error
}

func (v *validator) check(s map[string]any, doc any, path string) {
	if ref, ok := s["$ref"].(string); ok {
		def := v.root
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			def = def[p].(map[string]any)
		}
		v.check(def, doc, path)
	}
	fail := func(format string, a ...any) {
		v.errs = append(v.errs, fmt.Errorf("%s: "+format, append([]any{path}, a...)...))
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, doc) {
		fail("got %v, want %v", doc, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, doc) }) {
		fail("%v not in %v", doc, e)
	}
	if typ, ok := s["type"].(string); ok && !hasType(doc, typ) {
		fail("got %T, want %s", doc, typ)
	}
	if m, ok := s["minimum"].(float64); ok {
		if n, isNum := doc.(float64); isNum && n < m {
			fail("%v below minimum %v", n, m)
		}
	}
	if obj, ok := doc.(map[string]any); ok {
		for _, r := range asSlice(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				fail("missing %s", r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				v.check(ps, val, path+"/"+k)
			} else if s["additionalProperties"] == false {
				fail("property %s not in the schema", k)
			}
		}
	}
	if arr, ok := doc.([]any); ok {
		if m, ok := s["maxItems"].(float64); ok && float64(len(arr)) > m {
			fail("%d items, at most %v", len(arr), m)
		}
		if is, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				v.check(is, x, fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	for _, sub := range asSlice(s["allOf"]) {
		v.check(sub.(map[string]any), doc, path)
	}
	if cond, ok := s["if"].(map[string]any); ok {
		probe := validator{root: v.root}
		probe.check(cond, doc, path)
		if then, ok := s["then"].(map[string]any); ok && len(probe.errs) == 0 {
			v.check(then, doc, path)
		}
	}
}

func asSlice(x any) []any { s, _ := x.([]any); return s }

func hasType(doc any, typ string) bool {
	switch typ {
	case "object":
		_, ok := doc.(map[string]any)
		return ok
	case "array":
		_, ok := doc.([]any)
		return ok
	case "string":
		_, ok := doc.(string)
		return ok
	case "number":
		_, ok := doc.(float64)
		return ok
	case "integer":
		n, ok := doc.(float64)
		return ok && n == float64(int64(n))
	case "boolean":
		_, ok := doc.(bool)
		return ok
	}
	return false
}
