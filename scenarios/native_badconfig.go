package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/firedrill/firedrill/drills"
)

// configRecord is stored in the firedrill.dev/bad-config annotation of the
// ConfigMap (Data) or of the Deployment (Env): the old values (nil: the key
// was absent) and the bad ones.
type configRecord struct {
	Deployment string             `json:"deployment,omitempty"`
	Container  string             `json:"container,omitempty"`
	Old        map[string]*string `json:"old"`
	New        map[string]string  `json:"new"`
}

// badConfig pushes bad ConfigMap values or container env and rolls the
// Deployment's pods so that they take effect.
type badConfig struct {
	spec   drills.Fault
	target drills.Target
	deps   Deps

	mu       sync.Mutex
	cmRec    *configRecord
	envRec   *configRecord
	restamp  string
	injected bool
	proof    *revisionProof
}

func newBadConfig(_ context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error) {
	s := spec.BadConfig
	if s == nil || (len(s.Data) == 0 && len(s.Env) == 0) {
		return nil, fmt.Errorf("scenarios: bad-config: badConfig needs data (with configMap) or env")
	}
	if len(s.Data) > 0 && s.ConfigMap == "" {
		return nil, fmt.Errorf("scenarios: bad-config: badConfig.data needs badConfig.configMap")
	}
	if deps.Client == nil {
		return nil, fmt.Errorf("scenarios: bad-config: no Kubernetes client")
	}
	return &badConfig{spec: spec, target: target, deps: deps}, nil
}

func (f *badConfig) Describe() string {
	s := f.spec.BadConfig
	var parts []string
	if len(s.Data) > 0 {
		parts = append(parts, fmt.Sprintf("set %v in ConfigMap %s", slices.Sorted(maps.Keys(s.Data)), s.ConfigMap))
	}
	if len(s.Env) > 0 {
		parts = append(parts, fmt.Sprintf("set env %v", slices.Sorted(maps.Keys(s.Env))))
	}
	return fmt.Sprintf("bad-config: %v and roll deployment %s/%s", parts, f.target.Namespace, f.target.Name)
}

