package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/runner"
)

// Names of the healthy soak's workload: a copy of the demo's payment
// Deployment under its own labels (so that no drill's selector, Service or
// scoped rule reaches it), failing a small share of requests on purpose.
const (
	SoakNamespace  = "firedrill-demo"
	SoakDeployment = "payment-soak"
	SoakService    = "payment-soak"
	// SoakApp is the pods' app label, and the Prometheus label the soak's
	// guard rules are scoped to.
	SoakApp = "payment-soak"
	// DefaultSoakNoise is the share of requests the soak's pods fail: the
	// issue's 0.5 % background errors.
	DefaultSoakNoise = 0.005
	// soakRevisionAnnotation names a noisy workload's revision in its pod
	// template: Create sets it to 1, then 2, so that a (false) revert has a
	// revision to go back to; Push sets it to a new token for every new
	// revision.
	soakRevisionAnnotation = "firedrill.dev/soak-revision"
)

// SoakObjects returns the soak's Service and Deployment: the pod template
// of base (the demo's payment Deployment) under app=payment-soak with the
// buggy behaviour at noise (PAYMENT_BEHAVIOUR=buggy, PAYMENT_FAULT_RATE),
// set as container env, which overrides the image's per-tag env.
func SoakObjects(base *appsv1.Deployment, image string, replicas int32, noise float64) (*corev1.Service, *appsv1.Deployment) {
	return SoakWorkload.Objects(base, image, replicas, noise)
}

// CreateSoak creates the soak's Service and Deployment from the live demo
// Deployment and rolls it to a second revision of the same (noisy) pod
// template, waiting until each is available. A revert then has a revision
// to go back to, so a false rollback would really act.
func CreateSoak(ctx context.Context, cs kubernetes.Interface, baseName string, replicas int32, noise float64, timeout time.Duration) error {
	return SoakWorkload.Create(ctx, cs, baseName, replicas, noise, timeout)
}

// DeleteSoak deletes the soak's Deployment and Service and waits until its
// pods are gone.
func DeleteSoak(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	return SoakWorkload.Delete(ctx, cs, timeout)
}

// GuardProcess configures the engine guarding the soak in a process of
// its own, so that its CPU time and peak RSS are the engine's alone.
type GuardProcess struct {
	// Kubeconfig and PrometheusURL reach the stack.
	Kubeconfig    string `json:"kubeconfig"`
	PrometheusURL string `json:"prometheusURL"`
	// DrillFile is the drill whose guard policy guards the soak.
	DrillFile string `json:"drillFile"`
	// Duration is how long to guard.
	Duration time.Duration `json:"duration"`
}

// SoakEvent is one engine event of the soak, as the guard process prints
// it.
type SoakEvent struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Incident string    `json:"incident,omitempty"`
	Strategy string    `json:"strategy,omitempty"`
	Action   string    `json:"action,omitempty"`
	Score    float64   `json:"score,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
	// EvidenceKinds are the kinds (rule, kubernetes, sequential) of the
	// evidence behind a detection or a decision.
	EvidenceKinds []string `json:"evidenceKinds,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// Line prefixes of the guard process's output.
const (
	eventPrefix = "FDBENCH-EVENT "
	statsPrefix = "FDBENCH-STATS "
)

// guardStats is the guard process's last line.
type guardStats struct {
	Evaluations int64 `json:"evaluations"`
}

