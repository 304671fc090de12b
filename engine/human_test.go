package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

type webhookSink struct {
	mu     sync.Mutex
	got    []Notification
	keys   []string
	status int
}

func (w *webhookSink) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n Notification
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil || r.Header.Get("Content-Type") != "application/json" {
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	w.got = append(w.got, n)
	w.keys = append(w.keys, r.Header.Get("Idempotency-Key"))
	if w.status != 0 {
		rw.WriteHeader(w.status)
	}
}

func (w *webhookSink) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

func TestHumanPausesNotifiesOnce(t *testing.T) {
	ctx := context.Background()
	sink := &webhookSink{}
	srv := httptest.NewServer(sink) // loopback only
	defer srv.Close()
	c := fake.NewClientset(history()...)
	h := NewHuman(c, &drills.HumanSettings{WebhookURL: srv.URL})
	require.Equal(t, drills.StrategyHuman, h.Name())

	d := Decision{Action: ActionRequireHuman, Score: 0.64, Confidence: 0.64, Reason: "require-human: score 0.640"}
	out, err := h.Act(ctx, testTarget, d)
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.True(t, getDeployment(t, c).Spec.Paused)
	require.Equal(t, 1, sink.count())
	require.Equal(t, Notification{Incident: "inc-1", Namespace: testNS, Kind: "Deployment", Deployment: testDep, Action: ActionRequireHuman,
		Score: 0.64, Confidence: 0.64, Reason: d.Reason, Paused: true}, sink.got[0])
	require.Equal(t, "inc-1", sink.keys[0])
	evs, err := c.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, evs.Items, 1)
	ev := evs.Items[0]
	require.Equal(t, EventReasonHuman, ev.Reason)
	require.Equal(t, "Warning", ev.Type)
	require.Equal(t, "Deployment", ev.InvolvedObject.Kind)
	require.Equal(t, testDep, ev.InvolvedObject.Name)
	require.Equal(t, d.Reason, ev.Message)
	var rec humanRecord
	require.NoError(t, json.Unmarshal([]byte(getDeployment(t, c).Annotations[AnnotationHuman]), &rec))
	require.Equal(t, "inc-1", rec.Incident)
	require.True(t, rec.Paused)
	require.False(t, rec.Time.IsZero())

	// The Event expires after an hour; the record on the workload stays.
	require.NoError(t, c.CoreV1().Events(testNS).Delete(ctx, ev.Name, metav1.DeleteOptions{}))

	// A human resumes the rollout; a retry leaves it alone.
	dep := getDeployment(t, c)
	dep.Spec.Paused = false
	_, err = c.AppsV1().Deployments(testNS).Update(ctx, dep, metav1.UpdateOptions{})
	require.NoError(t, err)
	out, err = h.Act(ctx, testTarget, d)
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)
	require.False(t, getDeployment(t, c).Spec.Paused)
	require.Equal(t, 1, sink.count(), "no second notification after the Event expired")

	// Another incident is handed over again.
	next := testTarget
	next.IncidentID = "inc-2"
	out, err = h.Act(ctx, next, d)
	require.NoError(t, err)
	require.False(t, out.AlreadyDone, out.Message)
	require.Equal(t, 2, sink.count())
	require.Contains(t, getDeployment(t, c).Annotations[AnnotationHuman], `"incident":"inc-2"`)
}

func TestHumanNoPauseNoWebhook(t *testing.T) {
	ctx := context.Background()
	no := false
	c := fake.NewClientset(history()...)
	target := testTarget
	target.IncidentID = "Incident_42/B"
	out, err := NewHuman(c, &drills.HumanSettings{PauseRollout: &no}).Act(ctx, target, Decision{})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.False(t, getDeployment(t, c).Spec.Paused)
	_, err = c.CoreV1().Events(testNS).Get(ctx, "payment.firedrill-incident-42-b", metav1.GetOptions{})
	require.NoError(t, err)
}

func TestHumanWebhookFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	sink := &webhookSink{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	c := fake.NewClientset(history()...)
	h := NewHuman(c, &drills.HumanSettings{WebhookURL: srv.URL})
	_, err := h.Act(ctx, testTarget, Decision{})
	require.ErrorContains(t, err, "503")
	evs, err := c.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, evs.Items)
	require.NotContains(t, getDeployment(t, c).Annotations, AnnotationHuman, "not marked done")

	sink.mu.Lock()
	sink.status = 0
	sink.mu.Unlock()
	out, err := h.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, 2, sink.count())
}

func TestDNSLabel(t *testing.T) {
	require.Equal(t, "abc-1", dnsLabel("ABC_1"))
	require.Equal(t, "incident", dnsLabel("__"))
	require.Len(t, dnsLabel(string(make([]byte, 100))+"x"), 1)
	long := dnsLabel(strings.Repeat("b", 62) + "-c")
	require.Equal(t, strings.Repeat("b", 62), long, "cut at 63 without a trailing dash")
}

func TestHumanPausesRollout(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme(), testRollout(t, "v2", 2))
	sink := &webhookSink{}
	srv := httptest.NewServer(sink) // loopback only
	defer srv.Close()
	s, err := NewStrategy(drills.Strategy{Name: drills.StrategyHuman, Human: &drills.HumanSettings{WebhookURL: srv.URL}}, Deps{Client: c, Dynamic: dyn})
	require.NoError(t, err)
	d := Decision{Action: ActionRequireHuman, Reason: "require-human: score 0.500"}
	out, err := s.Act(ctx, rolloutTarget, d)
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, 1, sink.count())
	require.Equal(t, "Rollout", sink.got[0].Kind)
	require.Equal(t, testDep, sink.got[0].Deployment)
	paused, _, _ := unstructured.NestedBool(getRollout(t, dyn).Object, "spec", "paused")
	require.True(t, paused, "the Rollout is paused")
	evs, err := c.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, evs.Items, 1)
	ref := evs.Items[0].InvolvedObject
	require.Equal(t, "Rollout", ref.Kind)
	require.Equal(t, "argoproj.io/v1alpha1", ref.APIVersion)
	require.Equal(t, testDep, ref.Name)
	require.Equal(t, "ro-uid", string(ref.UID))
	require.Contains(t, getRollout(t, dyn).GetAnnotations()[AnnotationHuman], `"incident":"inc-ro"`)

	out, err = s.Act(ctx, rolloutTarget, d)
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)

	// Without a dynamic client a Rollout is refused, not mistaken for a
	// Deployment.
	_, err = NewHuman(c, nil).Act(ctx, rolloutTarget, d)
	require.ErrorIs(t, err, ErrRefused)
	// A missing Rollout is an error that names it.
	gone := rolloutTarget
	gone.Deployment = "missing"
	_, err = s.Act(ctx, gone, d)
	require.ErrorContains(t, err, "get Rollout "+testNS+"/missing")
}
