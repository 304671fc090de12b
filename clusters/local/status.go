package local

import (
	"context"
	"fmt"
	"os"
	"time"
)

// ComponentStatus is the health of one part of the cluster.
type ComponentStatus struct {
	// Name is the component ("etcd", "kube-apiserver", ..., "node",
	// "network").
	Name string
	// PID is the component's process, 0 when not running or not a process.
	PID int
	// Healthy is true when the process runs and its health check passes.
	Healthy bool
	// Detail explains an unhealthy status.
	Detail string
}

// Status is the health of the whole cluster.
type Status struct {
	// Exists is false when there is no work folder: no cluster at all.
	Exists     bool
	Components []ComponentStatus
}

// Healthy reports whether the cluster exists and every component is healthy.
func (s Status) Healthy() bool {
	if !s.Exists || len(s.Components) == 0 {
		return false
	}
	for _, c := range s.Components {
		if !c.Healthy {
			return false
		}
	}
	return true
}

// Status checks every component's process and health endpoint, the node's
// Ready condition and the network safety net. It changes nothing.
func (cl *Cluster) Status(ctx context.Context) (Status, error) {
	st := Status{}
	if _, err := os.Stat(cl.p.work); err != nil {
		return st, nil
	}
	st.Exists = true
	refs := cl.pidFiles()
	comps := map[string]component{
		compEtcd:              cl.etcdComponent(),
		compContainerd:        cl.containerdComponent(),
		compAPIServer:         cl.apiServerComponent(),
		compControllerManager: cl.controllerManagerComponent(),
		compScheduler:         cl.schedulerComponent(),
		compKubelet:           cl.kubeletComponent(),
		compKubeProxy:         cl.kubeProxyComponent(),
	}
	apiOK := false
	for _, name := range componentOrder {
		cs := ComponentStatus{Name: name}
		r, ok := refs[name]
		switch {
		case !ok:
			cs.Detail = "not started"
		case !r.Alive():
			cs.Detail = fmt.Sprintf("process %d is not running", r.PID)
		default:
			cs.PID = r.PID
			hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := comps[name].health(hctx)
			cancel()
			if err != nil {
				cs.Detail = err.Error()
			} else {
				cs.Healthy = true
				cs.Detail = "ok"
			}
		}
		if name == compAPIServer {
			apiOK = cs.Healthy
		}
		st.Components = append(st.Components, cs)
	}
	node := ComponentStatus{Name: "node", Detail: "API server not healthy"}
	if apiOK {
		if c, err := cl.clientset(); err != nil {
			node.Detail = err.Error()
		} else {
			hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			node.Healthy, node.Detail = nodeReady(hctx, c, cl.cfg.name)
			cancel()
		}
	}
	st.Components = append(st.Components, node)
	netStatus := ComponentStatus{Name: "network", Healthy: true, Detail: "bridge, service CIDR route onto the bridge and FORWARD guard in place"}
	if err := cl.networkInPlace(ctx); err != nil {
		netStatus.Healthy, netStatus.Detail = false, err.Error()
	}
	st.Components = append(st.Components, netStatus)
	return st, nil
}
