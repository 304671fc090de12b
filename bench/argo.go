package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/clusters/local/argorollouts"
	"github.com/firedrill/firedrill/deploy"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
)

// ArgoSetting selects the AnalysisTemplate of deploy/argo that guards the
// Rollout during a measurement.
type ArgoSetting string

// The two settings the benchmark compares.
const (
	// ArgoDocumented is Argo's documented example: interval 5m,
	// failureLimit 3 (template payment-argo-documented).
	ArgoDocumented ArgoSetting = "documented"
	// ArgoFastest is the fastest its docs allow here: interval 1s,
	// failureLimit 0 (template payment-argo-fastest).
	ArgoFastest ArgoSetting = "fastest"
)

// Template is the AnalysisTemplate of the setting.
func (s ArgoSetting) Template() string { return "payment-argo-" + string(s) }

// Names of the Argo-guarded workload in deploy/argo.
const (
	ArgoNamespace = "firedrill-demo"
	ArgoRollout   = "payment-argo"
	ArgoService   = "payment-argo"
	// ArgoPeer names Argo Rollouts in results.
	ArgoPeer = "argo-rollouts"
)

// Defaults of ArgoConfig.
const (
	DefaultPrometheusURL  = "http://127.0.0.1:9090"
	DefaultBadImage       = "payment:v2-buggy"
	DefaultGoodImage      = "payment:v1"
	DefaultRecoveredRatio = 0.01
	DefaultReadyTimeout   = 3 * time.Minute
	// DefaultArgoTimeout bounds detection and recovery at the fastest
	// setting; the documented one takes DefaultArgoDocumentedTimeout.
	DefaultArgoTimeout = 5 * time.Minute
	// DefaultArgoDocumentedTimeout leaves room for failureLimit 3 at 5m
	// intervals: four failed measurements, the first at 5m at the earliest
	// when the run's first measurement finds the canary not scraped yet.
	DefaultArgoDocumentedTimeout = 30 * time.Minute
	// errorRatioWindow is the rate window of the recovery check, the same
	// as firedrill's HighErrorRate rule and the AnalysisTemplates'.
	errorRatioWindow = "15s"
	pollEvery        = 200 * time.Millisecond
)

var (
	rolloutGVR          = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	analysisRunGVR      = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}
	analysisTemplateGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysistemplates"}
)

// ArgoConfig configures one MeasureArgo run. The Argo Rollouts controller
// must run (argorollouts.Start) against the cluster of REST, and the demo
// stack (namespace, config, Prometheus, images) must be up.
type ArgoConfig struct {
	// REST reaches the cluster.
	REST *rest.Config
	// PrometheusURL is the stack's Prometheus, the one the templates query
	// (default DefaultPrometheusURL).
	PrometheusURL string
	// Setting picks the AnalysisTemplate (required).
	Setting ArgoSetting
	// Traffic is the load sent to the Rollout's ready pods during the run:
	// the bad-image drill's (50 requests/s).
	Traffic drills.Traffic
	// BadImage is pushed (default DefaultBadImage); GoodImage is the stable
	// release before and after (default DefaultGoodImage).
	BadImage, GoodImage string
	// Timeout bounds detection and recovery after the push (default
	// DefaultArgoDocumentedTimeout for ArgoDocumented, else
	// DefaultArgoTimeout).
	Timeout time.Duration
	// ReadyTimeout bounds each wait for a healthy Rollout and for traffic
	// to show in Prometheus (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// RecoveredRatio is the 5xx ratio under which the service counts as
	// recovered (default DefaultRecoveredRatio, the drill's SLO).
	RecoveredRatio float64
	// Log receives progress (default: none).
	Log *slog.Logger
}

