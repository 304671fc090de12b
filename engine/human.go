package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// Human hands the incident over to a human: it pauses the workload (when
// the settings say so: spec.paused of the Deployment, or of the Argo
// Rollout for a Rollout target), POSTs a JSON notification to the webhook
// (if one is set), records a Warning Event on the workload for kubectl
// describe, and last writes the AnnotationHuman record on the workload,
// which marks the hand-over as done: a retry that finds the incident there
// changes nothing. The record lives as long as the workload (an Event
// expires after an hour, after which a retry would notify again). A crash
// between the webhook and the record repeats the webhook on retry (at
// least once; the Idempotency-Key header carries the incident for
// receivers to deduplicate).
type Human struct {
	client  kubernetes.Interface
	dyn     dynamic.Interface // for Rollout targets
	webhook string
	pause   bool
	http    *http.Client
	now     func() time.Time
}

// NewHuman builds the human strategy; s may be nil (pause, no webhook).
func NewHuman(client kubernetes.Interface, s *drills.HumanSettings) *Human {
	h := &Human{client: client, pause: true, http: &http.Client{Timeout: 10 * time.Second}, now: time.Now}
	if s != nil {
		h.webhook = s.WebhookURL
		if s.PauseRollout != nil {
			h.pause = *s.PauseRollout
		}
	}
	return h
}

// Name implements Strategy.
func (*Human) Name() drills.StrategyName { return drills.StrategyHuman }

// EventReasonHuman is the reason of the Event the human strategy records.
const EventReasonHuman = "FiredrillNeedsHuman"

// Notification is the webhook's JSON body.
type Notification struct {
	Incident  string `json:"incident"`
	Namespace string `json:"namespace"`
	// Kind is the workload's kind, Deployment or Rollout; Deployment
	// names it either way.
	Kind       string  `json:"kind"`
	Deployment string  `json:"deployment"`
	Action     Action  `json:"action"`
	Score      float64 `json:"score"`
	Confidence float64 `json:"confidence"`
	Reason     string  `json:"reason"`
	Paused     bool    `json:"paused"`
}

// Act implements Strategy.
func (h *Human) Act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	return logged(ctx, t, func() (Outcome, error) { return h.act(ctx, t, d) })
}

// humanRecord is the AnnotationHuman record: which incident was handed
// over, when, and whether the workload was paused.
type humanRecord struct {
	Incident string    `json:"incident"`
	Time     time.Time `json:"time"`
	Paused   bool      `json:"paused"`
}

// workload is what the human strategy needs of its target.
type workload struct {
	ref         corev1.ObjectReference
	paused      bool
	annotations map[string]string
	// patch applies a JSON merge patch to the workload.
	patch func(ctx context.Context, patch []byte) error
}

