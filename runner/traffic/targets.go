package traffic

import (
	"context"
	"fmt"
	"net"
	"slices"
)

// Targets yields the endpoints that traffic goes to.
type Targets interface {
	// Endpoints returns the current ready endpoints as host:port. The
	// generator calls it for every request, so it must be cheap; callers
	// must not modify the returned slice.
	Endpoints(ctx context.Context) ([]string, error)
}

// StaticTargets is a fixed list of endpoints, for tests and ad-hoc runs.
type StaticTargets []string

// NewStaticTargets checks that every endpoint is a host:port and returns
// them as Targets.
func NewStaticTargets(endpoints ...string) (StaticTargets, error) {
	for _, e := range endpoints {
		host, port, err := net.SplitHostPort(e)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("traffic: target %q: want host:port", e)
		}
	}
	return StaticTargets(slices.Clone(endpoints)), nil
}

// Endpoints returns the list.
func (s StaticTargets) Endpoints(context.Context) ([]string, error) { return s, nil }
