package drills

import "fmt"

// Line returns the source line of the field at path (e.g.
// "spec.guard.rules[0].expr"), or of its nearest parent written in the
// file when the field itself is not (a defaulted field is reported where
// its parent is, as validation errors are); 0 for a drill built in code.
func (d *Drill) Line(path string) int {
	if d == nil {
		return 0
	}
	return d.index.line(path)
}

// Written reports whether the field at path is written in the drill's
// file; false for fields that Default filled in and for drills built in
// code.
func (d *Drill) Written(path string) bool {
	if d == nil || d.index == nil {
		return false
	}
	_, ok := d.index.byPath[path]
	return ok
}

// FieldError returns a FieldError on the field at path, located in the
// drill's file and line, for checks that run after Load (preflight).
func (d *Drill) FieldError(path, format string, args ...any) *FieldError {
	fe := &FieldError{Path: path, Message: fmt.Sprintf(format, args...)}
	if d != nil {
		fe.File = d.source
		fe.Line = d.Line(path)
	}
	return fe
}
