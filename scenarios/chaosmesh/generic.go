package chaosmesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kjson "sigs.k8s.io/json"

	"github.com/firedrill/firedrill/drills"
)

// webhookObject is what Chaos Mesh's generated code gives every chaos kind.
type webhookObject interface {
	client.Object
	Default(ctx context.Context, obj runtime.Object) error
	Validate() ([]string, error)
}

// buildGeneric builds a chaos-mesh fault: the named kind's typed object
// from the raw spec (unknown fields are errors), with the selector, mode
// and duration filled in from the drill where the raw spec lacks them.
func buildGeneric(spec drills.Fault, sel Selection, meta Meta) (client.Object, error) {
	if err := otherSettings(spec, "chaosMesh"); err != nil {
		return nil, err
	}
	if spec.ChaosMesh == nil || spec.ChaosMesh.Kind == "" {
		return nil, invalid(spec, "chaos-mesh needs chaosMesh.kind")
	}
	kindName := spec.ChaosMesh.Kind
	kind, ok := v1alpha1.AllKinds()[kindName]
	if !ok || !slices.Contains(drills.ChaosMeshKinds, kindName) {
		return nil, invalid(spec, "unknown Chaos Mesh kind %q (known: %v)", kindName, drills.ChaosMeshKinds)
	}
	// A JSON round trip copies the spec and turns YAML's ints into JSON
	// numbers.
	raw := map[string]any{}
	if b, err := json.Marshal(spec.ChaosMesh.Spec); err != nil {
		return nil, invalid(spec, "chaosMesh.spec: %v", err)
	} else if err := json.Unmarshal(b, &raw); err != nil {
		return nil, invalid(spec, "chaosMesh.spec: %v", err)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	ps := sel.podSelector()
	if _, ok := raw["selector"]; !ok {
		sm := map[string]any{"namespaces": []any{sel.Namespace}}
		if len(ps.Selector.LabelSelectors) > 0 {
			lm := map[string]any{}
			for k, v := range ps.Selector.LabelSelectors {
				lm[k] = v
			}
			sm["labelSelectors"] = lm
		}
		if len(ps.Selector.ExpressionSelectors) > 0 {
			exprs, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&struct {
				E v1alpha1.LabelSelectorRequirements `json:"e"`
			}{ps.Selector.ExpressionSelectors})
			if err != nil {
				return nil, fmt.Errorf("chaosmesh: %w", err)
			}
			sm["expressionSelectors"] = exprs["e"]
		}
		raw["selector"] = sm
	}
	if _, ok := raw["mode"]; !ok {
		raw["mode"] = string(ps.Mode)
		if ps.Value != "" {
			raw["value"] = ps.Value
		}
	}
	if d := duration(spec.Duration); d != nil {
		if _, ok := raw["duration"]; !ok {
			raw["duration"] = *d
		}
	}
	obj := kind.SpawnObject()
	doc, err := json.Marshal(map[string]any{"apiVersion": GroupVersion.String(), "kind": kindName, "spec": raw})
	if err != nil {
		return nil, invalid(spec, "chaosMesh.spec: %v", err)
	}
	strict, err := kjson.UnmarshalStrict(doc, obj)
	if err == nil && len(strict) > 0 {
		err = errors.Join(strict...)
	}
	if err != nil {
		return nil, invalid(spec, "chaosMesh.spec does not fit %s: %v", kindName, err)
	}
	om := meta.objectMeta(spec, sel.Namespace)
	obj.SetName(om.Name)
	obj.SetNamespace(om.Namespace)
	obj.SetLabels(om.Labels)
	obj.SetAnnotations(om.Annotations)
	obj.GetObjectKind().SetGroupVersionKind(GroupVersion.WithKind(kindName))
	w, ok := obj.(webhookObject)
	if !ok {
		return nil, fmt.Errorf("chaosmesh: %s has no webhook validation", kindName)
	}
	if err := webhookValidate(spec, w); err != nil {
		return nil, err
	}
	return obj, nil
}
