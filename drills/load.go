package drills

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds what Load reads; drills are small documents.
const maxFileSize = 4 << 20

// LoadFile reads, defaults and validates every drill in a YAML file (one or
// more documents separated by ---). On any problem it returns an ErrorList
// naming the file, line and field of each one.
func LoadFile(path string) ([]*Drill, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load drill: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load drill %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, ErrorList{{File: path, Message: fmt.Sprintf("file is larger than %d bytes; is it a drill?", maxFileSize)}}
	}
	return Load(path, data)
}

// Load parses drills from data; name is used in messages. It decodes
// strictly (unknown fields and wrong types are errors), applies Default and
// runs Validate.
func Load(name string, data []byte) ([]*Drill, error) {
	drills, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	var all ErrorList
	for _, d := range drills {
		d.Default()
		if err := d.Validate(); err != nil {
			var list ErrorList
			if errors.As(err, &list) {
				all = append(all, list...)
			} else {
				all = append(all, &FieldError{File: name, Message: err.Error()})
			}
		}
	}
	if len(all) > 0 {
		return nil, all
	}
	return drills, nil
}

// Parse decodes drills strictly without defaulting or validating them.
func Parse(name string, data []byte) ([]*Drill, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrorList{{File: name, Message: "file is empty: want a Drill document (apiVersion: " + APIVersion + ", kind: Drill)"}}
	}
	// First pass: the node trees, to map lines to field paths.
	var roots []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fe := syntaxError(name, err)
			if l := firstBadLine(data, fe.Message); l > 0 {
				fe.Line = l
			}
			return nil, ErrorList{fe}
		}
		roots = append(roots, &n)
	}
	// Second pass: strict decoding of the same stream, document by document.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var out []*Drill
	var all ErrorList
	for i, root := range roots {
		ix := newLineIndex(root)
		d := &Drill{source: name, index: ix}
		err := strict.Decode(d)
		if len(root.Content) == 0 || isNull(root.Content[0]) {
			continue // an empty document between separators
		}
		top := root.Content[0]
		if top.Kind != yaml.MappingNode {
			all = append(all, &FieldError{File: name, Line: top.Line, Message: fmt.Sprintf("document %d is %s, want a Drill mapping (apiVersion, kind, metadata, spec)", i+1, describeNode(top))})
			continue
		}
		if err != nil {
			all = append(all, decodeErrors(name, err, ix)...)
			continue
		}
		out = append(out, d)
	}
	if len(all) > 0 {
		return nil, all
	}
	if len(out) == 0 {
		return nil, ErrorList{{File: name, Message: "file holds no Drill document"}}
	}
	return out, nil
}

func decodeErrors(name string, err error, ix *lineIndex) ErrorList {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return ErrorList{syntaxError(name, err)}
	}
	var list ErrorList
	for _, msg := range te.Errors {
		list = append(list, typeError(name, msg, ix))
	}
	return list
}

var (
	lineRe         = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownFieldRe = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	unmarshalRe    = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	yamlLineRe     = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// typeError turns one of yaml.v3's decode messages into a FieldError with a
// field path and a message a user can act on.
func typeError(name, msg string, ix *lineIndex) *FieldError {
	m := lineRe.FindStringSubmatch(msg)
	if m == nil {
		return &FieldError{File: name, Message: msg}
	}
	line, _ := strconv.Atoi(m[1])
	body := m[2]
	fe := &FieldError{File: name}
	if u := unknownFieldRe.FindStringSubmatch(body); u != nil {
		fe.Path = ix.pathAt(line, u[1])
		fe.Line = line
		fe.Message = fmt.Sprintf("unknown field %q", u[1])
		if s := suggest(u[1], fieldsOf(parentPath(fe.Path))); s != "" {
			fe.Message += fmt.Sprintf(" (did you mean %q?)", s)
		} else if fields := fieldsOf(parentPath(fe.Path)); len(fields) > 0 {
			fe.Message += "; known fields: " + strings.Join(fields, ", ")
		}
		return fe
	}
	fe.Line = line
	if u := unmarshalRe.FindStringSubmatch(body); u != nil {
		if u[1] == "!!seq" || u[1] == "!!map" {
			// A collection: the field is the one that holds it.
			fe.Path = ix.collectionAt(line)
			fe.Message = fmt.Sprintf("wrong type: got %s, want %s", tagName(u[1]), goTypeName(u[3]))
			return fe
		}
		fe.Path = ix.pathAt(line, "")
		fe.Message = fmt.Sprintf("wrong type: got %s %q, want %s", tagName(u[1]), u[2], goTypeName(u[3]))
		return fe
	}
	fe.Path = ix.pathAt(line, "")
	fe.Message = body
	return fe
}

func syntaxError(name string, err error) *FieldError {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{File: name, Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &FieldError{File: name, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// maxScanLines bounds the prefix scan of firstBadLine.
const maxScanLines = 2000

// firstBadLine finds the line a syntax error is really on. yaml.v3 reports
// the line where the enclosing block starts, which can be far above the
// mistake; the first prefix of the file that fails to parse with the same
// problem ends on the offending line. It returns 0 if it cannot tell.
func firstBadLine(data []byte, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxScanLines {
		return 0
	}
	var prefix []byte
	for i, l := range lines {
		prefix = append(prefix, l...)
		dec := yaml.NewDecoder(bytes.NewReader(prefix))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if syntaxError("", err).Message == msg {
				return i + 1
			}
			break
		}
	}
	return 0
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func tagName(tag string) string {
	switch tag {
	case "!!str":
		return "string"
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!null":
		return "null"
	}
	return tag
}

func goTypeName(t string) string {
	t = strings.TrimPrefix(t, "drills.")
	switch {
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	}
	return t
}
