package traffic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// ClusterIPTargets is the one address a client of a Service uses: its
// ClusterIP and Service port. Requests sent there take the Service's data
// path (kube-proxy's rules, so endpoint propagation and its choice of pod
// are included), and nothing on the client side tells which pod answered:
// the per-endpoint records (Stats.Endpoint) hold the ClusterIP only.
type ClusterIPTargets struct {
	endpoint []string
}

// NewClusterIPTargets reads the Service service in namespace and returns
// its ClusterIP and the Service port to send to: the port named by
// WithPortName, the one whose target is the pod port given by
// WithPortNumber (a numeric targetPort, or a named one as the Service's
// EndpointSlices resolve it), or else the first. A headless or
// ExternalName Service has no ClusterIP and is an error. It needs get on
// the Service (and list on its EndpointSlices for a named targetPort).
func NewClusterIPTargets(ctx context.Context, client kubernetes.Interface, namespace, service string, opts ...ServiceOption) (*ClusterIPTargets, error) {
	if client == nil {
		return nil, errors.New("traffic: cluster IP targets: nil Kubernetes client")
	}
	sel := &ServiceTargets{}
	for _, o := range opts {
		o(sel)
	}
	svc, err := client.CoreV1().Services(namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("traffic: service %s/%s: %w", namespace, service, err)
	}
	ip := svc.Spec.ClusterIP
	if svc.Spec.Type == corev1.ServiceTypeExternalName || ip == "" || ip == corev1.ClusterIPNone {
		return nil, fmt.Errorf("traffic: service %s/%s has no ClusterIP (headless or ExternalName): send to its endpoints instead", namespace, service)
	}
	port, err := servicePort(ctx, client, svc, sel.portName, sel.portNumber)
	if err != nil {
		return nil, err
	}
	return &ClusterIPTargets{endpoint: []string{net.JoinHostPort(ip, strconv.Itoa(int(port)))}}, nil
}

// Endpoints returns the ClusterIP:port.
func (t *ClusterIPTargets) Endpoints(context.Context) ([]string, error) { return t.endpoint, nil }

// Address returns the ClusterIP:port the requests go to.
func (t *ClusterIPTargets) Address() string { return t.endpoint[0] }

// servicePort picks the Service port for a port name or a pod port number
// (0 and "": the first).
func servicePort(ctx context.Context, client kubernetes.Interface, svc *corev1.Service, name string, podPort int32) (int32, error) {
	ports := svc.Spec.Ports
	if len(ports) == 0 {
		return 0, fmt.Errorf("traffic: service %s/%s has no ports", svc.Namespace, svc.Name)
	}
	switch {
	case name != "":
		for _, p := range ports {
			if p.Name == name {
				return p.Port, nil
			}
		}
		return 0, fmt.Errorf("traffic: service %s/%s has no port named %q", svc.Namespace, svc.Name, name)
	case podPort == 0:
		return ports[0].Port, nil
	}
	// A numeric targetPort (unset means the same as port).
	for _, p := range ports {
		target := p.Port
		switch {
		case p.TargetPort.Type == intstr.String:
			continue // named: resolved below
		case p.TargetPort.IntVal != 0:
			target = p.TargetPort.IntVal
		}
		if target == podPort {
			return p.Port, nil
		}
	}
	// A named targetPort: the EndpointSlices list the resolved number under
	// the Service port's name.
	slices, err := client.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
	if err != nil {
		return 0, fmt.Errorf("traffic: endpointslices of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	for _, s := range slices.Items {
		for _, ep := range s.Ports {
			if ep.Port == nil || *ep.Port != podPort || ep.Name == nil {
				continue
			}
			for _, p := range ports {
				if p.Name == *ep.Name {
					return p.Port, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("traffic: service %s/%s has no port that targets pod port %d", svc.Namespace, svc.Name, podPort)
}