// PeerResult is one measured run of a peer rollback controller against the
// bad image, with the raw timestamps MTTD and MTTR derive from.
type PeerResult struct {
	// Peer and Version name the controller (ArgoPeer, argorollouts.Version).
	Peer    string `json:"peer"`
	Version string `json:"version"`
	// Setting, Template, Interval and FailureLimit describe the analysis
	// as the cluster held it during the run.
	Setting      ArgoSetting `json:"setting"`
	Template     string      `json:"template"`
	Interval     string      `json:"interval"`
	FailureLimit int64       `json:"failureLimit"`
	// BadImage is the image pushed.
	BadImage string `json:"badImage"`
	// Detected reports whether the controller detected the bad release
	// (its AnalysisRun Failed or the Rollout aborted); Recovered whether
	// the service recovered within the timeout.
	Detected  bool `json:"detected"`
	Recovered bool `json:"recovered"`
	// MTTD is Pushed → AnalysisFailed (or Aborted, if observed first).
	MTTD drills.Duration `json:"mttd"`
	// MTTR is Pushed → the later of StableOnly and ErrorRatioOK.
	MTTR drills.Duration `json:"mttr"`
	// MTTDSeconds and MTTRSeconds repeat MTTD and MTTR for tables.
	MTTDSeconds float64 `json:"mttdSeconds"`
	MTTRSeconds float64 `json:"mttrSeconds"`
	// Pushed is when the bad image was written to the Rollout.
	Pushed time.Time `json:"pushed"`
	// CanaryReady is when a canary pod first served (was a ready endpoint).
	CanaryReady time.Time `json:"canaryReady,omitzero"`
	// AnalysisFailed is when the AnalysisRun was first seen Failed (or
	// Error/Inconclusive, as AnalysisPhase says).
	AnalysisFailed time.Time `json:"analysisFailed,omitzero"`
	// AnalysisRun and AnalysisPhase name the run and its final phase;
	// Measurements is how many measurements it took, FailedMeasurements
	// how many of them failed.
	AnalysisRun        string `json:"analysisRun"`
	AnalysisPhase      string `json:"analysisPhase"`
	Measurements       int    `json:"measurements"`
	FailedMeasurements int    `json:"failedMeasurements"`
	// MeasurementLog is the run's measurements as its status last held
	// them (Argo keeps the latest 10 by default).
	MeasurementLog []ArgoMeasurement `json:"measurementLog,omitempty"`
	// Aborted is when the Rollout was first seen aborted.
	Aborted time.Time `json:"aborted,omitzero"`
	// StableOnly is when, after detection, every ready endpoint of the
	// Service was a pod of the stable ReplicaSet and the canary had no
	// replicas left.
	StableOnly time.Time `json:"stableOnly,omitzero"`
	// ErrorRatioOK is when, after StableOnly, the Rollout's 5xx ratio over
	// 15 s in Prometheus was first below RecoveredRatio.
	ErrorRatioOK time.Time `json:"errorRatioOK,omitzero"`
	// PeakErrorRatio is the highest 5xx ratio Prometheus showed after the
	// push.
	PeakErrorRatio float64 `json:"peakErrorRatio"`
	// Requests and Errors are the traffic generator's totals over the run;
	// ErrorsAfterPush counts the errors of requests scheduled after the push.
	Requests        int64 `json:"requests"`
	Errors          int64 `json:"errors"`
	ErrorsAfterPush int64 `json:"errorsAfterPush"`
}

// MeasureArgo applies deploy/argo with cfg.Setting's template, waits for a
// healthy Rollout on the good image under traffic, pushes the bad image and
// measures until Argo has detected it and the service has recovered (or the
// timeout). It restores the good image before returning. An error means the
// measurement could not be made; a run that timed out before detection or
// recovery returns its partial result together with an error.
func MeasureArgo(ctx context.Context, cfg ArgoConfig) (PeerResult, error) {
	if err := cfg.defaults(); err != nil {
		return PeerResult{}, err
	}
	m, err := newArgoRun(cfg)
	if err != nil {
		return PeerResult{}, err
	}
	return m.measure(ctx)
}