func (f *badConfig) Inject(ctx context.Context) (*Injection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.injected {
		return nil, fmt.Errorf("scenarios: bad-config: already injected")
	}
	s := f.spec.BadConfig
	dep, err := getDeployment(ctx, f.deps.Client, f.target)
	if err != nil {
		return nil, fmt.Errorf("scenarios: bad-config: %w", err)
	}
	meta := f.deps.meta(f.spec)
	inj := &Injection{Type: f.spec.Type, DryRun: f.deps.DryRun, At: f.deps.Now()}
	var cmRec *configRecord
	var cmPatch []byte
	if len(s.Data) > 0 {
		cm, err := f.deps.Client.CoreV1().ConfigMaps(dep.Namespace).Get(ctx, s.ConfigMap, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("scenarios: bad-config: configmap %s/%s: %w", dep.Namespace, s.ConfigMap, err)
		}
		if _, busy := cm.Annotations[AnnotationBadConfig]; busy {
			return nil, fmt.Errorf("scenarios: bad-config: configmap %s/%s already carries a %s record", cm.Namespace, cm.Name, AnnotationBadConfig)
		}
		cmRec = &configRecord{Deployment: dep.Name, Old: map[string]*string{}, New: s.Data}
		data := map[string]any{}
		for k, v := range s.Data {
			if old, ok := cm.Data[k]; ok {
				cmRec.Old[k] = &old
			} else {
				cmRec.Old[k] = nil
			}
			data[k] = v
		}
		ann := meta.annotations()
		ann[AnnotationBadConfig] = string(mustJSON(cmRec))
		cmPatch = mustJSON(map[string]any{"metadata": map[string]any{"annotations": ann}, "data": data})
		inj.Targets = append(inj.Targets, Target{Kind: "ConfigMap", Namespace: cm.Namespace, Name: cm.Name, UID: string(cm.UID)})
		inj.Changes = append(inj.Changes, Change{Object: "ConfigMap " + cm.Namespace + "/" + cm.Name, Action: "patch", Detail: string(cmPatch)})
	}
	depAnn := map[string]any{}
	tmpl := map[string]any{}
	var envRec *configRecord
	if len(s.Env) > 0 {
		if _, busy := dep.Annotations[AnnotationBadConfig]; busy {
			return nil, fmt.Errorf("scenarios: bad-config: deployment %s/%s already carries a %s record", dep.Namespace, dep.Name, AnnotationBadConfig)
		}
		name, err := containerName(dep, f.target.Container)
		if err != nil {
			return nil, fmt.Errorf("scenarios: bad-config: %w", err)
		}
		envRec = &configRecord{Container: name, Old: map[string]*string{}, New: s.Env}
		c := container(dep, name)
		for k := range s.Env {
			envRec.Old[k] = nil
			for _, e := range c.Env {
				if e.Name == k {
					if e.ValueFrom != nil {
						return nil, fmt.Errorf("scenarios: bad-config: env %s of container %s comes from valueFrom, which bad-config cannot restore", k, name)
					}
					v := e.Value
					envRec.Old[k] = &v
				}
			}
		}
		maps.Copy(depAnn, meta.annotations())
		depAnn[AnnotationBadConfig] = string(mustJSON(envRec))
		tmpl["spec"] = map[string]any{"containers": []map[string]any{{"name": name, "env": envList(s.Env, nil)}}}
	}
	stamp := f.deps.Now().UTC().Format(time.RFC3339Nano)
	tmpl["metadata"] = map[string]any{"annotations": map[string]any{AnnotationRestartedAt: stamp}}
	body := map[string]any{"spec": map[string]any{"template": tmpl}}
	if len(depAnn) > 0 {
		body["metadata"] = map[string]any{"annotations": depAnn}
	}
	depPatch := mustJSON(body)
	inj.Targets = append(inj.Targets, Target{Kind: "Deployment", Namespace: dep.Namespace, Name: dep.Name, UID: string(dep.UID)})
	inj.Changes = append(inj.Changes, Change{Object: "Deployment " + dep.Namespace + "/" + dep.Name, Action: "patch", Detail: string(depPatch)})
	if f.deps.DryRun {
		return inj, nil
	}
	if cmPatch != nil {
		if _, err := f.deps.Client.CoreV1().ConfigMaps(dep.Namespace).Patch(ctx, s.ConfigMap, types.MergePatchType, cmPatch, metav1.PatchOptions{FieldManager: "firedrill"}); err != nil {
			return nil, fmt.Errorf("scenarios: bad-config: patch configmap %s/%s: %w", dep.Namespace, s.ConfigMap, err)
		}
		f.cmRec = cmRec
		f.injected = true
	}
	if err := patchDeployment(ctx, f.deps.Client, dep.Namespace, dep.Name, depPatch); err != nil {
		return inj, fmt.Errorf("scenarios: bad-config: %w", err)
	}
	f.envRec, f.restamp, f.injected = envRec, stamp, true
	f.proof = newRevisionProof(f.deps.Now())
	f.deps.Logger.InfoContext(ctx, "bad-config: pushed and rolled", "deployment", dep.Namespace+"/"+dep.Name)
	return inj, nil
}

// envList is the strategic-merge list setting vals, and deleting the
// names in del.
func envList(vals map[string]string, del []string) []map[string]any {
	var out []map[string]any
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		out = append(out, map[string]any{"name": k, "value": vals[k]})
	}
	for _, k := range del {
		out = append(out, map[string]any{"name": k, "$patch": "delete"})
	}
	return out
}

