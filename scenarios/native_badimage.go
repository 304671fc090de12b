package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/drills"
)

// badImageRecord is stored in the Deployment's firedrill.dev/bad-image
// annotation so that Remove (or the Sweeper, after a crash) can restore it.
type badImageRecord struct {
	Container        string `json:"container"`
	Image            string `json:"image"`
	PreviousImage    string `json:"previousImage"`
	PreviousRevision string `json:"previousRevision,omitempty"`
}

// badImage rolls out a bad container image.
type badImage struct {
	spec   drills.Fault
	target drills.Target
	deps   Deps

	mu    sync.Mutex
	rec   *badImageRecord
	proof *revisionProof
}

func newBadImage(_ context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error) {
	if spec.BadImage == nil || spec.BadImage.Image == "" {
		return nil, fmt.Errorf("scenarios: bad-image: badImage.image is required")
	}
	if deps.Client == nil {
		return nil, fmt.Errorf("scenarios: bad-image: no Kubernetes client")
	}
	return &badImage{spec: spec, target: target, deps: deps}, nil
}

func (f *badImage) Describe() string {
	return fmt.Sprintf("bad-image: roll out %s on deployment %s/%s", f.spec.BadImage.Image, f.target.Namespace, f.target.Name)
}

func (f *badImage) Inject(ctx context.Context) (*Injection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dep, err := getDeployment(ctx, f.deps.Client, f.target)
	if err != nil {
		return nil, fmt.Errorf("scenarios: bad-image: %w", err)
	}
	name, err := containerName(dep, f.spec.BadImage.Container, f.target.Container)
	if err != nil {
		return nil, fmt.Errorf("scenarios: bad-image: %w", err)
	}
	rec := &badImageRecord{Container: name, Image: f.spec.BadImage.Image, PreviousImage: container(dep, name).Image, PreviousRevision: dep.Annotations[revisionAnnotation]}
	if rec.PreviousImage == rec.Image {
		return nil, fmt.Errorf("scenarios: bad-image: deployment %s/%s already runs %s", dep.Namespace, dep.Name, rec.Image)
	}
	if _, busy := dep.Annotations[AnnotationBadImage]; busy {
		return nil, fmt.Errorf("scenarios: bad-image: deployment %s/%s already carries a %s record (another drill, or a leftover for the Sweeper)", dep.Namespace, dep.Name, AnnotationBadImage)
	}
	ann := f.deps.meta(f.spec).annotations()
	ann[AnnotationBadImage] = string(mustJSON(rec))
	patch := mustJSON(map[string]any{
		"metadata": map[string]any{"annotations": ann},
		"spec": map[string]any{"template": map[string]any{
			// A new release is a new ReplicaSet, as a new build's digest
			// would make it: without this, pushing the same bad image
			// again reuses the earlier push's ReplicaSet, whose errors
			// are still in the engine's per-revision window.
			"metadata": map[string]any{"annotations": map[string]any{AnnotationPushedAt: f.deps.Now().UTC().Format(time.RFC3339Nano)}},
			"spec": map[string]any{
				"containers": []map[string]any{{"name": name, "image": rec.Image}},
			},
		}},
	})
	inj := &Injection{
		Type: f.spec.Type, DryRun: f.deps.DryRun, At: f.deps.Now(),
		Targets: []Target{{Kind: "Deployment", Namespace: dep.Namespace, Name: dep.Name, UID: string(dep.UID)}},
		Changes: []Change{{Object: "Deployment " + dep.Namespace + "/" + dep.Name, Action: "patch", Detail: string(patch)}},
	}
	if f.deps.DryRun {
		return inj, nil
	}
	if err := patchDeployment(ctx, f.deps.Client, dep.Namespace, dep.Name, patch); err != nil {
		return nil, fmt.Errorf("scenarios: bad-image: %w", err)
	}
	f.rec, f.proof = rec, newRevisionProof(f.deps.Now())
	f.deps.Logger.InfoContext(ctx, "bad-image: rolled out", "deployment", dep.Namespace+"/"+dep.Name, "image", rec.Image, "previous", rec.PreviousImage)
	return inj, nil
}

// Remove sets the previous image back if the container still runs the bad
// one (the engine may already have rolled back) and drops the record.
func (f *badImage) Remove(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rec == nil {
		return nil
	}
	if err := revertBadImage(ctx, f.deps, f.target.Namespace, f.target.Name, f.rec); err != nil {
		return err
	}
	f.rec = nil
	return nil
}

// revertBadImage restores rec on the Deployment.
func revertBadImage(ctx context.Context, deps Deps, ns, name string, rec *badImageRecord) error {
	dep, err := deps.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scenarios: bad-image: remove: %w", err)
	}
	body := map[string]any{"metadata": map[string]any{"annotations": clearOwner(AnnotationBadImage)}}
	if c := container(dep, rec.Container); c != nil && c.Image == rec.Image {
		body["spec"] = map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{AnnotationPushedAt: nil}},
			"spec": map[string]any{
				"containers": []map[string]any{{"name": rec.Container, "image": rec.PreviousImage}},
			},
		}}
	}
	if err := patchDeployment(ctx, deps.Client, ns, name, mustJSON(body)); err != nil {
		return fmt.Errorf("scenarios: bad-image: remove: %w", err)
	}
	deps.Logger.InfoContext(ctx, "bad-image: restored", "deployment", ns+"/"+name, "image", rec.PreviousImage)
	return nil
}

// Status proves the bad release by what its pods did (see
// revisionProof): they answered the drill's requests, or never became
// ready for a named reason such as ImagePullBackOff or CrashLoopBackOff.
func (f *badImage) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rec == nil {
		return Status{}, ErrNotInjected
	}
	dep, err := getDeployment(ctx, f.deps.Client, f.target)
	if err != nil {
		return Status{}, fmt.Errorf("scenarios: bad-image: status: %w", err)
	}
	rec := f.rec
	err = f.proof.observe(ctx, f.deps, dep, func(t *corev1.PodTemplateSpec) bool {
		for _, c := range t.Spec.Containers {
			if c.Name == rec.Container && c.Image == rec.Image {
				return true
			}
		}
		return false
	})
	if err != nil {
		return Status{}, fmt.Errorf("scenarios: bad-image: status: %w", err)
	}
	return f.proof.status(f.deps, "the revision running "+rec.Image), nil
}

func parseBadImage(s string) (*badImageRecord, error) {
	var rec badImageRecord
	if err := json.Unmarshal([]byte(s), &rec); err != nil {
		return nil, fmt.Errorf("bad %s annotation: %w", AnnotationBadImage, err)
	}
	return &rec, nil
}
