package events

import (
	_ "embed"
	"slices"
)

//go:embed schema/v1.json
var schemaV1 []byte

// SchemaV1 returns the JSON Schema (draft 2020-12) of every event this
// version emits: the file that DataSchemaV1 names.
func SchemaV1() []byte { return slices.Clone(schemaV1) }
