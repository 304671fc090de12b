package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// controllers is the lean controller set: what Deployments, StatefulSets,
// DaemonSets, Jobs, Services (EndpointSlices), namespaces, service accounts,
// garbage collection and node readiness need. No CSR signing, no volume
// controllers, no HPA, no quota.
var controllers = []string{
	"clusterrole-aggregation-controller",
	"cronjob-controller",
	"daemonset-controller",
	"deployment-controller",
	"disruption-controller",
	"endpointslice-controller",
	"garbage-collector-controller",
	"job-controller",
	"namespace-controller",
	"node-lifecycle-controller",
	"pod-garbage-collector-controller",
	"replicaset-controller",
	"root-ca-certificate-publisher-controller",
	"serviceaccount-controller",
	"statefulset-controller",
	"taint-eviction-controller",
	"ttl-after-finished-controller",
}

func (cl *Cluster) kubeBin(name string) string { return filepath.Join(cl.cfg.kubeBinDir, name) }

func (cl *Cluster) etcdComponent() component {
	client := "http://127.0.0.1:" + strconv.Itoa(etcdClientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(etcdPeerPort)
	return component{
		name: compEtcd,
		bin:  cl.kubeBin("etcd"),
		args: []string{
			"--name=" + cl.cfg.name,
			"--data-dir=" + cl.p.etcd,
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=" + cl.cfg.name + "=" + peer,
			"--initial-cluster-state=new",
			// A throwaway cluster: durability is not worth the disk I/O.
			"--unsafe-no-fsync",
			"--snapshot-count=10000",
			"--quota-backend-bytes=1073741824",
			"--log-level=warn",
		},
		health: func(ctx context.Context) error {
			return httpHealth(ctx, plainClient, client+"/health", `"health":"true"`)
		},
		timeout: 30 * time.Second,
	}
}

func (cl *Cluster) apiServerComponent() component {
	pki := func(f string) string { return filepath.Join(cl.p.pki, f) }
	return component{
		name: compAPIServer,
		bin:  cl.kubeBin("kube-apiserver"),
		args: []string{
			"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdClientPort),
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(apiServerPort),
			"--advertise-address=" + cl.cfg.gateway().String(),
			"--service-cluster-ip-range=" + cl.cfg.serviceCIDR.Masked().String(),
			"--tls-cert-file=" + pki("apiserver.crt"),
			"--tls-private-key-file=" + pki("apiserver.key"),
			"--client-ca-file=" + pki("ca.crt"),
			"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types=InternalIP",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pki("sa.pub"),
			"--service-account-signing-key-file=" + pki("sa.key"),
			"--authorization-mode=Node,RBAC",
			"--allow-privileged=true",
			"--enable-priority-and-fairness=false",
			"--profiling=false",
			"--v=1",
		},
		health: func(ctx context.Context) error {
			c, err := cl.adminHTTPClient()
			if err != nil {
				return err
			}
			return httpHealth(ctx, c, cl.cfg.apiServerURL()+"/readyz", "ok")
		},
		timeout: 90 * time.Second,
	}
}

func (cl *Cluster) controllerManagerComponent() component {
	return component{
		name: compControllerManager,
		bin:  cl.kubeBin("kube-controller-manager"),
		args: []string{
			"--kubeconfig=" + filepath.Join(cl.p.pki, "controller-manager.kubeconfig"),
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(controllerManagerPort),
			"--leader-elect=false",
			"--controllers=" + strings.Join(controllers, ","),
			"--root-ca-file=" + filepath.Join(cl.p.pki, "ca.crt"),
			"--cluster-name=" + cl.cfg.name,
			"--allocate-node-cidrs=false",
			"--use-service-account-credentials=true",
			"--profiling=false",
			"--v=1",
		},
		health: func(ctx context.Context) error {
			return httpHealth(ctx, insecureClient, "https://127.0.0.1:"+strconv.Itoa(controllerManagerPort)+"/healthz", "ok")
		},
		timeout: 60 * time.Second,
	}
}

func (cl *Cluster) schedulerComponent() component {
	return component{
		name: compScheduler,
		bin:  cl.kubeBin("kube-scheduler"),
		args: []string{
			"--kubeconfig=" + filepath.Join(cl.p.pki, "scheduler.kubeconfig"),
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(schedulerPort),
			"--leader-elect=false",
			"--profiling=false",
			"--v=1",
		},
		health: func(ctx context.Context) error {
			return httpHealth(ctx, insecureClient, "https://127.0.0.1:"+strconv.Itoa(schedulerPort)+"/healthz", "ok")
		},
		timeout: 60 * time.Second,
	}
}

var (
	plainClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	// insecureClient is for the controller-manager's and scheduler's
	// self-signed health endpoints on loopback.
	insecureClient = &http.Client{Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health check of a self-signed endpoint
	}}
)

// adminHTTPClient returns an HTTP client that verifies the API server with
// the cluster CA and authenticates as the admin.
func (cl *Cluster) adminHTTPClient() (*http.Client, error) {
	ca, err := os.ReadFile(filepath.Join(cl.p.pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(filepath.Join(cl.p.pki, "admin.crt"), filepath.Join(cl.p.pki, "admin.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// httpHealth GETs url and expects a 200 whose body contains want.
func httpHealth(ctx context.Context, c *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
