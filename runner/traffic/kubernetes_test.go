package traffic

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/firedrill/firedrill/drills"
)

const ns = "shop"

type ep struct {
	addr  string
	ready bool
}

func slice(name, service string, ports map[string]int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, name := range []string{"http", "metrics"} {
		if p, ok := ports[name]; ok {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: &name, Port: &p})
		}
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: &e.ready}})
	}
	return s
}

// fakeClient returns a fake clientset and a channel closed once the
// informer's watch is established (the fake cannot replay events sent
// between the informer's list and its watch).
func fakeClient(objs ...*discoveryv1.EndpointSlice) (*fake.Clientset, chan struct{}) {
	cs := fake.NewClientset()
	for _, o := range objs {
		_ = cs.Tracker().Add(o)
	}
	started := make(chan struct{})
	cs.PrependWatchReactor("endpointslices", func(action clienttesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(clienttesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := cs.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err == nil {
			select {
			case <-started:
			default:
				close(started)
			}
		}
		return true, w, err
	})
	return cs, started
}

func endpointsEventually(t *testing.T, tg Targets, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := tg.Endpoints(context.Background())
		assert.NoError(c, err)
		assert.Equal(c, want, got)
	}, 10*time.Second, 10*time.Millisecond)
}

func waitWatch(t *testing.T, started <-chan struct{}) {
	t.Helper()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("informer never watched")
	}
}

func TestServiceTargetsFollowEndpointSlices(t *testing.T) {
	ports := map[string]int32{"http": 8080, "metrics": 9090}
	a := slice("pay-a", "payment", ports, ep{"127.0.0.11", true}, ep{"127.0.0.12", false})
	cs, started := fakeClient(a, slice("other-a", "other", ports, ep{"127.0.0.99", true}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tg, err := NewServiceTargets(ctx, cs, ns, "payment")
	require.NoError(t, err)
	got, err := tg.Endpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.11:8080"}, got, "synced before New returns; first port by default")
	waitWatch(t, started)

	// Readiness flips on.
	a = slice("pay-a", "payment", ports, ep{"127.0.0.11", true}, ep{"127.0.0.12", true})
	_, err = cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, a, metav1.UpdateOptions{})
	require.NoError(t, err)
	endpointsEventually(t, tg, "127.0.0.11:8080", "127.0.0.12:8080")

	// A second slice of the Service adds endpoints; other Services' do not.
	b := slice("pay-b", "payment", ports, ep{"127.0.0.13", true}, ep{"127.0.0.11", true})
	_, err = cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, b, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice("other-b", "other", ports, ep{"127.0.0.98", true}), metav1.CreateOptions{})
	require.NoError(t, err)
	endpointsEventually(t, tg, "127.0.0.11:8080", "127.0.0.12:8080", "127.0.0.13:8080")

	// Readiness flips off in one slice; the address stays through the other.
	a = slice("pay-a", "payment", ports, ep{"127.0.0.11", false}, ep{"127.0.0.12", false})
	_, err = cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, a, metav1.UpdateOptions{})
	require.NoError(t, err)
	endpointsEventually(t, tg, "127.0.0.11:8080", "127.0.0.13:8080")

	// Deleting a slice removes its endpoints; then nothing is ready.
	require.NoError(t, cs.DiscoveryV1().EndpointSlices(ns).Delete(ctx, "pay-b", metav1.DeleteOptions{}))
	endpointsEventually(t, tg)

	cancel()
	require.Eventually(t, func() bool {
		_, err := tg.Endpoints(context.Background())
		return err != nil
	}, 10*time.Second, 10*time.Millisecond)
	_, err = tg.Endpoints(context.Background())
	require.ErrorIs(t, err, ErrTargetsClosed)
	tg.Close() // idempotent
}

func TestServiceTargetsPortSelection(t *testing.T) {
	ports := map[string]int32{"http": 8080, "metrics": 9090}
	s := slice("pay-a", "payment", ports, ep{"127.0.0.11", true})
	for name, tc := range map[string]struct {
		opt  ServiceOption
		want []string
	}{
		"default first": {WithPort(""), []string{"127.0.0.11:8080"}},
		"by name":       {WithPort("metrics"), []string{"127.0.0.11:9090"}},
		"by number":     {WithPort("9090"), []string{"127.0.0.11:9090"}},
		"no such port":  {WithPortName("grpc"), []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			cs, _ := fakeClient(s)
			tg, err := NewServiceTargets(context.Background(), cs, ns, "payment", tc.opt)
			require.NoError(t, err)
			defer tg.Close()
			got, err := tg.Endpoints(context.Background())
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestServiceTargetsValidate(t *testing.T) {
	cs, _ := fakeClient()
	_, err := NewServiceTargets(context.Background(), nil, ns, "payment")
	require.Error(t, err)
	_, err = NewServiceTargets(context.Background(), cs, "", "payment")
	require.ErrorContains(t, err, "required")
	_, err = NewServiceTargets(context.Background(), cs, ns, "payment", WithPortNumber(70000))
	require.ErrorContains(t, err, "out of range")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = NewServiceTargets(ctx, cs, ns, "payment")
	require.ErrorIs(t, err, context.Canceled)
}

// TestTrafficToServiceEndpoints drives traffic through ServiceTargets at a
// loopback server published as the Service's only ready endpoint, then
// marks it not ready: requests turn into no-endpoints errors.
func TestTrafficToServiceEndpoints(t *testing.T) {
	srv := newServer(t, nil)
	host, portStr, err := net.SplitHostPort(srv.addr())
	require.NoError(t, err)
	port64, err := strconv.ParseInt(portStr, 10, 32)
	require.NoError(t, err)
	ports := map[string]int32{"http": int32(port64)}
	cs, started := fakeClient(slice("pay-a", "payment", ports, ep{host, true}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tg, err := NewServiceTargets(ctx, cs, ns, "payment", WithPortName("http"))
	require.NoError(t, err)
	waitWatch(t, started)

	g, err := New(tg, drills.Traffic{Rate: 40, Timeout: drills.D(time.Second), Requests: []drills.RequestTemplate{{Path: "/"}}})
	require.NoError(t, err)
	runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	require.Eventually(t, func() bool { return srv.count() >= 10 }, 10*time.Second, 10*time.Millisecond)

	_, err = cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, slice("pay-a", "payment", ports, ep{host, false}), metav1.UpdateOptions{})
	require.NoError(t, err)
	endpointsEventually(t, tg)
	require.Eventually(t, func() bool { return g.Stats().Total().ByKind[KindNoEndpoints] >= 5 }, 10*time.Second, 10*time.Millisecond)
	stop()
	require.NoError(t, <-done)
	total := g.Stats().Total()
	require.Equal(t, int64(srv.count()), total.Successes)
	require.Equal(t, total.Requests, total.Successes+total.ByKind[KindNoEndpoints])
}
