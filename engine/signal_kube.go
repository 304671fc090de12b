package engine

import (
	"context"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/firedrill/firedrill/drills"
)

// Kubernetes signal names, the Source of their evidence.
const (
	SignalRolloutStalled = "ProgressDeadlineExceeded"
	SignalCrashLoop      = "CrashLoopBackOff"
	SignalImagePull      = "ImagePull"
	SignalLowReady       = "ReadyRatioBelowMinimum"
)

// KubeSignal turns the watched target (a Deployment or an Argo Rollout)
// into evidence: its progress deadline exceeded, pods of the newest
// ReplicaSet (a Rollout's canary during a canary step) in
// CrashLoopBackOff, ImagePullBackOff or ErrImagePull, and ready/desired
// replicas below minReadyRatio. Each must persist for the signals' `for`
// window before it fires. A target missing from the cache puts the signal
// on hold.
type KubeSignal struct {
	watch *Watch
	cfg   drills.KubernetesSignals
	wait  time.Duration
	seen  map[string]time.Time
}

// NewKubeSignal builds the Kubernetes signal over a started Watch.
func NewKubeSignal(w *Watch, cfg drills.KubernetesSignals) *KubeSignal {
	if cfg.Severity == "" {
		cfg.Severity = drills.SeverityCritical
	}
	return &KubeSignal{watch: w, cfg: cfg, wait: cfg.For.Get(drills.DefaultSignalFor), seen: map[string]time.Time{}}
}

// Name implements Signal.
func (*KubeSignal) Name() string { return "kubernetes" }

// Observe implements Signal.
func (s *KubeSignal) Observe(_ context.Context, now time.Time) Observation {
	snap, err := s.watch.Snapshot()
	if err != nil {
		return Observation{Hold: []string{err.Error()}}
	}
	active := map[string]bool{}
	if s.cfg.RolloutStalled {
		if snap.Stalled {
			active[SignalRolloutStalled] = true
		}
	}
	for _, p := range snap.NewPods {
		for _, reason := range waitingReasons(p) {
			switch {
			case s.cfg.CrashLoop && reason == "CrashLoopBackOff":
				active[SignalCrashLoop] = true
			case s.cfg.ImagePull && (reason == "ImagePullBackOff" || reason == "ErrImagePull"):
				active[SignalImagePull] = true
			}
		}
	}
	if s.cfg.MinReadyRatio != nil && snap.Replicas > 0 {
		ratio := float64(snap.ReadyReplicas) / float64(snap.Replicas)
		if ratio < *s.cfg.MinReadyRatio {
			active[SignalLowReady] = true
		}
	}
	for name := range s.seen {
		if !active[name] {
			delete(s.seen, name)
		}
	}
	var obs Observation
	names := make([]string, 0, len(active))
	for name := range active {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		since, ok := s.seen[name]
		if !ok {
			since = now
			s.seen[name] = now
		}
		if now.Sub(since) >= s.wait {
			obs.Evidence = append(obs.Evidence, Evidence{Kind: EvidenceKubernetes, Source: name, Severity: s.cfg.Severity, Since: since})
		}
	}
	return obs
}

// waitingReasons are the reasons of a pod's waiting containers.
func waitingReasons(p *corev1.Pod) []string {
	var out []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			out = append(out, w.Reason)
		}
	}
	return out
}

// workloadTracker builds the WorkloadState for the decider from watch
// snapshots: it remembers the revision, restarts and pods when an anomaly
// began and the ready replicas of the previous observation.
type workloadTracker struct {
	started      bool
	startRev     int64
	startAt      time.Time
	startRestart map[string]int // restarts per pod name at the start
	readyBefore  int32
	haveReady    bool
	// flapRev is the revision whose self-cleared anomalies flaps holds,
	// each by the time it cleared.
	flapRev int64
	flaps   []time.Time
}

// FlapWindow is how long a self-cleared anomaly counts towards
// WorkloadState.SelfCleared.
const FlapWindow = 10 * time.Minute

// selfCleared records that an anomaly under snap's revision went away by
// itself at clearedAt: it cleared and stayed clear for the verify window
// with no action taken. The record starts again at each new revision.
func (w *workloadTracker) selfCleared(clearedAt time.Time, snap *Snapshot) {
	if snap == nil {
		return
	}
	if snap.Revision != w.flapRev {
		w.flapRev, w.flaps = snap.Revision, nil
	}
	w.flaps = append(w.flaps, clearedAt)
}

// begin marks the start of an anomaly at the snapshot.
func (w *workloadTracker) begin(now time.Time, snap *Snapshot) {
	w.started, w.startAt = true, now
	if snap != nil {
		w.startRev, w.startRestart = snap.Revision, map[string]int{}
		for _, p := range snap.Pods {
			w.startRestart[p.Name] = restarts(p)
		}
	}
}

// end forgets the anomaly.
func (w *workloadTracker) end() { w.started = false }

// observe returns the state at snap, at now, and remembers its ready
// replicas.
func (w *workloadTracker) observe(now time.Time, snap *Snapshot) WorkloadState {
	if snap == nil {
		return WorkloadState{}
	}
	ws := WorkloadState{Revision: snap.Revision, RevisionAtStart: snap.Revision, ReadyNow: snap.ReadyReplicas, RolloutInProgress: snap.InProgress}
	if snap.Revision == w.flapRev {
		w.flaps = slices.DeleteFunc(w.flaps, func(t time.Time) bool { return now.Sub(t) > FlapWindow })
		ws.SelfCleared = len(w.flaps)
	}
	if w.started {
		ws.RevisionAtStart = w.startRev
		// Container restarts since the start, and each pod that
		// replaced one (with its own restarts).
		for _, p := range snap.Pods {
			if before, ok := w.startRestart[p.Name]; ok {
				ws.Restarts += max(0, restarts(p)-before)
			} else if p.CreationTimestamp.After(w.startAt) {
				ws.Restarts += 1 + restarts(p)
			}
		}
	}
	ws.ReadyBefore = ws.ReadyNow
	if w.haveReady {
		ws.ReadyBefore = w.readyBefore
	}
	w.readyBefore, w.haveReady = ws.ReadyNow, true
	return ws
}

func restarts(p *corev1.Pod) int {
	n := 0
	for _, cs := range p.Status.ContainerStatuses {
		n += int(cs.RestartCount)
	}
	return n
}
