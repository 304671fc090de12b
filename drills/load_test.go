package drills

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5, "the shipped examples")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ds, err := LoadFile(f)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			require.Equal(t, f, ds[0].Source())
		})
	}
}

func TestValidTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/valid-*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadFile(f)
			require.NoError(t, err)
		})
	}
}

func TestMaxHoldKept(t *testing.T) {
	ds, err := LoadFile("testdata/valid-max-hold.yaml")
	require.NoError(t, err)
	require.Equal(t, 0.05, *ds[0].Spec.Guard.MaxHold)
}

func TestLoadMultiDocument(t *testing.T) {
	ds, err := LoadFile("testdata/valid-multi.yaml")
	require.NoError(t, err)
	require.Len(t, ds, 2)
	require.Equal(t, "t", ds[0].Metadata.Name)
	require.Equal(t, "t2", ds[1].Metadata.Name)
	require.Equal(t, 30*time.Second, ds[1].Spec.Faults[0].Duration.Duration)
}

// TestInvalidDrills checks that each mistake a user would make is reported
// with the file, the line and the field path.
func TestInvalidDrills(t *testing.T) {
	cases := []struct {
		file string
		line int
		path string
		msg  string
	}{
		{"unknown-field", 8, "spec.target.nmae", `unknown field "nmae" (did you mean "name"?)`},
		{"wrong-type", 10, "spec.traffic.rate", `wrong type: got string "fast", want a number`},
		{"bare-number-duration", 12, "spec.slo.p99", "a bare number has no unit"},
		{"bad-duration-unit", 14, "spec.guard.rules[0].for", `invalid duration "3 minutes"`},
		{"bad-cron", 11, "spec.schedule", "invalid cron schedule"},
		{"bad-promql", 12, "spec.guard.rules[0].expr", "invalid PromQL"},
		{"missing-name", 3, "metadata.name", "required"},
		{"missing-namespace", 6, "spec.target.namespace", "required"},
		{"api-version", 1, "apiVersion", "unsupported apiVersion"},
		{"unknown-kind", 2, "kind", "unsupported kind"},
		{"unknown-fault-type", 10, "spec.faults[0].type", `invalid value "pod-explode"`},
		{"percent-out-of-range", 13, "spec.faults[0].selector.value", "between 1 and 100"},
		{"protected-namespace", 7, "spec.target.namespace", "protected"},
		{"decision-order", 12, "spec.guard.decision.partialAt", "must not be above rollbackAt"},
		{"settings-wrong-type", 11, "spec.faults[0].badImage", "do not apply to a pod-kill fault"},
		{"missing-bad-image", 10, "spec.faults[0].badImage.image", "needs the image"},
		{"error-rate-percent", 12, "spec.slo.errorRate", "ratio between 0 and 1"},
		{"concurrency-lowercase", 11, "spec.concurrencyPolicy", "want one of Forbid, Allow, Replace"},
		{"expect-strategy", 15, "spec.expect.strategy", "not among spec.guard.strategies"},
		{"yaml-syntax", 11, "", "invalid YAML"},
		{"consistency-two-kinds", 13, "spec.slo.consistency[0]", "exactly one of sql, promql or http"},
		{"negative-duration", 11, "spec.faults[0].duration", "must not be negative"},
		{"traffic-path", 11, "spec.traffic.requests[0].path", `must start with "/"`},
		{"no-faults", 9, "spec.faults", "at least one fault"},
		{"bandwidth-rate", 12, "spec.faults[0].network.rate", "1mbps"},
		{"labels-list", 13, "spec.faults[0].selector.labels", "got a list, want a mapping"},
		{"duplicate-key", 9, "spec.target.name", "already defined"},
		{"rollout-shrink", 17, "spec.guard.strategies[1].name", "does not act on a Rollout target"},
		{"unscoped-rule", 15, "spec.guard.rules[1].expr", "reads every workload's series"},
		{"max-hold", 13, "spec.guard.maxHold", "fraction between 0 and 1"},
		{"nothing-to-judge", 5, "spec", "nothing to judge: give spec.traffic, spec.slo.consistency or a PromQL SLO"},
		{"rule-matrix", 12, "spec.guard.rules[0].expr", "range vector (matrix)"},
	}
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(cases), "every invalid-*.yaml has a case")
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			file := "testdata/invalid-" + tc.file + ".yaml"
			_, err := LoadFile(file)
			require.Error(t, err)
			var list ErrorList
			require.True(t, errors.As(err, &list), "want an ErrorList, got %T: %v", err, err)
			var found *FieldError
			for _, fe := range list {
				if fe.Path == tc.path && fe.Line == tc.line {
					found = fe
				}
			}
			require.NotNil(t, found, "no error at line %d path %q in:\n%v", tc.line, tc.path, err)
			require.Equal(t, file, found.File)
			require.Contains(t, found.Message, tc.msg)
			want := file + ":" + strconv.Itoa(tc.line) + ": "
			require.True(t, strings.HasPrefix(found.Error(), want), "%q should start with %q", found.Error(), want)
		})
	}
}

