package cli

import (
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
	"github.com/firedrill/firedrill/scenarios/chaosmesh"
)

// drillBackends is the fault backend chooser the CLI gives the runner:
// backend auto takes Chaos Mesh when its CRDs and controller are on the
// cluster of cfg and native otherwise; chaos-mesh and native are taken as
// asked. The runner reports each choice and its reason.
func drillBackends(cfg *rest.Config, client kubernetes.Interface, log *slog.Logger) runner.Backends {
	if cfg == nil {
		return runner.NativeBackends(client, log)
	}
	return chaosmesh.Backends(cfg, scenarios.Deps{Client: client, Logger: log})
}
