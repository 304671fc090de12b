package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONRoundTrip(t *testing.T) {
	want := sampleResults()
	got, err := ReadJSON(bytes.NewReader(render(t, JSONWriter{})))
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Drill, got[i].Drill)
		require.Equal(t, want[i].MTTD, got[i].MTTD)
		require.True(t, want[i].Started.Equal(got[i].Started))
		require.Len(t, got[i].Timeline, len(want[i].Timeline))
		require.Len(t, got[i].Audit, len(want[i].Audit))
	}
}

func TestJSONEmptyHasResultsArray(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, JSONWriter{}.Write(context.Background(), &buf, nil))
	require.JSONEq(t, `{"schemaVersion":"firedrill.dev/report/v1","results":[]}`, buf.String())
}

func TestReadJSONRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"other version": `{"schemaVersion":"firedrill.dev/report/v9","results":[]}`,
		"unknown field": `{"schemaVersion":"firedrill.dev/report/v1","results":[],"extra":1}`,
		"trailing":      `{"schemaVersion":"firedrill.dev/report/v1","results":[]} {}`,
		"not json":      `<xml/>`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(doc))
			require.Error(t, err)
		})
	}
}

func TestForFormat(t *testing.T) {
	for _, w := range Writers() {
		got, err := ForFormat(w.Name())
		require.NoError(t, err)
		require.Equal(t, w.Name(), got.Name())
		require.True(t, strings.HasPrefix(got.Ext(), "."))
	}
	_, err := ForFormat("pdf")
	require.ErrorContains(t, err, `unknown format "pdf"`)
}

func TestWritersHonourCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, w := range Writers() {
		var buf bytes.Buffer
		require.Error(t, w.Write(ctx, &buf, sampleResults()), w.Name())
		require.Zero(t, buf.Len(), w.Name())
	}
}

func TestDecodeResultsAcceptsDocumentAndBareResult(t *testing.T) {
	doc := render(t, JSONWriter{})
	got, err := DecodeResults(doc)
	require.NoError(t, err)
	require.Len(t, got, 3)

	bare, err := json.Marshal(sampleResults()[1])
	require.NoError(t, err)
	got, err = DecodeResults(bare)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "bad-config", got[0].Drill)

	_, err = DecodeResults([]byte(`{"schemaVersion":"firedrill.dev/result/v1","drill":"x","bogus":true}`))
	require.Error(t, err)
	_, err = DecodeResults([]byte(`{"schemaVersion":"other"}`))
	require.Error(t, err)
}
