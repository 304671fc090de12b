package cli

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/drills"
)

// kubeFlags are kubectl's standard cluster-access flags (--kubeconfig,
// --context, --cluster, --user, --namespace/-n, --server, --token, --as,
// --request-timeout, TLS and cache flags) through cli-runtime's
// ConfigFlags, shared by every command that talks to a cluster. Without
// them the client loads $KUBECONFIG, ~/.kube/config or the in-cluster
// service account, as kubectl does.
type kubeFlags struct {
	cf    *genericclioptions.ConfigFlags
	flags *pflag.FlagSet
}

// newKubeFlags returns unregistered kubectl flags.
func newKubeFlags() *kubeFlags {
	return &kubeFlags{cf: genericclioptions.NewConfigFlags(true)}
}

// register adds the flags to fs; nsUsage, if not empty, says what
// --namespace means for the command.
func (k *kubeFlags) register(fs *pflag.FlagSet, nsUsage string) {
	k.flags = fs
	k.cf.AddFlags(fs)
	if f := fs.Lookup("namespace"); f != nil && nsUsage != "" {
		f.Usage = nsUsage
	}
}

// drillNamespaceUsage is --namespace for the commands that run drills.
const drillNamespaceUsage = "if given, must equal every drill's spec.target.namespace (a drill never moves to another namespace)"

// kubeFlagNames are the names ConfigFlags registers, for "was any set?".
var kubeFlagNames = func() []string {
	fs := pflag.NewFlagSet("names", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(false).AddFlags(fs)
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	return names
}()

// changed returns the kubectl flags given on the command line, as --name.
func (k *kubeFlags) changed() []string {
	if k.flags == nil {
		return nil
	}
	var set []string
	for _, n := range kubeFlagNames {
		if k.flags.Changed(n) {
			set = append(set, "--"+n)
		}
	}
	return set
}

// restConfig is the REST config the flags select, as kubectl builds it.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	cfg, err := k.cf.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// namespace is --namespace when given, else the kubeconfig context's
// namespace ("default" when it names none), as kubectl resolves it.
func (k *kubeFlags) namespace() (string, error) {
	ns, _, err := k.cf.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("namespace from kubeconfig: %w", err)
	}
	return ns, nil
}

// explicitNamespace is --namespace, or "" when it was not given.
func (k *kubeFlags) explicitNamespace() string {
	if k.flags == nil || !k.flags.Changed("namespace") || k.cf.Namespace == nil {
		return ""
	}
	return *k.cf.Namespace
}

// checkDrillNamespaces refuses drills whose spec.target.namespace differs
// from an explicit --namespace. Every drill names its target's namespace,
// so --namespace never moves a drill elsewhere; as kubectl refuses an
// object whose namespace does not match --namespace, a mismatch is an
// error naming the drill's file and line.
func (k *kubeFlags) checkDrillNamespaces(ds []*drills.Drill) error {
	ns := k.explicitNamespace()
	if ns == "" {
		return nil
	}
	var errs []error
	for _, d := range ds {
		if d.Spec.Target.Namespace != ns {
			errs = append(errs, d.FieldError("spec.target.namespace",
				"the drill targets namespace %q but --namespace is %q: a drill runs in the namespace it names; drop --namespace or edit the drill",
				d.Spec.Target.Namespace, ns))
		}
	}
	return errors.Join(errs...)
}
