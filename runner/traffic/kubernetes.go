package traffic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// DefaultSyncTimeout bounds the wait for the first list of EndpointSlices.
const DefaultSyncTimeout = 30 * time.Second

// ErrTargetsClosed is returned by ServiceTargets.Endpoints after Close or
// after the context given to NewServiceTargets is done.
var ErrTargetsClosed = errors.New("traffic: service targets closed")

// ServiceTargets are the ready endpoints of a Kubernetes Service, as its
// EndpointSlices (label kubernetes.io/service-name) publish them, kept
// current by an informer in the Service's namespace. Only endpoints whose
// condition ready is true count; each contributes its first address with
// the selected port.
type ServiceTargets struct {
	namespace, service string
	portName           string
	portNumber         int32
	log                *slog.Logger
	syncTimeout        time.Duration

	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer
	current  atomic.Pointer[[]string]
	refresh  sync.Mutex
	stop     chan struct{}
	stopOnce sync.Once
}

// ServiceOption configures ServiceTargets.
type ServiceOption func(*ServiceTargets)

// WithPortName selects the endpoint port by name (the Service port's name).
func WithPortName(name string) ServiceOption {
	return func(t *ServiceTargets) { t.portName = name }
}

// WithPortNumber selects the endpoint port by number (the port the pods
// listen on, as EndpointSlices list it).
func WithPortNumber(port int32) ServiceOption {
	return func(t *ServiceTargets) { t.portNumber = port }
}

// WithPort selects the endpoint port by number if p is numeric, else by
// name. An empty p keeps the default: each slice's first port.
func WithPort(p string) ServiceOption {
	if n, err := strconv.ParseInt(p, 10, 32); err == nil {
		return WithPortNumber(int32(n))
	}
	return WithPortName(p)
}

// WithServiceLogger logs endpoint changes at debug level (default: none).
func WithServiceLogger(l *slog.Logger) ServiceOption {
	return func(t *ServiceTargets) {
		if l != nil {
			t.log = l
		}
	}
}

// WithSyncTimeout bounds the wait for the first list (default
// DefaultSyncTimeout).
func WithSyncTimeout(d time.Duration) ServiceOption {
	return func(t *ServiceTargets) {
		if d > 0 {
			t.syncTimeout = d
		}
	}
}

// NewServiceTargets starts watching the EndpointSlices of service in
// namespace and returns once the first list is in. The watch runs until ctx
// is done or Close is called. It needs list and watch on
// discovery.k8s.io/endpointslices in the namespace.
func NewServiceTargets(ctx context.Context, client kubernetes.Interface, namespace, service string, opts ...ServiceOption) (*ServiceTargets, error) {
	if client == nil {
		return nil, errors.New("traffic: service targets: nil Kubernetes client")
	}
	if namespace == "" || service == "" {
		return nil, fmt.Errorf("traffic: service targets: namespace and service are required, got %q/%q", namespace, service)
	}
	t := &ServiceTargets{
		namespace:   namespace,
		service:     service,
		log:         slog.New(slog.DiscardHandler),
		syncTimeout: DefaultSyncTimeout,
		stop:        make(chan struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	if t.portNumber < 0 || t.portNumber > 65535 {
		return nil, fmt.Errorf("traffic: service targets: port %d out of range", t.portNumber)
	}
	t.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + service
		}))
	t.informer = t.factory.Discovery().V1().EndpointSlices().Informer()
	onChange := func(any) { t.update() }
	if _, err := t.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onChange,
		UpdateFunc: func(_, obj any) { t.update() },
		DeleteFunc: onChange,
	}); err != nil {
		return nil, fmt.Errorf("traffic: service targets %s/%s: %w", namespace, service, err)
	}
	go func() {
		select {
		case <-ctx.Done():
			t.Close()
		case <-t.stop:
		}
	}()
	t.factory.Start(t.stop)

	syncCtx, cancel := context.WithTimeout(ctx, t.syncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), t.informer.HasSynced) {
		t.Close()
		err := syncCtx.Err()
		if err == nil {
			err = ErrTargetsClosed
		}
		return nil, fmt.Errorf("traffic: service targets %s/%s: waiting for EndpointSlices: %w", namespace, service, err)
	}
	t.update()
	return t, nil
}

// Endpoints returns the ready endpoints as host:port, sorted.
func (t *ServiceTargets) Endpoints(context.Context) ([]string, error) {
	select {
	case <-t.stop:
		return nil, ErrTargetsClosed
	default:
	}
	if p := t.current.Load(); p != nil {
		return *p, nil
	}
	return nil, nil
}

// Close stops the watch and waits for it to end. It is safe to call more
// than once.
func (t *ServiceTargets) Close() {
	t.stopOnce.Do(func() {
		close(t.stop)
		t.factory.Shutdown()
	})
}

// update recomputes the endpoint list from the informer's store.
func (t *ServiceTargets) update() {
	t.refresh.Lock()
	defer t.refresh.Unlock()
	var list []*discoveryv1.EndpointSlice
	for _, obj := range t.informer.GetStore().List() {
		// The label selector already filters; checking again keeps stray
		// objects (fake clients do not filter watches) out.
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Labels[discoveryv1.LabelServiceName] == t.service {
			list = append(list, s)
		}
	}
	eps := t.readyEndpoints(list)
	if old := t.current.Load(); old == nil || !slices.Equal(*old, eps) {
		t.log.Debug("service endpoints changed", "namespace", t.namespace, "service", t.service, "ready", len(eps), "endpoints", eps)
	}
	t.current.Store(&eps)
}

// readyEndpoints lists host:port of every ready endpoint, deduplicated and
// sorted.
func (t *ServiceTargets) readyEndpoints(list []*discoveryv1.EndpointSlice) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range list {
		port, ok := t.pickPort(s.Ports)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			hp := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			if !seen[hp] {
				seen[hp] = true
				out = append(out, hp)
			}
		}
	}
	slices.Sort(out)
	return out
}

// pickPort selects the port by name or number, or the first port.
func (t *ServiceTargets) pickPort(ports []discoveryv1.EndpointPort) (int32, bool) {
	for _, p := range ports {
		if p.Port == nil {
			continue
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		switch {
		case t.portName != "" && name != t.portName:
		case t.portNumber != 0 && *p.Port != t.portNumber:
		default:
			return *p.Port, true
		}
	}
	return 0, false
}