// Remove restores the old values and rolls the pods again.
func (f *badConfig) Remove(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.injected {
		return nil
	}
	if f.cmRec != nil {
		if err := revertConfigMap(ctx, f.deps, f.target.Namespace, f.spec.BadConfig.ConfigMap, f.cmRec, f.envRec == nil); err != nil {
			return err
		}
		f.cmRec = nil
	}
	if f.envRec != nil {
		if err := revertEnv(ctx, f.deps, f.target.Namespace, f.target.Name, f.envRec); err != nil {
			return err
		}
		f.envRec = nil
	}
	f.injected = false
	return nil
}

// revertConfigMap puts rec's old values back and, if roll, restarts the
// Deployment named in rec.
func revertConfigMap(ctx context.Context, deps Deps, ns, name string, rec *configRecord, roll bool) error {
	data := map[string]any{}
	for k, old := range rec.Old {
		if old == nil {
			data[k] = nil
		} else {
			data[k] = *old
		}
	}
	patch := mustJSON(map[string]any{"metadata": map[string]any{"annotations": clearOwner(AnnotationBadConfig)}, "data": data})
	_, err := deps.Client.CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "firedrill"})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("scenarios: bad-config: restore configmap %s/%s: %w", ns, name, err)
	}
	if roll && rec.Deployment != "" {
		if err := restart(ctx, deps, ns, rec.Deployment); err != nil {
			return err
		}
	}
	deps.Logger.InfoContext(ctx, "bad-config: configmap restored", "configmap", ns+"/"+name)
	return nil
}

// revertEnv puts rec's old env back (which rolls the pods) and drops the
// record.
func revertEnv(ctx context.Context, deps Deps, ns, name string, rec *configRecord) error {
	set := map[string]string{}
	var del []string
	for k, old := range rec.Old {
		if old == nil {
			del = append(del, k)
		} else {
			set[k] = *old
		}
	}
	slices.Sort(del)
	patch := mustJSON(map[string]any{
		"metadata": map[string]any{"annotations": clearOwner(AnnotationBadConfig)},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{AnnotationRestartedAt: deps.Now().UTC().Format(time.RFC3339Nano)}},
			"spec":     map[string]any{"containers": []map[string]any{{"name": rec.Container, "env": envList(set, del)}}},
		}},
	})
	if err := patchDeployment(ctx, deps.Client, ns, name, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("scenarios: bad-config: restore env: %w", err)
	}
	return nil
}

// restart rolls the Deployment's pods by bumping a template annotation.
func restart(ctx context.Context, deps Deps, ns, name string) error {
	patch := mustJSON(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{AnnotationRestartedAt: deps.Now().UTC().Format(time.RFC3339Nano)},
	}}}})
	if err := patchDeployment(ctx, deps.Client, ns, name, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("scenarios: bad-config: restart: %w", err)
	}
	return nil
}

// Status proves the push by what the pods of the pushed template did (see
// revisionProof): they answered the drill's requests, or never became
// ready for a named reason (a crash loop, a failing readiness probe).
func (f *badConfig) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.injected {
		return Status{}, ErrNotInjected
	}
	if f.proof == nil {
		// The ConfigMap was patched but the roll failed.
		return Status{Injected: true, Message: "the pods were not rolled onto the pushed config"}, nil
	}
	dep, err := getDeployment(ctx, f.deps.Client, f.target)
	if err != nil {
		return Status{}, fmt.Errorf("scenarios: bad-config: status: %w", err)
	}
	stamp := f.restamp
	err = f.proof.observe(ctx, f.deps, dep, func(t *corev1.PodTemplateSpec) bool {
		return t.Annotations[AnnotationRestartedAt] == stamp
	})
	if err != nil {
		return Status{}, fmt.Errorf("scenarios: bad-config: status: %w", err)
	}
	return f.proof.status(f.deps, "the revision with the pushed config (restartedAt "+stamp+")"), nil
}

func parseConfigRecord(s string) (*configRecord, error) {
	var rec configRecord
	if err := json.Unmarshal([]byte(s), &rec); err != nil {
		return nil, fmt.Errorf("bad %s annotation: %w", AnnotationBadConfig, err)
	}
	return &rec, nil
}