// RunGuardProcess is the body of the soak's guard process: it guards the
// soak workload with the drill's policy (its rules scoped to the soak's
// pods) for cfg.Duration and prints each engine event and, at the end, its
// evaluation count to w.
func RunGuardProcess(ctx context.Context, cfg GuardProcess, w io.Writer) error {
	ds, err := drills.LoadFile(cfg.DrillFile)
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	d := ds[0]
	d.Default()
	if d.Spec.Guard == nil {
		return fmt.Errorf("bench: guard process: drill %s has no guard", d.Metadata.Name)
	}
	rateOpt, err := ScopeGuard(d, SoakApp)
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	prom, err := runner.DefaultPrometheus(cfg.PrometheusURL)
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	dir, err := os.MkdirTemp("", "fdbench-audit-")
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	defer os.RemoveAll(dir)
	audit, err := engine.OpenSQLiteAudit(ctx, dir+"/audit.db")
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	defer audit.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	print := func(prefix string, v any) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, prefix)
		_ = enc.Encode(v)
	}
	target := drills.Target{Namespace: SoakNamespace, Name: SoakDeployment, Service: SoakService, Port: 8080}
	g, err := engine.NewGuard(*d.Spec.Guard, target, engine.WithKubernetes(cs), engine.WithPrometheus(prom),
		engine.WithAudit(audit), rateOpt, engine.OnEvent(func(e engine.Event) { print(eventPrefix, soakEvent(e)) }))
	if err != nil {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	gctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	if err := g.Run(gctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("bench: guard process: %w", err)
	}
	print(statsPrefix, guardStats{Evaluations: g.Evaluations()})
	return nil
}

func soakEvent(e engine.Event) SoakEvent {
	s := SoakEvent{Time: e.Time, Kind: string(e.Kind), Incident: e.Incident, Strategy: string(e.Strategy)}
	if e.Decision != nil {
		s.Action, s.Score, s.Reason = string(e.Decision.Action), e.Decision.Score, e.Decision.Reason
	}
	for _, ev := range e.Evidence {
		s.Evidence = append(s.Evidence, ev.Source)
	}
	evidence := e.Evidence
	if e.Kind == engine.EventDecision && e.Decision != nil {
		evidence = e.Decision.Evidence
	}
	for _, ev := range evidence {
		if !slices.Contains(s.EvidenceKinds, string(ev.Kind)) {
			s.EvidenceKinds = append(s.EvidenceKinds, string(ev.Kind))
		}
	}
	if e.Err != nil {
		s.Error = e.Err.Error()
	}
	return s
}

// ParseGuardOutput reads the guard process's events and evaluation count
// from its output, ignoring every other line.
func ParseGuardOutput(r io.Reader) ([]SoakEvent, int64, error) {
	var events []SoakEvent
	var evals int64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, eventPrefix); i >= 0 {
			var e SoakEvent
			if err := json.Unmarshal([]byte(line[i+len(eventPrefix):]), &e); err != nil {
				return nil, 0, fmt.Errorf("bench: guard output: %w", err)
			}
			events = append(events, e)
		} else if i := strings.Index(line, statsPrefix); i >= 0 {
			var st guardStats
			if err := json.Unmarshal([]byte(line[i+len(statsPrefix):]), &st); err != nil {
				return nil, 0, fmt.Errorf("bench: guard output: %w", err)
			}
			evals = st.Evaluations
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("bench: guard output: %w", err)
	}
	return events, evals, nil
}

// CountSoak counts the soak's detections, decisions and actions, its
// false rollbacks: the incidents in which the engine decided to roll back
// (fully or partially) or acted with a strategy other than handing over to
// a human, and its sequential false alarms: the incidents whose evidence,
// at the detection or at a decision, included the sequential test. On a
// healthy workload every one of them is false, and every detection is a
// false alarm.
func CountSoak(s *Soak, events []SoakEvent) {
	s.Events = events
	s.Detections, s.Decisions, s.Actions, s.FalseRollbacks, s.SequentialFalseAlarms = 0, 0, 0, 0, 0
	rolled, sequential := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		switch engine.EventKind(e.Kind) {
		case engine.EventDetection:
			s.Detections++
			if slices.Contains(e.EvidenceKinds, string(engine.EvidenceSequential)) {
				sequential[e.Incident] = true
			}
		case engine.EventDecision:
			s.Decisions++
			if slices.Contains(e.EvidenceKinds, string(engine.EvidenceSequential)) {
				sequential[e.Incident] = true
			}
			if e.Action == string(engine.ActionRollback) || e.Action == string(engine.ActionPartialRollback) {
				rolled[e.Incident] = true
			}
		case engine.EventAction:
			s.Actions++
			if e.Strategy != "" && e.Strategy != string(drills.StrategyHuman) {
				rolled[e.Incident] = true
			}
		}
	}
	s.FalseRollbacks = len(rolled)
	s.SequentialFalseAlarms = len(sequential)
}
