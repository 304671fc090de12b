package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/clusters/local/postgres/pgtest"
)

// invariantSQL is the drills' ledger invariant (drills/examples).
const invariantSQL = `SELECT (SELECT COALESCE(SUM(balance), 0) FROM accounts) = (SELECT total FROM ledger_total)`

// invariant runs the drills' invariant query.
func invariant(t *testing.T, ctx context.Context, pool *pgxpool.Pool) bool {
	t.Helper()
	var ok bool
	require.NoError(t, pool.QueryRow(ctx, invariantSQL).Scan(&ok))
	return ok
}

// newLedgerServer builds the service's real handler over pool, with its
// background loop running until the test ends.
func newLedgerServer(t *testing.T, pool *pgxpool.Pool, cfg Config, opts ...Option) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Accounts = 100
	if cfg.Version == "" {
		cfg.Version = "test"
	}
	opts = append([]Option{WithMismatchInterval(50 * time.Millisecond)}, opts...)
	s, err := NewServer(cfg, NewLedger(pool), opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	return s, ts
}

// scrapeGauge reads an unlabelled sample from the server's /metrics.
func scrapeGauge(t *testing.T, client *http.Client, url, name string) float64 {
	t.Helper()
	resp, err := client.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err)
			return f
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("%s not found in /metrics", name)
	return 0
}

func TestLedgerOnRealPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pg := pgtest.Start(t, ctx)
	pid := pg.PID()
	require.NotZero(t, pid)

	pool, err := pgxpool.New(ctx, pg.DSN())
	require.NoError(t, err)
	defer pool.Close()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// Several replicas migrate at once: the advisory lock serialises them
	// and the data is seeded exactly once.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- Migrate(ctx, pool, 100, nil) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, Migrate(ctx, pool, 100, nil), "migrations are idempotent")
	var n, total int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), (SELECT total FROM ledger_total) FROM accounts`).Scan(&n, &total))
	require.Equal(t, int64(100), n)
	require.Equal(t, int64(100*InitialBalance), total)
	require.True(t, invariant(t, ctx, pool))

	t.Run("good keeps the invariant under 200 concurrent transfers", func(t *testing.T) {
		s, ts := newLedgerServer(t, pool, Config{Behaviour: BehaviourGood})
		rng := rand.New(rand.NewPCG(1, 2))
		bodies := make([]string, 200)
		for i := range bodies {
			bodies[i] = fmt.Sprintf(`{"from": %d, "to": %d, "amount": %d}`, rng.IntN(100), rng.IntN(100), 1+rng.IntN(50))
		}
		var before int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM transfers`).Scan(&before))
		codes := make([]int, len(bodies))
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Go(func() {
				resp, err := client.Post(ts.URL+"/transfers", "application/json", strings.NewReader(b))
				if err != nil {
					codes[i] = -1
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		created := 0
		for i, c := range codes {
			require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, c, "transfer %d (%s)", i, bodies[i])
			if c == http.StatusCreated {
				created++
			}
		}
		require.Greater(t, created, 150)
		var after int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM transfers`).Scan(&after))
		require.Equal(t, int64(created), after-before, "one transfers row per committed transfer")
		require.True(t, invariant(t, ctx, pool))
		require.Zero(t, scrapeGauge(t, client, ts.URL, "ledger_balance_mismatch"))
		require.Equal(t, float64(created), testutil.ToFloat64(s.Metrics().requests.WithLabelValues("201", "post", "/transfers")))

		resp, err := client.Post(ts.URL+"/transfers", "application/json", strings.NewReader(`{"from": 1, "to": 100, "amount": 1}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, err = client.Post(ts.URL+"/transfers", "application/json", strings.NewReader(`{"from": 1, "to": 2, "amount": 1000000}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		require.True(t, invariant(t, ctx, pool), "rejected transfers change nothing")
	})

	t.Run("snapshot, corrupt, restore", func(t *testing.T) {
		var copied int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT ledger_snapshot()`).Scan(&copied))
		require.Equal(t, int64(100), copied)

		const seed, rate, transfers = 11, 0.5, 60
		_, ts := newLedgerServer(t, pool, Config{Behaviour: BehaviourCorrupt, FaultRate: rate},
			WithRand(rand.New(rand.NewPCG(seed, seed))))
		for i := range transfers { // sequential: each draw belongs to a known transfer
			resp, err := client.Post(ts.URL+"/transfers", "application/json",
				strings.NewReader(fmt.Sprintf(`{"from": %d, "to": %d, "amount": 1}`, i%100, (i+1)%100)))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusCreated, resp.StatusCode)
		}
		want := float64(count(hits(rate, seed, transfers)))
		require.Positive(t, want)
		require.False(t, invariant(t, ctx, pool), "corrupt breaks the invariant")
		require.Eventually(t, func() bool { return scrapeGauge(t, client, ts.URL, "ledger_balance_mismatch") == want },
			10*time.Second, 20*time.Millisecond, "ledger_balance_mismatch reports the missing credits")

		var restored bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT ledger_restore()`).Scan(&restored))
		require.True(t, restored, "ledger_restore() reports the invariant holds")
		require.True(t, invariant(t, ctx, pool))
		require.Eventually(t, func() bool { return scrapeGauge(t, client, ts.URL, "ledger_balance_mismatch") == 0 },
			10*time.Second, 20*time.Millisecond)
	})

	t.Run("restore under concurrent transfers neither deadlocks nor breaks the ledger", func(t *testing.T) {
		_, ts := newLedgerServer(t, pool, Config{Behaviour: BehaviourGood})
		var copied int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT ledger_snapshot()`).Scan(&copied))
		var wg sync.WaitGroup
		codes := make([]int, 100)
		for i := range codes {
			wg.Go(func() {
				body := fmt.Sprintf(`{"from": %d, "to": %d, "amount": 3}`, (i*7)%100, (i*13+1)%100)
				resp, err := client.Post(ts.URL+"/transfers", "application/json", strings.NewReader(body))
				if err != nil {
					codes[i] = -1
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			})
		}
		restoreErrs := make(chan error, 3)
		for range 3 {
			wg.Go(func() {
				var ok bool
				err := pool.QueryRow(ctx, `SELECT ledger_restore()`).Scan(&ok)
				if err == nil && !ok {
					err = errors.New("ledger_restore() returned false")
				}
				restoreErrs <- err
			})
		}
		wg.Wait()
		close(restoreErrs)
		for err := range restoreErrs {
			require.NoError(t, err)
		}
		for i, c := range codes {
			require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, c, "transfer %d", i)
		}
		require.True(t, invariant(t, ctx, pool))
	})

	t.Run("graceful shutdown drains in-flight requests", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		cfg := Config{DSN: pg.DSN(), Listen: addr, Version: "test", Behaviour: BehaviourSlow,
			SlowDelay: 500 * time.Millisecond, LedgerMode: LedgerModeNormal, Accounts: 100}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		runErr := make(chan error, 1)
		go func() { runErr <- run(runCtx, cfg, nil) }()
		base := "http://" + addr
		require.Eventually(t, func() bool {
			resp, err := client.Get(base + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 20*time.Millisecond, "service becomes ready")

		inflight := make(chan int, 1)
		go func() {
			resp, err := client.Get(base + "/balances/1")
			if err != nil {
				inflight <- -1
				return
			}
			resp.Body.Close()
			inflight <- resp.StatusCode
		}()
		// Cancel (as SIGTERM does) once the request is in the handler.
		require.Eventually(t, func() bool { return scrapeGauge(t, client, base, "http_requests_in_flight") == 1 },
			10*time.Second, 5*time.Millisecond, "the slow request is in flight")
		stop()
		select {
		case code := <-inflight:
			require.Equal(t, http.StatusOK, code, "the in-flight request completes")
		case <-time.After(20 * time.Second):
			t.Fatal("in-flight request did not complete")
		}
		select {
		case err := <-runErr:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	})

	t.Run("buggy fails 20% of 1000 requests", func(t *testing.T) {
		const seed, rate, requests = 2024, 0.2, 1000
		s, ts := newLedgerServer(t, pool, Config{Behaviour: BehaviourBuggy, FaultRate: rate},
			WithRand(rand.New(rand.NewPCG(seed, seed))))
		var mu sync.Mutex
		codes := map[int]int{}
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range jobs {
					code := -1
					if resp, err := client.Get(fmt.Sprintf("%s/balances/%d", ts.URL, i%100)); err == nil {
						resp.Body.Close()
						code = resp.StatusCode
					}
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}
			})
		}
		for i := range requests {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		require.Equal(t, requests, codes[200]+codes[500], "only 200s and 500s: %v", codes)
		share := float64(codes[500]) / requests
		require.InDelta(t, rate, share, 0.04, "500 share %.3f", share)
		require.Equal(t, count(hits(rate, seed, requests)), codes[500], "one seeded draw per request, whatever the order")
		require.Equal(t, float64(codes[500]), testutil.ToFloat64(s.Metrics().requests.WithLabelValues("500", "get", "/balances/{id}")))
	})

	t.Run("bad config fails ledger requests, stays ready", func(t *testing.T) {
		_, ts := newLedgerServer(t, pool, Config{Behaviour: BehaviourGood, LedgerMode: "broken"})
		resp, err := client.Get(ts.URL + "/balances/1")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		resp, err = client.Get(ts.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "the database answers, so the pod stays Ready")
	})

	// Stop leaves no PostgreSQL process and closes the port.
	pool.Close()
	require.NoError(t, pg.Stop(ctx))
	require.False(t, pg.Running())
	require.Eventually(t, func() bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }, 10*time.Second, 10*time.Millisecond,
		"postmaster %d is gone", pid)
	_, err = net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.Port())), time.Second)
	require.Error(t, err, "nothing listens on the port any more")
}