// errorLines maps each field path of err, which must be an ErrorList, to
// its line.
func errorLines(t *testing.T, err error) map[string]int {
	t.Helper()
	var list ErrorList
	require.True(t, errors.As(err, &list), "want an ErrorList, got %T: %v", err, err)
	paths := map[string]int{}
	for _, fe := range list {
		paths[fe.Path] = fe.Line
	}
	return paths
}

func TestLoadReportsAllErrors(t *testing.T) {
	src := `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: Bad_Name
spec:
  target:
    namespace: demo
  faults:
    - type: network-loss
      network:
        lossPercent: 0
  slo:
    errorRate: -1
`
	_, err := Load("multi.yaml", []byte(src))
	require.Equal(t, map[string]int{
		"metadata.name":                      4,
		"spec.target.name":                   6,
		"spec.faults[0].network.lossPercent": 11,
		"spec.slo.errorRate":                 13,
		"spec":                               5, // nothing to judge
	}, errorLines(t, err))
}

func TestLoadEdgeCases(t *testing.T) {
	for name, src := range map[string]string{
		"empty":        "",
		"whitespace":   "\n\n  \n",
		"scalar":       "just a string",
		"list":         "- a\n- b\n",
		"only-comment": "# nothing here\n",
		"nulldocs":     "---\n---\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(name+".yaml", []byte(src))
			require.Error(t, err)
			require.Contains(t, err.Error(), name+".yaml")
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestDefaultsApplied(t *testing.T) {
	ds, err := LoadFile("testdata/valid-minimal.yaml")
	require.NoError(t, err)
	d := ds[0]
	s := d.Spec
	require.Equal(t, TargetDeployment, s.Target.Kind)
	require.Equal(t, "payment", s.Target.Service)
	require.True(t, d.GuardEnabled())
	require.Equal(t, 0.9, *s.Guard.Decision.RollbackAt)
	require.Equal(t, 0.7, *s.Guard.Decision.PartialAt)
	require.Equal(t, 50, s.Guard.Decision.PartialPercent)
	require.Equal(t, DefaultMaxHold, *s.Guard.MaxHold)
	require.NotNil(t, s.Guard.Kubernetes, "a guard with no detector gets the workload signals")
	require.NotNil(t, s.Guard.Statistical)
	require.Equal(t, []StrategyName{StrategyRevert, StrategyHuman}, []StrategyName{s.Guard.Strategies[0].Name, s.Guard.Strategies[1].Name})
	require.Equal(t, 0.01, *s.SLO.ErrorRate)
	require.Equal(t, 500*time.Millisecond, s.SLO.P99.Duration)
	require.Equal(t, 5*time.Minute, s.Timeouts.Observe.Duration)
	require.Equal(t, ConcurrencyForbid, s.ConcurrencyPolicy)
	require.Equal(t, "pod-kill", s.Faults[0].Name)
	require.Equal(t, BackendAuto, s.Faults[0].Backend)
	require.Equal(t, "demo", s.Faults[0].Selector.Namespace)
	require.Equal(t, ModeOne, s.Faults[0].Selector.Mode)

	// Default is idempotent and keeps user values.
	before := *s.Guard.Decision.RollbackAt
	d.Default()
	require.Equal(t, before, *d.Spec.Guard.Decision.RollbackAt)
}

func TestDefaultFaultNamesAreUnique(t *testing.T) {
	d := &Drill{APIVersion: APIVersion, Kind: KindDrill, Metadata: Metadata{Name: "x"},
		Spec: Spec{Target: Target{Namespace: "n", Name: "w"}, Traffic: &Traffic{Requests: []RequestTemplate{{Path: "/"}}},
			Faults: []Fault{{Type: FaultPodKill}, {Type: FaultPodKill}}}}
	d.Default()
	require.NoError(t, d.Validate())
	require.Equal(t, "pod-kill-1", d.Spec.Faults[0].Name)
	require.Equal(t, "pod-kill-2", d.Spec.Faults[1].Name)
}

func TestValidateInCodeHasNoFile(t *testing.T) {
	d := &Drill{APIVersion: APIVersion, Kind: KindDrill}
	d.Default()
	err := d.Validate()
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "metadata.name: "), err.Error())
}

