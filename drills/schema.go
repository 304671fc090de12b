package drills

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the drill JSON Schema.
const SchemaID = "https://firedrill.dev/schemas/drill-v1alpha1.json"

// Schema returns the JSON Schema (draft 2020-12) of a Drill document,
// generated from the Go types so that it never drifts from the loader.
// Editors use it to complete and check drill files; the loader remains the
// authority (it also checks PromQL, cron and cross-field rules).
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		// Fields without omitempty are required, as in the loader.
		RequiredFromJSONSchemaTags: false,
		// Unknown fields are errors, as in the loader.
		AllowAdditionalProperties: false,
	}
	s := r.Reflect(&Drill{})
	s.ID = SchemaID
	s.Title = "firedrill Drill (" + APIVersion + ")"
	s.Description = "A chaos drill that proves automated rollback works. See https://firedrill.dev/docs."
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("drill schema: %w", err)
	}
	return buf.Bytes(), nil
}
