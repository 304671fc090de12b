package drills

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/invopop/jsonschema"
	"go.yaml.in/yaml/v3"
)

// Revision names the revision the revert strategy goes back to: a revision
// number (1 and up), or one of the words lastKnownGood (the default, also
// written as 0) and previous.
type Revision int64

// The revisions named by a word.
const (
	// RevisionLastKnownGood: the newest older revision the engine marked
	// known good (it served goodAfter with no evidence), else the previous
	// one. For an Argo Rollout, which the engine does not mark, the
	// previous one.
	RevisionLastKnownGood Revision = 0
	// RevisionPrevious: the revision before the current one, as kubectl
	// rollout undo does, even when it was never known good.
	RevisionPrevious Revision = -1
)

// Revision words as written in drills.
const (
	revisionWordLastKnownGood = "lastKnownGood"
	revisionWordPrevious      = "previous"
)

// Number is the revision number, or 0 for a revision named by a word.
func (r Revision) Number() int64 { return max(int64(r), 0) }

// String is the revision as written in a drill.
func (r Revision) String() string {
	switch r {
	case RevisionLastKnownGood:
		return revisionWordLastKnownGood
	case RevisionPrevious:
		return revisionWordPrevious
	}
	return strconv.FormatInt(int64(r), 10)
}

// parseRevision reads a revision number or word.
func parseRevision(s string) (Revision, error) {
	switch s {
	case revisionWordLastKnownGood:
		return RevisionLastKnownGood, nil
	case revisionWordPrevious:
		return RevisionPrevious, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid revision %q: want a revision number (1 and up), %s or %s", s, revisionWordLastKnownGood, revisionWordPrevious)
	}
	return Revision(v), nil
}

// UnmarshalYAML reads a revision number or word; errors carry the node's
// line so the loader can name the field.
func (r *Revision) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into a revision: want a revision number, %s or %s",
			n.Line, describeNode(n), revisionWordLastKnownGood, revisionWordPrevious)}}
	}
	v, err := parseRevision(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*r = v
	return nil
}

// MarshalYAML writes a number as a number and a word as the word.
func (r Revision) MarshalYAML() (any, error) {
	if r > 0 {
		return int64(r), nil
	}
	return r.String(), nil
}

// MarshalJSON writes a number as a number and a word as the word.
func (r Revision) MarshalJSON() ([]byte, error) {
	if r > 0 {
		return json.Marshal(int64(r))
	}
	return json.Marshal(r.String())
}

// UnmarshalJSON reads a revision number or word.
func (r *Revision) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("revision: want a revision number, %s or %s", revisionWordLastKnownGood, revisionWordPrevious)
		}
		s = strconv.FormatInt(n, 10)
	}
	v, err := parseRevision(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// JSONSchema describes a Revision in the drill JSON Schema.
func (Revision) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		OneOf: []*jsonschema.Schema{
			{Type: "integer", Minimum: json.Number("0")},
			{Type: "string", Enum: []any{revisionWordLastKnownGood, revisionWordPrevious}},
		},
		Description: "A revision number, lastKnownGood (default) or previous.",
	}
}
