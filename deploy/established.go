package deploy

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// crdResource is the CustomResourceDefinition resource.
var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// WaitEstablished waits, up to timeout for each, until the API server
// reports every CustomResourceDefinition in crds Established, i.e. serves
// its resources. The error names the CRD and what was last seen.
func (a *Applier) WaitEstablished(ctx context.Context, crds []*unstructured.Unstructured, timeout time.Duration) error {
	for _, o := range crds {
		var last string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			got, err := a.dyn.Resource(crdResource).Get(ctx, o.GetName(), metav1.GetOptions{})
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
			return fmt.Errorf("deploy: CRD %s not established within %s (%s): %w", o.GetName(), timeout, last, err)
		}
	}
	return nil
}
