package reports

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func render(t *testing.T, w Writer) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, w.Write(context.Background(), &buf, sampleResults()))
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, w := range []Writer{JUnitWriter{}, JSONWriter{}, MarkdownWriter{}} {
		t.Run(w.Name(), func(t *testing.T) {
			got := render(t, w)
			file := filepath.Join("testdata", "sample."+w.Name()+".golden")
			if *update {
				require.NoError(t, os.WriteFile(file, got, 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run go test ./reports -run TestGolden -update")
			require.Equal(t, string(want), string(got), "output differs from %s; rerun with -update if the change is intended", file)
		})
	}
}