// workload reads the target: a Deployment, or an Argo Rollout.
func (h *Human) workload(ctx context.Context, t Target) (workload, error) {
	if t.Kind == drills.TargetRollout {
		if h.dyn == nil {
			return workload{}, fmt.Errorf("human: %s/%s is an Argo Rollout and the engine has no dynamic client: %w", t.Namespace, t.Deployment, ErrRefused)
		}
		ri := h.dyn.Resource(rolloutGVR).Namespace(t.Namespace)
		ro, err := ri.Get(ctx, t.Deployment, metav1.GetOptions{})
		if err != nil {
			return workload{}, fmt.Errorf("human: get Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
		}
		paused, _, _ := unstructured.NestedBool(ro.Object, "spec", "paused")
		return workload{
			ref: corev1.ObjectReference{Kind: "Rollout", APIVersion: rolloutGVR.GroupVersion().String(), Namespace: t.Namespace,
				Name: ro.GetName(), UID: ro.GetUID(), ResourceVersion: ro.GetResourceVersion()},
			paused: paused, annotations: ro.GetAnnotations(),
			patch: func(ctx context.Context, patch []byte) error {
				_, err := ri.Patch(ctx, ro.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
				return err
			},
		}, nil
	}
	deps := h.client.AppsV1().Deployments(t.Namespace)
	dep, err := deps.Get(ctx, t.Deployment, metav1.GetOptions{})
	if err != nil {
		return workload{}, fmt.Errorf("human: get deployment %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	return workload{
		ref: corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: t.Namespace,
			Name: dep.Name, UID: dep.UID, ResourceVersion: dep.ResourceVersion},
		paused: dep.Spec.Paused, annotations: dep.Annotations,
		patch: func(ctx context.Context, patch []byte) error {
			_, err := deps.Patch(ctx, dep.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}, nil
}

func (h *Human) act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	out := Outcome{Strategy: drills.StrategyHuman}
	w, err := h.workload(ctx, t)
	if err != nil {
		return out, err
	}
	kind := strings.ToLower(w.ref.Kind)
	incident := t.IncidentID
	if incident == "" {
		incident = fmt.Sprintf("%d", d.Time.Unix())
	}
	var rec humanRecord
	if raw, ok := w.annotations[AnnotationHuman]; ok && json.Unmarshal([]byte(raw), &rec) == nil && rec.Incident == incident {
		// Done before; a human may have resumed the rollout since, so the
		// workload is left as it is.
		out.AlreadyDone = true
		out.Message = fmt.Sprintf("already done: incident %s was handed over at %s (annotation %s)", incident, rec.Time.UTC().Format(time.RFC3339), AnnotationHuman)
		return out, nil
	}
	if h.pause && !w.paused {
		if err := w.patch(ctx, []byte(`{"spec":{"paused":true}}`)); err != nil {
			return out, fmt.Errorf("human: pause %s %s/%s: %w", kind, t.Namespace, t.Deployment, err)
		}
	}
	if h.webhook != "" {
		n := Notification{Incident: incident, Namespace: t.Namespace, Kind: w.ref.Kind, Deployment: t.Deployment, Action: d.Action,
			Score: d.Score, Confidence: d.Confidence, Reason: d.Reason, Paused: h.pause}
		if err := h.post(ctx, incident, n); err != nil {
			return out, err
		}
	}
	msg := d.Reason
	if msg == "" {
		msg = "firedrill hands this incident to a human"
	}
	now := h.now()
	events := h.client.CoreV1().Events(t.Namespace)
	eventName := w.ref.Name + ".firedrill-" + dnsLabel(incident)
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: eventName, Namespace: t.Namespace},
		InvolvedObject: w.ref,
		Reason:         EventReasonHuman, Message: msg, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "firedrill"},
		FirstTimestamp: metav1.NewTime(now), LastTimestamp: metav1.NewTime(now), Count: 1,
	}
	if _, err := events.Create(ctx, ev, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return out, fmt.Errorf("human: record event on %s %s/%s: %w", kind, t.Namespace, t.Deployment, err)
	}
	recJSON, err := json.Marshal(humanRecord{Incident: incident, Time: now.UTC(), Paused: h.pause})
	if err != nil {
		return out, fmt.Errorf("human: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationHuman: string(recJSON)}}})
	if err != nil {
		return out, fmt.Errorf("human: %w", err)
	}
	if err := w.patch(ctx, patch); err != nil {
		return out, fmt.Errorf("human: record the hand-over on %s %s/%s: %w", kind, t.Namespace, t.Deployment, err)
	}
	out.Message = fmt.Sprintf("handed incident %s over to a human (paused: %t, webhook: %t)", incident, h.pause, h.webhook != "")
	return out, nil
}

func (h *Human) post(ctx context.Context, incident string, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("human: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("human: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", incident)
	resp, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("human: webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("human: webhook answered %s", resp.Status)
	}
	return nil
}

// dnsLabel makes s usable in an object name: lower case letters, digits
// and dashes, at most 63 characters.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-")
	}
	if out == "" {
		out = "incident"
	}
	return out
}
