package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/firedrill/firedrill/drills"
)

// run executes the CLI like main does and returns exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../../drills/examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestValidateExamplesExitZero(t *testing.T) {
	files := examples(t)
	code, out, errOut := run(t, append([]string{"validate"}, files...)...)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, len(files), strings.Count(out, "is valid"))
}

func TestValidateInvalidExitOneNamesFileLineField(t *testing.T) {
	file := "../../../drills/testdata/invalid-unknown-field.yaml"
	code, _, errOut := run(t, "validate", file)
	require.Equal(t, ExitFailed, code)
	require.Contains(t, errOut, file+`:8: spec.target.nmae: unknown field "nmae"`)
}

func TestValidateMixedReportsEachBadFile(t *testing.T) {
	files := append(examples(t), "../../../drills/testdata/invalid-bad-cron.yaml", "../../../drills/testdata/invalid-bad-promql.yaml")
	code, _, errOut := run(t, append([]string{"validate", "-q"}, files...)...)
	require.Equal(t, ExitFailed, code)
	require.Contains(t, errOut, "invalid-bad-cron.yaml:11: spec.schedule")
	require.Contains(t, errOut, "invalid-bad-promql.yaml:12: spec.guard.rules[0].expr")
	require.Contains(t, errOut, fmt.Sprintf("2 of %d file(s) invalid", len(files)))
}

func TestValidateMissingFile(t *testing.T) {
	code, _, errOut := run(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, ExitFailed, code)
	require.Contains(t, errOut, "missing.yaml")
}

func TestUsageErrorsExitTwo(t *testing.T) {
	code, _, errOut := run(t, "validate")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "requires at least 1 arg")
	code, _, _ = run(t, "no-such-command")
	require.Equal(t, ExitError, code)
}

// TestSchemaOutputValidatesExamples checks the schema exactly as users get
// it from the command line.
func TestSchemaOutputValidatesExamples(t *testing.T) {
	code, out, errOut := run(t, "schema")
	require.Equal(t, ExitOK, code, errOut)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(drills.SchemaID, doc))
	s, err := c.Compile(drills.SchemaID)
	require.NoError(t, err)
	for _, f := range examples(t) {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var v any
		require.NoError(t, yaml.Unmarshal(raw, &v))
		b, err := json.Marshal(v)
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		require.NoError(t, err)
		require.NoError(t, s.Validate(inst), f)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "firedrill ")
	require.Contains(t, out, drills.APIVersion)
}

func TestHelpListsCommands(t *testing.T) {
	code, out, _ := run(t, "--help")
	require.Equal(t, ExitOK, code)
	for _, c := range []string{"validate", "schema", "version", "cluster", "image", "traffic", "demo", "report", "guard"} {
		require.Contains(t, out, c)
	}
}
