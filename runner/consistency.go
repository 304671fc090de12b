package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/model"

	"github.com/firedrill/firedrill/drills"
)

// consistency runs one data-consistency check: it returns whether it holds
// and what was observed.
func (run *Run) consistency(ctx context.Context, c drills.ConsistencyCheck) (bool, string, error) {
	return run.consistencyOn(ctx, c, &run.conns)
}

// consistencyOn runs one check with database connections from cs (a
// connection serves one goroutine at a time).
func (run *Run) consistencyOn(ctx context.Context, c drills.ConsistencyCheck, cs *conns) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch {
	case c.SQL != nil:
		return run.sqlCheck(ctx, c.SQL, cs)
	case c.PromQL != nil:
		return run.promCheck(ctx, c.PromQL)
	case c.HTTP != nil:
		return run.httpCheck(ctx, c.HTTP)
	}
	return false, "", fmt.Errorf("check %s has no sql, promql or http", c.Name)
}

// conns caches one database connection per DSN for the run.
type conns struct {
	mu sync.Mutex
	m  map[string]*pgx.Conn
}

func (c *conns) get(ctx context.Context, dsn string) (*pgx.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.m[dsn]; ok && !conn.IsClosed() {
		return conn, nil
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// pgx errors may quote the DSN, which carries a password.
		return nil, fmt.Errorf("connecting to the database: %s", redact(err.Error(), dsn))
	}
	if c.m == nil {
		c.m = map[string]*pgx.Conn{}
	}
	c.m[dsn] = conn
	return conn, nil
}

func (c *conns) drop(dsn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.m[dsn]; ok {
		_ = conn.Close(context.Background())
		delete(c.m, dsn)
	}
}

func (c *conns) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, conn := range c.m {
		_ = conn.Close(context.Background())
		delete(c.m, k)
	}
}

func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "<dsn>")
}

func (run *Run) sqlCheck(ctx context.Context, c *drills.SQLCheck, cs *conns) (bool, string, error) {
	dsn, err := drills.ExpandEnv(c.DSN, os.LookupEnv)
	if err != nil {
		return false, "", err
	}
	conn, err := cs.get(ctx, dsn)
	if err != nil {
		return false, "", err
	}
	var v any
	if err := conn.QueryRow(ctx, c.Query).Scan(&v); err != nil {
		cs.drop(dsn)
		return false, "", fmt.Errorf("query: %s", redact(err.Error(), dsn))
	}
	got := fmt.Sprint(v)
	if v == nil {
		got = "NULL"
	}
	if got == c.Expect {
		return true, got, nil
	}
	return false, fmt.Sprintf("got %s, want %s", got, c.Expect), nil
}

func (run *Run) promCheck(ctx context.Context, c *drills.PromQLCheck) (bool, string, error) {
	if run.prom == nil {
		return false, "", fmt.Errorf("no Prometheus (spec.prometheus.url) for the PromQL check")
	}
	v, _, _, err := run.prom.Query(ctx, c.Expr, run.r.now())
	if err != nil {
		return false, "", fmt.Errorf("query: %w", err)
	}
	var vals []float64
	switch x := v.(type) {
	case model.Vector:
		for _, s := range x {
			vals = append(vals, float64(s.Value))
		}
	case *model.Scalar:
		vals = append(vals, float64(x.Value))
	}
	if len(vals) == 0 {
		return false, "no data", nil
	}
	op := c.Op
	if op == "" {
		op = drills.OpEQ
	}
	for _, x := range vals {
		if !op.Compare(x, c.Threshold) {
			return false, fmt.Sprintf("%s = %g, want %s %g", c.Expr, x, op, c.Threshold), nil
		}
	}
	return true, fmt.Sprintf("%g", vals[0]), nil
}

// httpCheck asks every ready endpoint of the target's Service.
func (run *Run) httpCheck(ctx context.Context, c *drills.HTTPCheck) (bool, string, error) {
	if run.targets == nil {
		return false, "", fmt.Errorf("no Service endpoints for the HTTP check")
	}
	eps, err := run.targets.Endpoints(ctx)
	if err != nil {
		return false, "", err
	}
	if len(eps) == 0 {
		return false, "no ready endpoint", nil
	}
	want := c.ExpectStatus
	if want == 0 {
		want = drills.DefaultHTTPExpectedStatus
	}
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	for _, ep := range eps {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+ep+c.Path, nil)
		if err != nil {
			return false, "", err
		}
		resp, err := run.httpc.Do(req)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", ep, err), nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			return false, fmt.Sprintf("%s: status %d, want %d", ep, resp.StatusCode, want), nil
		}
		if c.ExpectBody != "" && !strings.Contains(string(body), c.ExpectBody) {
			return false, fmt.Sprintf("%s: body does not contain %q", ep, c.ExpectBody), nil
		}
	}
	return true, strconv.Itoa(len(eps)) + " endpoints answered " + strconv.Itoa(want), nil
}
