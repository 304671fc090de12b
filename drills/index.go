package drills

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineIndex maps field paths of one YAML document to source lines, and
// lines back to the paths that start on them.
type lineIndex struct {
	byPath map[string]int
	byLine map[int][]string
	// colls maps the line a mapping or list value starts on to the path of
	// the field holding it.
	colls map[int]string
}

func newLineIndex(root *yaml.Node) *lineIndex {
	ix := &lineIndex{byPath: map[string]int{}, byLine: map[int][]string{}, colls: map[int]string{}}
	if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		ix.walk(root.Content[0], "", 0)
	}
	return ix
}

func (ix *lineIndex) put(path string, line int) {
	if _, ok := ix.byPath[path]; !ok {
		ix.byPath[path] = line
	}
	ix.byLine[line] = append(ix.byLine[line], path)
}

func (ix *lineIndex) walk(n *yaml.Node, path string, depth int) {
	if depth > 64 { // deeper than any drill; do not follow pathological input
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ix.put(p, k.Line)
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				if _, ok := ix.colls[v.Line]; !ok {
					ix.colls[v.Line] = p
				}
			}
			ix.walk(v, p, depth+1)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			ix.put(p, item.Line)
			ix.walk(item, p, depth+1)
		}
	}
}

// line returns the line of path, or of its nearest parent present in the
// document (a missing required field is reported where its parent is).
func (ix *lineIndex) line(path string) int {
	if ix == nil {
		return 0
	}
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := ix.byPath[p]; ok {
			return l
		}
	}
	return 0
}

// pathAt returns the field path on line, preferring one whose last element
// is field; "" if the line holds none.
func (ix *lineIndex) pathAt(line int, field string) string {
	if ix == nil {
		return ""
	}
	paths := ix.byLine[line]
	if len(paths) == 0 {
		return ""
	}
	if field != "" {
		for _, p := range paths {
			if lastElem(p) == field {
				return p
			}
		}
	}
	return paths[len(paths)-1]
}

// collectionAt returns the path of the field whose mapping or list value
// starts on line.
func (ix *lineIndex) collectionAt(line int) string {
	if p, ok := ix.colls[line]; ok {
		return p
	}
	return ix.pathAt(line, "")
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func lastElem(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return p
	}
	return strings.TrimPrefix(p[i:], ".")
}

// fieldsOf returns the YAML field names of the struct type reached by
// following path from Drill; nil if path does not lead to a struct.
func fieldsOf(path string) []string {
	t := reflect.TypeFor[Drill]()
	if path != "" {
		for _, part := range splitPath(path) {
			t = deref(t)
			switch {
			case strings.HasPrefix(part, "["):
				if t.Kind() != reflect.Slice {
					return nil
				}
				t = t.Elem()
			case t.Kind() == reflect.Struct:
				f, ok := fieldByYAML(t, part)
				if !ok {
					return nil
				}
				t = f.Type
			default:
				return nil
			}
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func splitPath(p string) []string {
	var parts []string
	for p != "" {
		if p[0] == '[' {
			j := strings.IndexByte(p, ']')
			if j < 0 {
				return append(parts, p)
			}
			parts = append(parts, p[:j+1])
			p = strings.TrimPrefix(p[j+1:], ".")
			continue
		}
		j := strings.IndexAny(p, ".[")
		if j < 0 {
			return append(parts, p)
		}
		parts = append(parts, p[:j])
		p = strings.TrimPrefix(p[j:], ".")
	}
	return parts
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	if tag == "-" || tag == "" {
		return ""
	}
	return strings.Split(tag, ",")[0]
}

// suggest returns the candidate closest to s, if it is close enough to be a
// likely typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
