package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
)

// versionServer is an API server that only answers /version with
// gitVersion.
func versionServer(t *testing.T, gitVersion string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"` + gitVersion + `"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// twoContextKubeconfig writes a kubeconfig whose contexts a (current, no
// namespace) and b (namespace shop) point at the two servers.
func twoContextKubeconfig(t *testing.T, a, b string) string {
	t.Helper()
	cfg := `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster: {server: "` + a + `"}
- name: b
  cluster: {server: "` + b + `"}
users:
- name: u
  user: {token: t0k3n}
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u, namespace: shop}
`
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	return p
}

// parsedKubeFlags registers kubectl's flags on a fresh flag set and parses
// args.
func parsedKubeFlags(t *testing.T, args ...string) *kubeFlags {
	t.Helper()
	k := newKubeFlags()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	k.register(fs, "")
	require.NoError(t, fs.Parse(args))
	return k
}

func TestClusterCommandsTakeKubectlFlags(t *testing.T) {
	root := NewRootCmd()
	for _, name := range []string{"run", "schedule", "guard", "traffic"} {
		cmd, _, err := root.Find([]string{name})
		require.NoError(t, err)
		require.Equal(t, name, cmd.Name())
		for _, flag := range []string{"kubeconfig", "context", "cluster", "user", "namespace", "server", "token", "as", "request-timeout", "insecure-skip-tls-verify"} {
			require.NotNil(t, cmd.Flags().Lookup(flag), "%s --%s", name, flag)
		}
		require.Equal(t, "n", cmd.Flags().Lookup("namespace").Shorthand, name)
		if name == "traffic" {
			require.Contains(t, cmd.Flags().Lookup("namespace").Usage, "namespace of --service", name)
		} else {
			require.Equal(t, drillNamespaceUsage, cmd.Flags().Lookup("namespace").Usage, name)
		}
	}
}

func TestKubeFlagsSelectContextAndRequestTimeout(t *testing.T) {
	a, b := versionServer(t, "v1.37.2-a"), versionServer(t, "v1.37.2-b")
	kc := twoContextKubeconfig(t, a.URL, b.URL)
	t.Setenv("KUBECONFIG", "")
	for name, tc := range map[string]struct {
		args    []string
		env     string
		version string
		timeout time.Duration
		ns      string
	}{
		"current context":               {args: []string{"--kubeconfig", kc}, version: "v1.37.2-a", ns: "default"},
		"--context":                     {args: []string{"--kubeconfig", kc, "--context", "b"}, version: "v1.37.2-b", ns: "shop"},
		"--request-timeout":             {args: []string{"--kubeconfig", kc, "--request-timeout", "7s"}, version: "v1.37.2-a", timeout: 7 * time.Second, ns: "default"},
		"--server over context":         {args: []string{"--kubeconfig", kc, "--context", "a", "--server", b.URL}, version: "v1.37.2-b", ns: "default"},
		"-n over context":               {args: []string{"--kubeconfig", kc, "--context", "b", "-n", "other"}, version: "v1.37.2-b", ns: "other"},
		"$KUBECONFIG as kubectl":        {env: kc, args: []string{"--context=b"}, version: "v1.37.2-b", ns: "shop"},
		"--kubeconfig over $KUBECONFIG": {env: "/nonexistent/kubeconfig", args: []string{"--kubeconfig", kc}, version: "v1.37.2-a", ns: "default"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("KUBECONFIG", tc.env)
			}
			k := parsedKubeFlags(t, tc.args...)
			cfg, err := k.restConfig()
			require.NoError(t, err)
			require.Equal(t, tc.timeout, cfg.Timeout)
			cs, err := kubernetes.NewForConfig(cfg)
			require.NoError(t, err)
			v, err := cs.Discovery().ServerVersion()
			require.NoError(t, err)
			require.Equal(t, tc.version, v.GitVersion)
			ns, err := k.namespace()
			require.NoError(t, err)
			require.Equal(t, tc.ns, ns)
		})
	}
}

func TestKubeFlagsErrors(t *testing.T) {
	kc := twoContextKubeconfig(t, "http://127.0.0.1:1", "http://127.0.0.1:2")
	_, err := parsedKubeFlags(t, "--kubeconfig", kc, "--context", "nope").restConfig()
	require.ErrorContains(t, err, `kubeconfig: context "nope" does not exist`)
	_, err = parsedKubeFlags(t, "--kubeconfig", filepath.Join(t.TempDir(), "missing")).restConfig()
	require.ErrorContains(t, err, "kubeconfig: ")
	require.Equal(t, []string{"--context"}, parsedKubeFlags(t, "--context", "b").changed())
	require.Empty(t, parsedKubeFlags(t).changed())
}

// namespacedDrill writes a guarded drill in namespace shop; its
// spec.target.namespace is on line 6.
func namespacedDrill(t *testing.T) string {
	t.Helper()
	src := `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: ns-drill
spec:
  target: {namespace: shop, name: web, port: 8080}
  prometheus: {url: "http://127.0.0.1:1"}
  guard:
    rules:
      - name: Up
        expr: up{namespace="shop"}
        threshold: 1
  faults:
    - type: pod-kill
  traffic: {rate: 1, requests: [{path: /}]}
`
	p := filepath.Join(t.TempDir(), "ns-drill.yaml")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	return p
}

func TestNamespaceFlagMustMatchTheDrill(t *testing.T) {
	file := namespacedDrill(t)
	kc := filepath.Join(t.TempDir(), "missing-kubeconfig")
	for name, args := range map[string][]string{
		"run":   {"run", "--kubeconfig", kc, "--report-dir", "", "-n", "other", file},
		"guard": {"guard", "--kubeconfig", kc, "--namespace", "other", file},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := run(t, args...)
			require.Equal(t, ExitError, code, errOut)
			require.Contains(t, errOut, file+`:6: spec.target.namespace: the drill targets namespace "shop" but --namespace is "other"`)
		})
	}
	// The same namespace passes the check and fails later, on the
	// missing kubeconfig.
	code, _, errOut := run(t, "run", "--kubeconfig", kc, "--report-dir", "", "-n", "shop", file)
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "kubeconfig: ")
	require.NotContains(t, errOut, "spec.target.namespace")
}

func TestLocalExcludesKubectlFlags(t *testing.T) {
	code, _, errOut := run(t, "run", "--local", "--context", "b", "--request-timeout", "5s", "--report-dir", "", namespacedDrill(t))
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "--local and --context, --request-timeout exclude each other")
}

func TestTrafficKubectlFlagsGoWithService(t *testing.T) {
	code, _, errOut := runTrafficCmd(t, "--target", "127.0.0.1:1", "--context", "b", "--duration", "1s")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "traffic: --context: kubectl flags and --port go with --service")
}
