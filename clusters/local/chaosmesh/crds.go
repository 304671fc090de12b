package chaosmesh

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/deploy"
)

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
	if err := a.WaitEstablished(ctx, objs, timeout); err != nil {
		return fmt.Errorf("chaosmesh: %w", err)
	}
	return nil
}