func (cfg *ArgoConfig) defaults() error {
	if cfg.REST == nil {
		return errors.New("bench: ArgoConfig.REST is required")
	}
	switch cfg.Setting {
	case ArgoDocumented, ArgoFastest:
	default:
		return fmt.Errorf("bench: unknown Argo setting %q (want %q or %q)", cfg.Setting, ArgoDocumented, ArgoFastest)
	}
	if len(cfg.Traffic.Requests) == 0 {
		return errors.New("bench: ArgoConfig.Traffic has no requests")
	}
	if cfg.PrometheusURL == "" {
		cfg.PrometheusURL = DefaultPrometheusURL
	}
	if cfg.BadImage == "" {
		cfg.BadImage = DefaultBadImage
	}
	if cfg.GoodImage == "" {
		cfg.GoodImage = DefaultGoodImage
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultArgoTimeout
		if cfg.Setting == ArgoDocumented {
			cfg.Timeout = DefaultArgoDocumentedTimeout
		}
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.RecoveredRatio == 0 {
		cfg.RecoveredRatio = DefaultRecoveredRatio
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// argoRun holds the clients of one measurement.
type argoRun struct {
	cfg  ArgoConfig
	cs   kubernetes.Interface
	dyn  dynamic.Interface
	prom promv1.API
	log  *slog.Logger
}

func newArgoRun(cfg ArgoConfig) (*argoRun, error) {
	cs, err := kubernetes.NewForConfig(cfg.REST)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg.REST)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	pc, err := promapi.NewClient(promapi.Config{Address: cfg.PrometheusURL})
	if err != nil {
		return nil, fmt.Errorf("bench: prometheus: %w", err)
	}
	return &argoRun{cfg: cfg, cs: cs, dyn: dyn, prom: promv1.NewAPI(pc), log: cfg.Log.With("peer", ArgoPeer, "setting", cfg.Setting)}, nil
}

// ArgoObjects are the objects of deploy/argo with the Rollout set to run
// image under setting's template.
func ArgoObjects(setting ArgoSetting, image string) ([]*unstructured.Unstructured, error) {
	b, err := deploy.Manifests("argo")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	objs, err := deploy.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() != "Rollout" || o.GetName() != ArgoRollout {
			continue
		}
		found = true
		tmpls, _, err := unstructured.NestedSlice(o.Object, "spec", "strategy", "canary", "analysis", "templates")
		if err != nil || len(tmpls) != 1 {
			return nil, fmt.Errorf("bench: Rollout %s: want one analysis template, got %d (%v)", ArgoRollout, len(tmpls), err)
		}
		tmpls[0].(map[string]any)["templateName"] = setting.Template()
		if err := unstructured.SetNestedSlice(o.Object, tmpls, "spec", "strategy", "canary", "analysis", "templates"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		ctrs, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if err != nil || len(ctrs) != 1 {
			return nil, fmt.Errorf("bench: Rollout %s: want one container, got %d (%v)", ArgoRollout, len(ctrs), err)
		}
		ctrs[0].(map[string]any)["image"] = image
		if err := unstructured.SetNestedSlice(o.Object, ctrs, "spec", "template", "spec", "containers"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if !found {
		return nil, fmt.Errorf("bench: deploy/argo has no Rollout %s", ArgoRollout)
	}
	return objs, nil
}

// DeleteArgo deletes the objects of deploy/argo (the Rollout takes its
// ReplicaSets and pods with it).
func DeleteArgo(ctx context.Context, cfg *rest.Config) error {
	objs, err := ArgoObjects(ArgoDocumented, DefaultGoodImage)
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(cfg)
	if err != nil {
		return err
	}
	return ap.Delete(ctx, objs)
}

func (m *argoRun) measure(ctx context.Context) (PeerResult, error) {
	cfg := m.cfg
	res := PeerResult{Peer: ArgoPeer, Version: argorollouts.Version, Setting: cfg.Setting, Template: cfg.Setting.Template(), BadImage: cfg.BadImage}

	// 1. The Rollout, healthy on the good image, under this setting.
	if err := m.apply(ctx, cfg.GoodImage); err != nil {
		return res, err
	}
	if err := m.waitHealthy(ctx, cfg.GoodImage); err != nil {
		return res, err
	}
	if err := m.readTemplate(ctx, &res); err != nil {
		return res, err
	}

	// 2. Traffic, seen by Prometheus, with a clean baseline.
	targets, err := traffic.NewServiceTargets(ctx, m.cs, ArgoNamespace, ArgoService, traffic.WithPortName("http"))
	if err != nil {
		return res, fmt.Errorf("bench: traffic targets: %w", err)
	}
	defer targets.Close()
	gen, err := traffic.New(targets, cfg.Traffic)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	tctx, stopTraffic := context.WithCancel(ctx)
	var twg sync.WaitGroup
	twg.Go(func() { _ = gen.Run(tctx) })
	stopped := false
	stop := func() {
		if !stopped {
			stopTraffic()
			twg.Wait()
			stopped = true
		}
	}
	defer stop()
	// Whatever happens next, the good image goes back.
	defer m.restore(cfg.GoodImage)

	if err := m.waitProm(ctx, m.rateExpr(), func(v float64) bool { return v > cfg.Traffic.Rate*0.5 }, cfg.ReadyTimeout, "request rate"); err != nil {
		return res, err
	}
	if err := m.waitProm(ctx, m.errorRatioExpr(), func(v float64) bool { return v < cfg.RecoveredRatio }, cfg.ReadyTimeout, "baseline 5xx ratio"); err != nil {
		return res, err
	}
	stableHash, err := m.stableHash(ctx)
	if err != nil {
		return res, err
	}
	// A canary of an earlier run (the same bad image has the same
	// pod-template hash) must have left the queries' window, or the new
	// AnalysisRun's first measurement would judge the old canary's requests.
	if err := m.waitNoOtherPods(ctx, stableHash); err != nil {
		return res, err
	}
	before, err := m.analysisRuns(ctx)
	if err != nil {
		return res, err
	}

	// 3. Push the bad image and watch.
	m.log.Info("pushing the bad image", "image", cfg.BadImage, "template", res.Template)
	res.Pushed = time.Now()
	if err := m.setImage(ctx, cfg.BadImage); err != nil {
		return res, err
	}
	werr := m.watch(ctx, &res, stableHash, before)

	stop()
	total := gen.Stats().Total()
	res.Requests, res.Errors = total.Requests, total.Errors
	res.ErrorsAfterPush = gen.Stats().Snapshot(res.Pushed.Truncate(time.Second), time.Now().Add(time.Second)).Errors
	if res.Detected {
		first := res.AnalysisFailed
		if first.IsZero() || (!res.Aborted.IsZero() && res.Aborted.Before(first)) {
			first = res.Aborted
		}
		res.MTTD = drills.Duration{Duration: first.Sub(res.Pushed)}
		res.MTTDSeconds = res.MTTD.Seconds()
	}
	if res.Recovered {
		last := res.StableOnly
		if res.ErrorRatioOK.After(last) {
			last = res.ErrorRatioOK
		}
		res.MTTR = drills.Duration{Duration: last.Sub(res.Pushed)}
		res.MTTRSeconds = res.MTTR.Seconds()
	}
	m.log.Info("measured", "detected", res.Detected, "mttd", res.MTTD, "recovered", res.Recovered, "mttr", res.MTTR,
		"analysisRun", res.AnalysisRun, "phase", res.AnalysisPhase, "measurements", res.Measurements)
	return res, werr
}

// watch polls the Rollout, its AnalysisRun, the Service's endpoints and
// Prometheus until detection and recovery, or the timeout.
func (m *argoRun) watch(ctx context.Context, res *PeerResult, stableHash string, before map[string]bool) error {
	cfg := m.cfg
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(wctx, pollEvery, true, func(ctx context.Context) (bool, error) {
		now := time.Now()
		ro, err := m.dyn.Resource(rolloutGVR).Namespace(ArgoNamespace).Get(ctx, ArgoRollout, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		canaryHash, _, _ := unstructured.NestedString(ro.Object, "status", "currentPodHash")
		if abort, _, _ := unstructured.NestedBool(ro.Object, "status", "abort"); abort && res.Aborted.IsZero() {
			res.Aborted = now
			m.log.Info("rollout aborted", "after", now.Sub(res.Pushed))
		}
		// The AnalysisRun started for this push.
		if run, err := m.newRun(ctx, before); err != nil {
			last = err.Error()
		} else if run != nil {
			res.AnalysisRun = run.GetName()
			phase, _, _ := unstructured.NestedString(run.Object, "status", "phase")
			res.AnalysisPhase = phase
			res.Measurements, res.FailedMeasurements = countMeasurements(run)
			res.MeasurementLog = measurementLog(run)
			if (phase == "Failed" || phase == "Error" || phase == "Inconclusive") && res.AnalysisFailed.IsZero() {
				res.AnalysisFailed = now
				m.log.Info("analysis run completed", "run", run.GetName(), "phase", phase, "after", now.Sub(res.Pushed),
					"measurements", res.Measurements, "failed", res.FailedMeasurements)
			}
		}
		res.Detected = !res.AnalysisFailed.IsZero() || !res.Aborted.IsZero()

		stable, canary, err := m.readyEndpoints(ctx, stableHash)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if canary > 0 && res.CanaryReady.IsZero() {
			res.CanaryReady = now
			m.log.Info("canary serving", "after", now.Sub(res.Pushed), "hash", canaryHash)
		}
		ratio, rerr := m.query(ctx, m.errorRatioExpr())
		if rerr == nil && ratio > res.PeakErrorRatio {
			res.PeakErrorRatio = ratio
		}
		if res.Detected && res.StableOnly.IsZero() && stable > 0 && canary == 0 {
			if n, err := m.canaryReplicas(ctx, stableHash); err == nil && n == 0 {
				res.StableOnly = now
				m.log.Info("stable ReplicaSet serves all traffic", "after", now.Sub(res.Pushed), "endpoints", stable)
			}
		}
		if !res.StableOnly.IsZero() && res.ErrorRatioOK.IsZero() && rerr == nil && ratio < cfg.RecoveredRatio {
			res.ErrorRatioOK = now
			m.log.Info("5xx ratio back under the SLO", "after", now.Sub(res.Pushed), "ratio", ratio)
		}
		res.Recovered = !res.StableOnly.IsZero() && !res.ErrorRatioOK.IsZero()
		last = fmt.Sprintf("detected=%v analysis=%s/%s measurements=%d aborted=%v endpoints stable=%d canary=%d ratio=%.4f (err %v)",
			res.Detected, res.AnalysisRun, res.AnalysisPhase, res.Measurements, !res.Aborted.IsZero(), stable, canary, ratio, rerr)
		// The Rollout's abort is awaited too: the poll that first sees the
		// run Failed may have read the Rollout just before Argo aborted it.
		return res.Detected && res.Recovered && !res.Aborted.IsZero(), nil
	})
	if err != nil {
		return fmt.Errorf("bench: %s did not detect and recover from %s within %s: %s: %w", ArgoPeer, cfg.BadImage, cfg.Timeout, last, err)
	}
	return nil
}

// ArgoMeasurement is one measurement of an AnalysisRun, as its status
// reports it.
type ArgoMeasurement struct {
	Phase      string `json:"phase"`
	Value      string `json:"value,omitempty"`
	StartedAt  string `json:"startedAt,omitempty"`
	FinishedAt string `json:"finishedAt,omitempty"`
}

// measurementLog lists the measurements of a run's metrics.
func measurementLog(run *unstructured.Unstructured) []ArgoMeasurement {
	var out []ArgoMeasurement
	results, _, _ := unstructured.NestedSlice(run.Object, "status", "metricResults")
	for _, r := range results {
		mr, _ := r.(map[string]any)
		ms, _ := mr["measurements"].([]any)
		for _, x := range ms {
			mm, _ := x.(map[string]any)
			str := func(k string) string { v, _ := mm[k].(string); return v }
			out = append(out, ArgoMeasurement{Phase: str("phase"), Value: str("value"), StartedAt: str("startedAt"), FinishedAt: str("finishedAt")})
		}
	}
	return out
}

// countMeasurements counts the measurements of a run and the failed ones.
func countMeasurements(run *unstructured.Unstructured) (total, failed int) {
	results, _, _ := unstructured.NestedSlice(run.Object, "status", "metricResults")
	for _, r := range results {
		mr, _ := r.(map[string]any)
		ms, _ := mr["measurements"].([]any)
		total += len(ms)
		for _, x := range ms {
			if mm, _ := x.(map[string]any); mm["phase"] == "Failed" {
				failed++
			}
		}
	}
	return total, failed
}
