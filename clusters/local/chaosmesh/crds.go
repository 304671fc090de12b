package chaosmesh

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/deploy"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDs returns the embedded Chaos Mesh CRDs as objects.
func CRDs() ([]*unstructured.Unstructured, error) {
	b, err := deploy.ChaosMeshCRDs()
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: %w", err)
	}
	objs, err := deploy.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: crds: %w", err)
	}
	return objs, nil
}

// InstallCRDs server-side applies the Chaos Mesh CRDs to the cluster of
// cfg and waits until each is Established.
func InstallCRDs(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	objs, err := CRDs()
	if err != nil {
		return err
	}
	a, err := deploy.NewApplier(cfg)
	if err != nil {
		return fmt.Errorf("chaosmesh: %w", err)
	}
	if err := a.Apply(ctx, objs, deploy.Options{}); err != nil {
		return fmt.Errorf("chaosmesh: install CRDs: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("chaosmesh: %w", err)
	}
	for _, o := range objs {
		var last string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			got, err := dyn.Resource(crdResource).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" {
					last = fmt.Sprintf("Established=%v", m["status"])
					return m["status"] == "True", nil
				}
			}
			last = "no Established condition"
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("chaosmesh: CRD %s not established within %s (%s): %w", o.GetName(), timeout, last, err)
		}
	}
	return nil
}
