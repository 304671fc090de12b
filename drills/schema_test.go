package drills

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := Schema()
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(SchemaID, doc))
	s, err := c.Compile(SchemaID)
	require.NoError(t, err)
	return s
}

// yamlToJSONValue turns a YAML file into the generic JSON value the schema
// validator expects.
func yamlToJSONValue(t *testing.T, file string) any {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var v any
	require.NoError(t, yaml.Unmarshal(raw, &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return out
}

func TestSchemaValidatesExamples(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			require.NoError(t, s.Validate(yamlToJSONValue(t, f)))
		})
	}
}

// TestSchemaRejectsMistakes checks that the schema catches the mistakes it
// can express (the loader checks the rest: PromQL, cron, cross-field rules).
func TestSchemaRejectsMistakes(t *testing.T) {
	s := compileSchema(t)
	for _, name := range []string{
		"unknown-field", "wrong-type", "bare-number-duration", "bad-duration-unit",
		"missing-name", "missing-namespace", "api-version", "unknown-kind",
		"unknown-fault-type", "error-rate-percent",
		"concurrency-lowercase", "no-faults", "labels-list", "max-hold",
	} {
		t.Run(name, func(t *testing.T) {
			require.Error(t, s.Validate(yamlToJSONValue(t, "testdata/invalid-"+name+".yaml")))
		})
	}
}

func TestSchemaIsStable(t *testing.T) {
	a, err := Schema()
	require.NoError(t, err)
	b, err := Schema()
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Contains(t, string(a), `"$id": "`+SchemaID+`"`)
}
