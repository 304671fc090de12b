package drills

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/invopop/jsonschema"
	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("500ms",
// "5m", "1h30m") in YAML and JSON.
type Duration struct {
	time.Duration
}

// D returns a pointer to a Duration of d, for building drills in code.
func D(d time.Duration) *Duration { return &Duration{Duration: d} }

// Get returns d's value, or def when d is nil.
func (d *Duration) Get(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// ParseDuration parses a Go duration string and rejects negative values.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, e.g. 500ms, 30s, 5m", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return v, nil
}

// UnmarshalYAML reads a duration string; errors carry the node's line so the
// loader can name the field.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float") {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into a duration: want a string such as 30s", n.Line, describeNode(n))}}
	}
	if n.Tag != "!!str" {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %s: a bare number has no unit, write e.g. %ss", n.Line, n.Value, n.Value)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as 30s: %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// JSONSchema describes a Duration in the drill JSON Schema.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`,
		Description: "A Go duration such as 500ms, 30s, 5m or 1h30m.",
	}
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%s %q", n.Tag, n.Value)
}
