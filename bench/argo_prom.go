package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"
)

// rateExpr is the Rollout's request rate.
func (m *argoRun) rateExpr() string {
	return fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,pod=~"%s-.*"}[%s]))`, ArgoNamespace, ArgoRollout, errorRatioWindow)
}

// errorRatioExpr is the Rollout's 5xx ratio, the quantity firedrill's
// HighErrorRate rule watches, limited to the Rollout's pods.
func (m *argoRun) errorRatioExpr() string {
	sel := fmt.Sprintf(`namespace=%q,pod=~"%s-.*"`, ArgoNamespace, ArgoRollout)
	return fmt.Sprintf(`(sum(rate(http_requests_total{%s,code=~"5.."}[%s])) or vector(0)) / sum(rate(http_requests_total{%s}[%s]))`,
		sel, errorRatioWindow, sel, errorRatioWindow)
}

// errNoData is a query's empty result.
var errNoData = errors.New("no data")

// query returns the first value of an instant query (errNoData if none).
func (m *argoRun) query(ctx context.Context, expr string) (float64, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _, _, err := m.prom.Query(qctx, expr, time.Time{})
	if err != nil {
		return 0, err
	}
	vec, _ := v.(model.Vector)
	if len(vec) == 0 {
		return 0, errNoData
	}
	return float64(vec[0].Value), nil
}

func (m *argoRun) waitProm(ctx context.Context, expr string, ok func(float64) bool, timeout time.Duration, what string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		v, err := m.query(ctx, expr)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprint(v)
		return ok(v), nil
	})
	if err != nil {
		return fmt.Errorf("bench: %s never met its condition (%s, last %s): %w", what, expr, last, err)
	}
	return nil
}

// otherPodsExpr is the request rate of the Rollout's pods outside the
// stable ReplicaSet.
func (m *argoRun) otherPodsExpr(stableHash string) string {
	return fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,pod=~"%s-.*",pod!~"%s-%s-.*"}[%s]))`,
		ArgoNamespace, ArgoRollout, ArgoRollout, stableHash, errorRatioWindow)
}

// waitNoOtherPods waits until Prometheus's window holds no request of a
// pod outside the stable ReplicaSet.
func (m *argoRun) waitNoOtherPods(ctx context.Context, stableHash string) error {
	expr := m.otherPodsExpr(stableHash)
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, m.cfg.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		v, err := m.query(ctx, expr)
		switch {
		case errors.Is(err, errNoData):
			return true, nil
		case err != nil:
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprint(v)
		return v == 0, nil
	})
	if err != nil {
		return fmt.Errorf("bench: requests of non-stable pods never left the window (%s, last %s): %w", expr, last, err)
	}
	return nil
}
