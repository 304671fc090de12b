package local

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestServiceClusterIP checks the Service data path: kube-proxy runs and is
// healthy, and a request from the host to a Service's ClusterIP is
// answered by a pod behind it (through the nat OUTPUT chain and the
// service CIDR's route onto the bridge). TestMain's teardown check then
// proves that no kube-proxy process and no KUBE-* chain is left.
func TestServiceClusterIP(t *testing.T) {
	cl := testCluster(t)
	loadWebapp(t, cl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	pid, ok := cl.PIDs()[compKubeProxy]
	require.True(t, ok, "kube-proxy is not running: %v", cl.PIDs())
	require.NotZero(t, pid)
	require.NoError(t, cl.kubeProxyComponent().health(ctx))
	out, err := run(ctx, "iptables", "-w", "5", "-t", "nat", "-S", "OUTPUT")
	require.NoError(t, err)
	require.Contains(t, out, "-j KUBE-SERVICES", "kube-proxy did not hook nat OUTPUT")

	cs, err := cl.clientset()
	require.NoError(t, err)
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "svc-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}))
	dep, err := cs.AppsV1().Deployments(ns.Name).Create(ctx, webappDeployment(webappImage+":v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	svc, err := cs.CoreV1().Services(ns.Name).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "webapp"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "webapp"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, cl.cfg.serviceCIDR.Contains(mustAddr(t, net.ParseIP(svc.Spec.ClusterIP))), "ClusterIP %s outside %s", svc.Spec.ClusterIP, cl.cfg.serviceCIDR)
	waitRolledOut(ctx, t, cs, ns.Name, dep.Name)

	// The rules follow the EndpointSlice within kube-proxy's sync period;
	// until then the ClusterIP is rejected or unanswered.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(80)) + "/"
	var last string
	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		body, err := get(ctx, client, url)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = body
		return body == "v1", nil
	})
	require.NoError(t, err, "GET %s never answered v1: %s", url, last)
	t.Logf("ClusterIP %s answered after %s", svc.Spec.ClusterIP, time.Since(start).Round(time.Millisecond))

	// Every request through the ClusterIP is answered (kube-proxy spreads
	// them over the three pods).
	for i := 0; i < 20; i++ {
		body, err := get(ctx, client, url)
		require.NoError(t, err)
		require.Equal(t, "v1", strings.TrimSpace(body))
	}
}