// TestRuleExprType checks that an expression with no value to compare
// (a range vector or a string) is refused at its line, for rules and for
// PromQL consistency checks, while instant vectors and scalars load.
func TestRuleExprType(t *testing.T) {
	const src = `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: r
spec:
  target:
    namespace: demo
    name: payment
  guard:
    rules:
      - name: r
        expr: EXPR
        threshold: 1
        scope: cluster
  slo:
    consistency:
      - name: c
        promql:
          expr: EXPR
  faults:
    - type: pod-kill
`
	cases := []struct {
		expr string
		msg  string // "" when the drill loads
	}{
		{`sum(rate(http_requests_total[1m]))`, ""},
		{`rate(http_requests_total[1m]) / rate(x[1m])`, ""},
		{`1 + 1`, ""},
		{`http_requests_total`, ""},
		{`http_requests_total[1m]`, "range vector (matrix)"},
		{`rate(x[5m])[30m:1m]`, "range vector (matrix)"},
		{`"up"`, "gives a string"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			body := strings.ReplaceAll(src, "EXPR", strconv.Quote(tc.expr))
			_, err := Load("type.yaml", []byte(body))
			if tc.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, map[string]int{
				"spec.guard.rules[0].expr":            12,
				"spec.slo.consistency[0].promql.expr": 19,
			}, errorLines(t, err))
			require.Contains(t, err.Error(), "type.yaml:12: spec.guard.rules[0].expr: ")
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestIsRatio(t *testing.T) {
	for expr, want := range map[string]bool{
		`sum(rate(errors[1m])) / sum(rate(total[1m]))`:           true,
		`max(rate(a[1m]) / rate(b[1m])) > 0.5`:                   true,
		`(sum(rate(x{code=~"5.."}[15s])) or vector(0)) / 2`:      true,
		`sum(rate(http_requests_total{path=~"/api/.*"}[1m]))`:    false,
		`histogram_quantile(0.99, rate(h_bucket{path="/"}[1m]))`: false,
		`a * b - c`:    false,
		`not promql (`: false,
		``:             false,
	} {
		require.Equal(t, want, IsRatio(expr), expr)
	}
}

func TestOpCompare(t *testing.T) {
	cases := []struct {
		op   Op
		v, t float64
		want bool
	}{
		{OpGT, 2, 1, true}, {OpGT, 1, 1, false}, {OpGE, 1, 1, true}, {OpLT, 0, 1, true},
		{OpLE, 2, 1, false}, {OpEQ, 1, 1, true}, {OpNE, 1, 1, false}, {Op("~"), 1, 1, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.op.Compare(c.v, c.t), "%v %s %v", c.v, c.op, c.t)
	}
}

func TestSuggest(t *testing.T) {
	require.Equal(t, "namespace", suggest("namspace", []string{"name", "namespace", "port"}))
	require.Equal(t, "", suggest("zzzzzz", []string{"name", "namespace"}))
}

func BenchmarkLoadExample(b *testing.B) {
	data, err := os.ReadFile("examples/bad-image.yaml")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("bad-image.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRolloutGuardRefusesDeploymentSignals checks that what reads a
// Deployment's ReplicaSets is refused for a Rollout target, at its line.
func TestRolloutGuardRefusesDeploymentSignals(t *testing.T) {
	src := `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: r
spec:
  target:
    kind: Rollout
    namespace: demo
    name: payment
  guard:
    kubernetes:
      crashLoop: true
    statistical:
      method: sprt
    strategies:
      - name: traffic-switch
        trafficSwitch:
          stableSelector: {track: stable}
  traffic:
    requests:
      - path: /
  faults:
    - type: pod-kill
`
	_, err := Load("rollout.yaml", []byte(src))
	require.Equal(t, map[string]int{
		"spec.guard.kubernetes":         11,
		"spec.guard.statistical":        13,
		"spec.guard.strategies[0].name": 16,
	}, errorLines(t, err))

	// The same guard on a Deployment is fine.
	_, err = Load("deployment.yaml", []byte(strings.Replace(src, "    kind: Rollout\n", "", 1)))
	require.NoError(t, err)
}
