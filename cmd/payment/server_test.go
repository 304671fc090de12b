package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// memStore is an in-memory Store with the ledger's semantics.
type memStore struct {
	mu       sync.Mutex
	balances map[int]int64
	total    int64
	pingErr  error
}

func newMemStore(accounts int) *memStore {
	m := &memStore{balances: map[int]int64{}}
	for i := range accounts {
		m.balances[i] = InitialBalance
		m.total += InitialBalance
	}
	return m
}

func (m *memStore) Transfer(_ context.Context, from, to int, amount int64, skipCredit bool) (TransferResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range []int{from, to} {
		if _, ok := m.balances[id]; !ok {
			return TransferResult{}, fmt.Errorf("transfer: account %d: %w", id, ErrUnknownAccount)
		}
	}
	if m.balances[from] < amount {
		return TransferResult{}, fmt.Errorf("transfer: %w", ErrInsufficientFunds)
	}
	m.balances[from] -= amount
	if !skipCredit {
		m.balances[to] += amount
	}
	return TransferResult{ID: 1, From: from, To: to, Amount: amount, FromBalance: m.balances[from], ToBalance: m.balances[to]}, nil
}

func (m *memStore) Balance(_ context.Context, id int) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.balances[id]
	if !ok {
		return 0, fmt.Errorf("balance: account %d: %w", id, ErrUnknownAccount)
	}
	return b, nil
}

func (m *memStore) sum() int64 {
	var s int64
	for _, b := range m.balances {
		s += b
	}
	return s
}

func (m *memStore) Summary(context.Context) (Summary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sum()
	return Summary{Count: int64(len(m.balances)), Total: s, ExpectedTotal: m.total, Consistent: s == m.total}, nil
}

func (m *memStore) Mismatch(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.sum() - m.total
	if d < 0 {
		d = -d
	}
	return d, nil
}

func (m *memStore) Ping(context.Context) error { return m.pingErr }

// testServer returns a Server over a fresh memStore and an httptest server.
func testServer(t *testing.T, cfg Config, opts ...Option) (*Server, *memStore, *httptest.Server) {
	t.Helper()
	if cfg.Behaviour == "" {
		cfg.Behaviour = BehaviourGood
	}
	store := newMemStore(100)
	s, err := NewServer(cfg, store, opts...)
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, store, ts
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestNewServerRejectsBadInput(t *testing.T) {
	_, err := NewServer(Config{Behaviour: BehaviourGood}, nil)
	require.ErrorContains(t, err, "store is nil")
	_, err = NewServer(Config{Behaviour: "weird"}, newMemStore(1))
	require.ErrorContains(t, err, "unknown behaviour")
}

func TestTransferStatusCodes(t *testing.T) {
	_, store, ts := testServer(t, Config{})
	code, body := post(t, ts.URL+"/transfers", `{"from": 1, "to": 2, "amount": 5}`)
	require.Equal(t, http.StatusCreated, code, body)
	var res TransferResult
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	require.Equal(t, int64(995), res.FromBalance)
	require.Equal(t, int64(1005), res.ToBalance)

	for body, want := range map[string]int{
		`{"from": 1, "to": 2, "amount": 5000}`:      http.StatusConflict,
		`{"from": 1, "to": 999, "amount": 5}`:       http.StatusNotFound,
		`{"from": 1, "to": 2}`:                      http.StatusBadRequest,
		`{"from": 1, "to": 2, "amount": 0}`:         http.StatusBadRequest,
		`{"from": 1, "to": 2, "amount": -3}`:        http.StatusBadRequest,
		`{"from": 1, "to": 2, "amount": 1, "x": 1}`: http.StatusBadRequest,
		`not json`: http.StatusBadRequest,
	} {
		code, got := post(t, ts.URL+"/transfers", body)
		require.Equal(t, want, code, "%s → %s", body, got)
		require.Contains(t, got, `"error"`)
	}
	code, body = get(t, ts.URL+"/balances/2")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"id": 2, "balance": 1005}`, body)
	code, _ = get(t, ts.URL+"/balances/abc")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = get(t, ts.URL+"/balances/100")
	require.Equal(t, http.StatusNotFound, code)
	code, body = get(t, ts.URL+"/accounts")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"count": 100, "total": 100000, "expected_total": 100000, "consistent": true}`, body)
	m, _ := store.Mismatch(context.Background())
	require.Zero(t, m)
}

