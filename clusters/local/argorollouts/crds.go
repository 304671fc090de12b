package argorollouts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/firedrill/firedrill/deploy"
)

// CRDs reads the release's CRDs from the build folder (crds/*.yaml, copied
// there from the module's manifests/crds by hack/build-argo-rollouts.sh).
func CRDs(toolDir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(toolDir, "crds", "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("argorollouts: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("argorollouts: no CRDs in %s (run hack/build-argo-rollouts.sh)", filepath.Join(toolDir, "crds"))
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("argorollouts: %w", err)
		}
		objs, err := deploy.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("argorollouts: %s: %w", f, err)
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				return nil, fmt.Errorf("argorollouts: %s holds a %s, not a CRD", f, o.GetKind())
			}
		}
		out = append(out, objs...)
	}
	return out, nil
}

// RESTConfig loads the client configuration of a kubeconfig file.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("argorollouts: kubeconfig: %w", err)
	}
	return cfg, nil
}

// InstallCRDs server-side applies the release's CRDs and waits until the
// API server serves them (condition Established).
func InstallCRDs(ctx context.Context, kubeconfig, toolDir string) error {
	crds, err := CRDs(toolDir)
	if err != nil {
		return err
	}
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(cfg)
	if err != nil {
		return err
	}
	if err := ap.Apply(ctx, crds, deploy.Options{}); err != nil {
		return fmt.Errorf("argorollouts: %w", err)
	}
	if err := ap.WaitEstablished(ctx, crds, time.Minute); err != nil {
		return fmt.Errorf("argorollouts: %w", err)
	}
	return nil
}

// DeleteCRDs deletes the release's CRDs (and with them every Argo object
// in the cluster); missing ones are fine.
func DeleteCRDs(ctx context.Context, kubeconfig, toolDir string) error {
	crds, err := CRDs(toolDir)
	if err != nil {
		return err
	}
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(cfg)
	if err != nil {
		return err
	}
	if err := ap.Delete(ctx, crds); err != nil {
		return fmt.Errorf("argorollouts: %w", err)
	}
	return nil
}
