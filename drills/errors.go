package drills

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a drill, located by file, line and field
// path (e.g. spec.guard.rules[0].for).
type FieldError struct {
	// File is the drill file, if known.
	File string
	// Line is the 1-based line in File, or 0 if unknown.
	Line int
	// Path is the field path, or "" for document-level problems.
	Path string
	// Message says what is wrong and, where possible, what is wanted.
	Message string
}

// Error formats the error as "file:line: path: message".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList is every problem found in a drill file. Load returns it as its
// error so that a user sees all mistakes at once.
type ErrorList []*FieldError

// Error joins the errors, one per line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// errs collects field errors during validation.
type errs struct {
	list ErrorList
}

func (e *errs) add(path, format string, args ...any) {
	e.list = append(e.list, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (e *errs) required(path string) {
	e.add(path, "required field is missing or empty")
}

func (e *errs) enum(path string, got any, allowed ...string) {
	e.add(path, "invalid value %q: want one of %s", fmt.Sprint(got), strings.Join(allowed, ", "))
}

// sortErrors orders errors by line, then path, so output is stable.
func sortErrors(l ErrorList) {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Path < l[j].Path
	})
}