func TestMetricsLabelRoutePatternsNotRawPaths(t *testing.T) {
	s, _, ts := testServer(t, Config{Version: "v1"})
	for i := range 5 {
		get(t, fmt.Sprintf("%s/balances/%d", ts.URL, i))
	}
	get(t, ts.URL+"/balances/999") // 404 from the handler
	get(t, ts.URL+"/wp-login.php")
	get(t, ts.URL+"/random/path/42")
	post(t, ts.URL+"/accounts", "{}") // wrong method
	get(t, ts.URL+"/healthz")
	get(t, ts.URL+"/readyz")

	reqs := s.Metrics().requests
	require.Equal(t, 5.0, testutil.ToFloat64(reqs.WithLabelValues("200", "get", "/balances/{id}")))
	require.Equal(t, 1.0, testutil.ToFloat64(reqs.WithLabelValues("404", "get", "/balances/{id}")))
	require.Equal(t, 2.0, testutil.ToFloat64(reqs.WithLabelValues("404", "get", "unmatched")))
	require.Equal(t, 1.0, testutil.ToFloat64(reqs.WithLabelValues("405", "post", "unmatched")))
	// 3 API routes × codes 200/500/503 start at zero, plus the other
	// (code, method, route) triples seen: 404 on /balances/{id}, 404 and
	// 405 unmatched; no probe series.
	require.Equal(t, 9+3, testutil.CollectAndCount(reqs), "one series per (code, method, route), no probe series")
	require.Equal(t, 3, testutil.CollectAndCount(s.Metrics().duration), "histogram series per (method, route)")

	code, body := get(t, ts.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `payment_build_info{behaviour="good",version="v1"} 1`)
	require.Contains(t, body, `http_request_duration_seconds_bucket{method="get",path="/balances/{id}",le="0.5"}`)
	require.Contains(t, body, `http_request_duration_seconds_bucket{method="get",path="/balances/{id}",le="1"}`)
	require.Contains(t, body, "go_goroutines")
	require.Contains(t, body, "process_cpu_seconds_total")
	require.Contains(t, body, "ledger_balance_mismatch 0")
	require.Contains(t, body, `http_requests_total{code="500",method="get",path="/balances/{id}"} 0`, "error series start at zero")
	require.Contains(t, body, `http_requests_total{code="503",method="post",path="/transfers"} 0`)
}

func TestBuggyAnswers500OnTheSeededShare(t *testing.T) {
	const n, rate, seed = 1000, 0.2, 99
	s, _, ts := testServer(t, Config{Behaviour: BehaviourBuggy, FaultRate: rate},
		WithRand(rand.New(rand.NewPCG(seed, seed))))
	fails := 0
	for i := range n {
		code, _ := get(t, fmt.Sprintf("%s/balances/%d", ts.URL, i%100))
		if code == http.StatusInternalServerError {
			fails++
		} else {
			require.Equal(t, http.StatusOK, code)
		}
	}
	require.Equal(t, count(hits(rate, seed, n)), fails, "exactly the seeded sampler's decisions")
	require.InDelta(t, n*rate, fails, 40)
	require.Equal(t, float64(fails), testutil.ToFloat64(s.Metrics().requests.WithLabelValues("500", "get", "/balances/{id}")))
	code, _ := get(t, ts.URL+"/healthz")
	require.Equal(t, http.StatusOK, code, "probes are never failed by the behaviour")
	code, _ = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)
}

func TestCorruptDebitsWithoutCrediting(t *testing.T) {
	const seed = 5
	s, store, ts := testServer(t, Config{Behaviour: BehaviourCorrupt, FaultRate: 0.5},
		WithRand(rand.New(rand.NewPCG(seed, seed))))
	for i := range 40 {
		code, body := post(t, ts.URL+"/transfers", fmt.Sprintf(`{"from": %d, "to": %d, "amount": 1}`, i, i+1))
		require.Equal(t, http.StatusCreated, code, body)
	}
	want := int64(count(hits(0.5, seed, 40)))
	require.Positive(t, want)
	m, _ := store.Mismatch(context.Background())
	require.Equal(t, want, m)
	s.RefreshMismatch(context.Background())
	require.Equal(t, float64(want), testutil.ToFloat64(s.Metrics().mismatch))
	_, body := get(t, ts.URL+"/accounts")
	require.Contains(t, body, `"consistent":false`)
}

func TestSlowAddsTheDelay(t *testing.T) {
	_, _, ts := testServer(t, Config{Behaviour: BehaviourSlow, SlowDelay: 150 * time.Millisecond})
	start := time.Now()
	code, _ := get(t, ts.URL+"/balances/1")
	require.Equal(t, http.StatusOK, code)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	start = time.Now()
	code, _ = get(t, ts.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Less(t, time.Since(start), 150*time.Millisecond, "probes are not slowed")
}

func TestBadLedgerModeFailsRequestsButStaysReady(t *testing.T) {
	_, _, ts := testServer(t, Config{LedgerMode: "broken"})
	for _, path := range []string{"/balances/1", "/accounts"} {
		code, body := get(t, ts.URL+path)
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Contains(t, body, "bad config")
	}
	code, body := post(t, ts.URL+"/transfers", `{"from": 1, "to": 2, "amount": 1}`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `LEDGER_MODE=\"broken\"`)
	code, _ = get(t, ts.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusOK, code, "the pod stays Ready: the bad push shows up as errors")
}

func TestReadiness(t *testing.T) {
	s, store, ts := testServer(t, Config{})
	code, _ := get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)
	store.pingErr = errors.New("connection refused")
	code, body := get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "database not reachable")
	store.pingErr = nil
	s.SetStarting(true)
	code, body = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "migrations")
	s.SetStarting(false)
	code, _ = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)
	s.SetDraining()
	code, body = get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "shutting down")
	code, _ = get(t, ts.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
}

func TestCrashIsNeverReadyAndExits(t *testing.T) {
	exited := make(chan int, 1)
	s, _, ts := testServer(t, Config{Behaviour: BehaviourCrash, CrashAfter: 50 * time.Millisecond},
		WithExit(func(code int) { exited <- code }))
	code, body := get(t, ts.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "crash")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	select {
	case c := <-exited:
		require.Equal(t, 1, c)
	case <-time.After(10 * time.Second):
		t.Fatal("crash behaviour did not exit within 10s")
	}
}

func TestRunRefreshesMismatchAndStops(t *testing.T) {
	s, store, _ := testServer(t, Config{}, WithMismatchInterval(10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	store.mu.Lock()
	store.balances[3] -= 7
	store.mu.Unlock()
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.Metrics().mismatch) == 7 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
