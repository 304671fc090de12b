package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/firedrill/firedrill/drills"
)

// ReportSchemaVersion is the version of the JSON report document.
const ReportSchemaVersion = "firedrill.dev/report/v1"

// Document is the JSON report: a version and the results.
type Document struct {
	// SchemaVersion is ReportSchemaVersion.
	SchemaVersion string `json:"schemaVersion"`
	// Results are the drill results, in the order they were given.
	Results []drills.Result `json:"results"`
}

// JSONWriter writes a versioned JSON Document.
type JSONWriter struct{}

// Name returns "json".
func (JSONWriter) Name() string { return "json" }

// Ext returns ".json".
func (JSONWriter) Ext() string { return ".json" }

// Write writes results as an indented Document.
func (JSONWriter) Write(ctx context.Context, w io.Writer, results []drills.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	if results == nil {
		results = []drills.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Document{SchemaVersion: ReportSchemaVersion, Results: results}); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	return nil
}

// ReadJSON reads a Document written by JSONWriter and returns its results.
// A document of another schema version, or with unknown fields, is an
// error.
func ReadJSON(r io.Reader) ([]drills.Result, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read json report: %w", err)
	}
	if doc.SchemaVersion != ReportSchemaVersion {
		return nil, fmt.Errorf("read json report: schemaVersion %q is not %q", doc.SchemaVersion, ReportSchemaVersion)
	}
	if dec.More() {
		return nil, fmt.Errorf("read json report: trailing data after the document")
	}
	return doc.Results, nil
}

// DecodeResults reads either a JSON report Document or one bare
// drills.Result (schemaVersion drills.ResultSchemaVersion), strictly: any
// other schema version or an unknown field is an error.
func DecodeResults(data []byte) ([]drills.Result, error) {
	var head struct {
		SchemaVersion string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	if head.SchemaVersion != drills.ResultSchemaVersion {
		return ReadJSON(bytes.NewReader(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r drills.Result
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read result: trailing data after the result")
	}
	return []drills.Result{r}, nil
}
