package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/clusters/images"
)

// webapp holds the test workload image: built once per test binary, loaded
// into every cluster that asks for it (the shared cluster is recreated
// after the lifecycle tests release it, and the new one starts empty).
var webapp struct {
	build   sync.Once
	dir     string // holds the tarball; removed by TestMain
	tarball string
	err     error

	mu     sync.Mutex
	loaded map[*Cluster]bool
}

// loadWebapp builds the test workload image (tags v1 and v2) once per test
// binary and loads it into cl once per cluster.
func loadWebapp(t *testing.T, cl *Cluster) {
	t.Helper()
	webapp.build.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		dir, err := os.MkdirTemp("", "firedrill-webapp-")
		if err != nil {
			webapp.err = err
			return
		}
		webapp.dir = dir
		webapp.tarball = filepath.Join(dir, "webapp.tar")
		_, webapp.err = images.Build(ctx, "./clusters/local/testdata/webapp", []images.Tag{
			{Ref: webappImage + ":v1", Env: []string{"VERSION=v1"}},
			{Ref: webappImage + ":v2", Env: []string{"VERSION=v2"}},
		}, webapp.tarball, images.WithDir(moduleRoot()))
	})
	require.NoError(t, webapp.err, "building the webapp image")
	webapp.mu.Lock()
	defer webapp.mu.Unlock()
	if webapp.loaded[cl] {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, cl.LoadImage(ctx, webapp.tarball), "loading the webapp image")
	if webapp.loaded == nil {
		webapp.loaded = map[*Cluster]bool{}
	}
	webapp.loaded[cl] = true
}

// TestPodNetwork checks the network contract: the host reaches a pod at its
// IP, the pod reaches the host at the bridge gateway, the service CIDR is
// routed onto the bridge (with the backstop blackhole behind it) and the
// FORWARD guard is in place. No packet is sent anywhere but to the pod and
// the host's own bridge address.
func TestPodNetwork(t *testing.T) {
	cl := testCluster(t)
	loadWebapp(t, cl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs, err := cl.clientset()
	require.NoError(t, err)
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "net-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "web", Image: webappImage + ":v1", ImagePullPolicy: corev1.PullNever,
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	_, err = cs.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var ready *corev1.Pod
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns.Name).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || !podReady(p) {
			return false, nil
		}
		ready = p
		return true, nil
	}))

	// Pod IP inside the pod CIDR, on our bridge; the host reaches it.
	ip := net.ParseIP(ready.Status.PodIP)
	require.True(t, cl.cfg.podCIDR.Contains(mustAddr(t, ip)), "pod IP %s outside %s", ip, cl.cfg.podCIDR)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	body, err := get(ctx, client, "http://"+net.JoinHostPort(ip.String(), "8080")+"/")
	require.NoError(t, err)
	require.Equal(t, "v1", body)

	// The pod reaches the host at the gateway address.
	l, err := net.Listen("tcp", net.JoinHostPort(cl.cfg.gateway().String(), "0"))
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hello from the host\n")
			_ = c.Close()
		}
	}()
	pid := podProcess(t, cl, string(ready.UID))
	got, err := dialInNetns(pid, l.Addr().String())
	require.NoError(t, err)
	require.Equal(t, "hello from the host", strings.TrimSpace(got))

	// Safety net: the service CIDR goes onto the bridge, the blackhole
	// stays behind it, and the guard is in place.
	out, err := run(ctx, "ip", "route", "get", cl.cfg.apiServiceIP().String())
	require.NoError(t, err)
	require.Contains(t, out, " dev "+cl.cfg.bridge+" ")
	out, err = run(ctx, "ip", "route", "show", "match", cl.cfg.apiServiceIP().String())
	require.NoError(t, err)
	require.Contains(t, out, "blackhole "+cl.cfg.serviceCIDR.String()+" proto "+routeProto+" metric "+serviceBlackholeMetric)
	out, err = run(ctx, "ip", "-o", "-4", "route", "show", "exact", cl.cfg.serviceCIDR.String())
	require.NoError(t, err)
	bridge, blackhole := serviceRoutesIn(out, cl.cfg.serviceCIDR, cl.cfg.bridge)
	require.True(t, bridge && blackhole, "both service CIDR routes marked proto %s: %s", routeProto, out)
	require.NoError(t, cl.networkInPlace(ctx))
}

func mustAddr(t *testing.T, ip net.IP) netip.Addr {
	t.Helper()
	a, ok := netip.AddrFromSlice(ip.To4())
	require.True(t, ok, "not an IPv4 address: %s", ip)
	return a
}

// podProcess returns a process of the pod with the given UID that is in the
// pod's network namespace, found through the kubelet's cgroup tree.
func podProcess(t *testing.T, cl *Cluster, uid string) int {
	t.Helper()
	host, err := nsInode("/proc/self/ns/net")
	require.NoError(t, err)
	for _, dir := range cgroupTree(filepath.Join(cl.clusterCgroup("freezer"), "kubepods")) {
		if !strings.Contains(dir, "pod"+uid) {
			continue
		}
		for _, pid := range readProcs(filepath.Join(dir, "cgroup.procs")) {
			if ino, err := nsInode("/proc/" + strconv.Itoa(pid) + "/ns/net"); err == nil && ino != host {
				return pid
			}
		}
	}
	t.Fatalf("no process of pod %s found in the cluster's cgroups", uid)
	return 0
}

// dialInNetns connects to addr from inside the network namespace of pid and
// returns what the server sends.
func dialInNetns(pid int, addr string) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked if switching back fails, so the
		// runtime discards it instead of reusing it in the wrong netns.
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer self.Close()
		target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			defer runtime.UnlockOSThread()
		}
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		ch <- result{string(b), err}
	}()
	r := <-ch
	return r.s, r.err
}
