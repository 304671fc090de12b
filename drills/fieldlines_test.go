package drills

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDrillLineWrittenAndFieldError(t *testing.T) {
	src := `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: lines
spec:
  target: {namespace: shop, name: web}
  prometheus: {url: "http://127.0.0.1:9090"}
  guard:
    rules:
      - name: A
        expr: up{namespace="shop"}
        threshold: 1
      - name: B
        threshold: 2
        expr: rate(x{namespace="shop"}[5s])
  faults:
    - type: pod-kill
  traffic: {rate: 1, requests: [{path: /}]}
`
	ds, err := Load("lines.yaml", []byte(src))
	require.NoError(t, err)
	d := ds[0]
	for _, tc := range []struct {
		path    string
		line    int
		written bool
	}{
		{"spec.guard.rules[0].expr", 11, true},
		{"spec.guard.rules[1].expr", 15, true},
		{"spec.guard.rules[1].for", 13, false}, // defaulted: its rule's line
		{"spec.target.namespace", 6, true},
		{"spec.nothing.here", 5, false},
	} {
		require.Equal(t, tc.line, d.Line(tc.path), tc.path)
		require.Equal(t, tc.written, d.Written(tc.path), tc.path)
	}
	fe := d.FieldError("spec.guard.rules[1].expr", "range %s is too short", "[5s]")
	require.Equal(t, "lines.yaml:15: spec.guard.rules[1].expr: range [5s] is too short", fe.Error())

	var built *Drill
	require.Zero(t, built.Line("spec"))
	require.False(t, (&Drill{}).Written("spec"))
	require.Equal(t, "spec: x", (&Drill{}).FieldError("spec", "x").Error())
}
