package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection configures the coordination.k8s.io Lease that makes
// replicas of the guard take turns: only the holder acts.
type LeaderElection struct {
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Identity of this replica (default: the host name).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// (defaults 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Leader election defaults, as in Kubernetes controllers.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// RunElected runs lead while this replica holds the Lease, campaigning
// again when it loses it, until ctx ends; the Lease is released on the way
// out so that another replica takes over at once. It returns when ctx
// ends, after lead has returned.
func RunElected(ctx context.Context, client kubernetes.Interface, le LeaderElection, lead func(context.Context)) error {
	if le.LeaseDuration == 0 {
		le.LeaseDuration = DefaultLeaseDuration
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = DefaultRenewDeadline
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = DefaultRetryPeriod
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	log := logger(ctx)
	var mu sync.Mutex
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("engine became leader", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
				// Never lead twice at once: a new term waits for the
				// previous term's loop, which stops with its context.
				mu.Lock()
				defer mu.Unlock()
				if ctx.Err() == nil {
					lead(ctx)
				}
			},
			OnStoppedLeading: func() {
				log.Info("engine stopped leading", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	for ctx.Err() == nil {
		elector.Run(ctx)
	}
	// Wait for the last term's loop to finish.
	mu.Lock()
	defer mu.Unlock()
	return nil
}
