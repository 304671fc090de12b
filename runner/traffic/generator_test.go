package traffic

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestTrafficExactCountForRateAndDuration(t *testing.T) {
	srv := newServer(t, nil)
	begin := time.Now()
	g := run(t, StaticTargets{srv.addr()}, spec(30, 1500*time.Millisecond, time.Second, "/ok"))
	// 30/s for 1.5 s schedules exactly 45 requests (ticks 0..44), however
	// late the scheduler runs; the run cannot end before the last tick.
	require.GreaterOrEqual(t, time.Since(begin), 1400*time.Millisecond)
	require.Equal(t, 45, srv.count())
	total := g.Stats().Total()
	require.Equal(t, int64(45), total.Requests)
	require.Zero(t, total.Errors)
	require.Zero(t, total.Pending)
	require.InDelta(t, 30.0, total.Rate, 1e-9)

	samples := g.Stats().Samples()
	require.Len(t, samples, 2, "a whole second and a half one")
	require.InDelta(t, 30.0, samples[0].Throughput, 1e-9)
	require.InDelta(t, 30.0, samples[1].Throughput, 1e-9, "15 requests in the half second")
	require.Equal(t, g.Stats().Start(), samples[0].Time)
	require.Equal(t, int64(30), g.Stats().Second(0).Requests)
	require.Equal(t, int64(15), g.Stats().Second(1).Requests)
}

func TestTrafficStopsWhenContextIsDone(t *testing.T) {
	srv := newServer(t, nil)
	g, err := New(StaticTargets{srv.addr()}, spec(50, 0, time.Second, "/"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	require.Eventually(t, func() bool { return srv.count() >= 10 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	total := g.Stats().Total()
	require.Equal(t, int64(srv.count()), total.Requests)
	require.Zero(t, total.Pending)
	require.Equal(t, len(g.Stats().Samples()), g.Stats().Settled())
	require.Error(t, g.Run(context.Background()), "a generator runs once")
}

func TestTrafficSpreadsRoundRobin(t *testing.T) {
	a, b, c := newServer(t, nil), newServer(t, nil), newServer(t, nil)
	targets, err := NewStaticTargets(a.addr(), b.addr(), c.addr())
	require.NoError(t, err)
	run(t, targets, spec(30, time.Second, time.Second, "/"))
	require.Equal(t, []int{10, 10, 10}, []int{a.count(), b.count(), c.count()})
}

func TestTrafficWeightsAreSeededAndReproducible(t *testing.T) {
	sp := drills.Traffic{Rate: 10, Requests: []drills.RequestTemplate{
		{Path: "/a", Weight: 1}, {Path: "/b", Weight: 3}, {Path: "/c", Weight: 6},
	}}
	picks := func(seed uint64, n int) []int {
		g, err := New(StaticTargets{}, sp, WithSeed(seed))
		require.NoError(t, err)
		out := make([]int, n)
		for i := range out {
			out[i] = g.pick().index
		}
		return out
	}
	counts := make([]int, 3)
	for _, i := range picks(42, 10000) {
		counts[i]++
	}
	// Binomial standard deviations are 30, 46 and 49: allow about 4 of them.
	require.InDelta(t, 1000, counts[0], 150)
	require.InDelta(t, 3000, counts[1], 200)
	require.InDelta(t, 6000, counts[2], 200)
	require.Equal(t, picks(7, 200), picks(7, 200))
	require.NotEqual(t, picks(7, 200), picks(8, 200))
}

// TestTrafficSameSeedSameRequests runs twice against a server and checks
// that the same seed sends the same paths in the same order.
func TestTrafficSameSeedSameRequests(t *testing.T) {
	srv := newServer(t, nil)
	sp := drills.Traffic{Rate: 40, Duration: drills.D(500 * time.Millisecond), Requests: []drills.RequestTemplate{
		{Path: "/a/{{Rand 1000}}", Weight: 1}, {Path: "/b/{{.Seq}}", Weight: 2},
	}}
	sequence := func() []string {
		var rs results
		run(t, StaticTargets{srv.addr()}, sp, WithSeed(99), WithObserver(rs.observe))
		out := make([]string, 20)
		for _, r := range rs.all() {
			out[r.Seq] = r.Path
		}
		return out
	}
	first := sequence()
	require.Equal(t, first, sequence())
	require.Equal(t, 40, srv.count())
	for i, p := range first {
		require.NotEmpty(t, p, "request %d", i)
		require.GreaterOrEqual(t, srv.paths()[p], 2, "sent in both runs: %s", p)
	}
}

func TestTrafficClassifiesOutcomes(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/err":
			w.WriteHeader(http.StatusInternalServerError)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/slow":
			blockUntilDone(w, r)
		}
	})
	for _, clientErrors := range []bool{false, true} {
		t.Run(fmt.Sprintf("4xx-errors=%v", clientErrors), func(t *testing.T) {
			var rs results
			g := run(t, StaticTargets{srv.addr()}, spec(40, time.Second, 300*time.Millisecond, "/ok", "/err", "/missing", "/slow"),
				WithObserver(rs.observe), WithClientErrorsAsErrors(clientErrors))
			want := map[string]Kind{"/ok": "", "/err": KindServer, "/missing": KindClient, "/slow": KindTimeout}
			byPath := map[string]int64{}
			for _, r := range rs.all() {
				require.Equal(t, want[r.Path], r.Kind, r.Path)
				byPath[r.Path]++
				switch r.Path {
				case "/slow":
					require.GreaterOrEqual(t, r.Latency, 300*time.Millisecond)
					require.True(t, r.Error)
				case "/missing":
					require.Equal(t, http.StatusNotFound, r.Status)
					require.Equal(t, clientErrors, r.Error)
				}
			}
			for p := range want {
				require.Positive(t, byPath[p], "path %s was never chosen", p)
			}
			total := g.Stats().Total()
			require.Equal(t, int64(40), total.Requests)
			require.Equal(t, byPath["/missing"], total.ClientErrors)
			wantErrors := byPath["/err"] + byPath["/slow"]
			if clientErrors {
				wantErrors += byPath["/missing"]
			}
			require.Equal(t, wantErrors, total.Errors)
			require.Equal(t, map[Kind]int64{KindServer: byPath["/err"], KindClient: byPath["/missing"], KindTimeout: byPath["/slow"]}, total.ByKind)
			require.InDelta(t, float64(wantErrors)/40, total.ErrorRate, 1e-9)
		})
	}
}

func TestTrafficTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	g := run(t, StaticTargets{addr}, spec(20, 500*time.Millisecond, time.Second, "/"))
	total := g.Stats().Total()
	require.Equal(t, int64(10), total.Requests)
	require.Equal(t, map[Kind]int64{KindTransport: 10}, total.ByKind)
	require.InDelta(t, 1.0, total.ErrorRate, 1e-9)
}

func TestTrafficNoEndpoints(t *testing.T) {
	var rs results
	g := run(t, StaticTargets{}, spec(20, 500*time.Millisecond, time.Second, "/"), WithObserver(rs.observe))
	total := g.Stats().Total()
	require.Equal(t, int64(10), total.Requests)
	require.Equal(t, map[Kind]int64{KindNoEndpoints: 10}, total.ByKind)
	require.InDelta(t, 1.0, total.ErrorRate, 1e-9)
	require.Zero(t, total.P99, "requests never sent have no latency")
	for _, r := range rs.all() {
		require.Empty(t, r.Endpoint)
		require.True(t, r.Error)
	}
}

// TestTrafficOverloadIsCountedNotDelayed fills a pool of two with requests
// that hang: the next requests must fail as overload at once, not wait.
func TestTrafficOverloadIsCountedNotDelayed(t *testing.T) {
	srv := newServer(t, blockUntilDone)
	var rs results
	g := run(t, StaticTargets{srv.addr()}, spec(20, 500*time.Millisecond, 500*time.Millisecond, "/"),
		WithMaxInFlight(2), WithObserver(rs.observe))
	total := g.Stats().Total()
	require.Equal(t, int64(10), total.Requests)
	require.GreaterOrEqual(t, total.ByKind[KindOverload], int64(6))
	require.Equal(t, int64(10), total.ByKind[KindOverload]+total.ByKind[KindTimeout])
	for _, r := range rs.all() {
		if r.Kind == KindOverload {
			require.Zero(t, r.Latency)
			require.Empty(t, r.Endpoint)
		}
	}
}

// TestTrafficNoCoordinatedOmission stalls the server for one second, once.
// Every request scheduled during the stall must carry it in its latency
// (measured from its intended send time), so several requests show
// ≥ 0.5 s, not only the one that hit the stall first.
func TestTrafficNoCoordinatedOmission(t *testing.T) {
	var (
		n          atomic.Int64
		mu         sync.Mutex
		stallUntil time.Time
	)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 10 {
			mu.Lock()
			stallUntil = time.Now().Add(time.Second)
			mu.Unlock()
		}
		mu.Lock()
		wait := time.Until(stallUntil)
		mu.Unlock()
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
			}
		}
	})
	var rs results
	g := run(t, StaticTargets{srv.addr()}, spec(50, 2*time.Second, 5*time.Second, "/"), WithObserver(rs.observe))
	slow := 0
	for _, r := range rs.all() {
		require.Empty(t, r.Kind, "request %d: %v", r.Seq, r.Err)
		if r.Latency >= 500*time.Millisecond {
			slow++
		}
	}
	// About 25 of the 50 requests scheduled during the stall wait ≥ 0.5 s.
	require.GreaterOrEqual(t, slow, 10, "the stall must show in every request scheduled during it")
	total := g.Stats().Total()
	require.Equal(t, int64(100), total.Requests)
	require.GreaterOrEqual(t, total.Max, 900*time.Millisecond)
	require.GreaterOrEqual(t, total.P99, 900*time.Millisecond)
}

func TestNewValidates(t *testing.T) {
	ok := spec(10, time.Second, time.Second, "/")
	for name, tc := range map[string]struct {
		targets Targets
		spec    func(drills.Traffic) drills.Traffic
		opts    []Option
		want    string
	}{
		"nil targets":   {nil, func(s drills.Traffic) drills.Traffic { return s }, nil, "nil targets"},
		"negative rate": {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Rate = -1; return s }, nil, "rate"},
		"huge rate":     {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Rate = 1e9; return s }, nil, "rate"},
		"no requests":   {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Requests = nil; return s }, nil, "request template"},
		"neg weight":    {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Requests[0].Weight = -2; return s }, nil, "weight"},
		"bad path":      {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Requests[0].Path = "x"; return s }, nil, "path"},
		"neg in-flight": {StaticTargets{}, func(s drills.Traffic) drills.Traffic { return s }, []Option{WithMaxInFlight(-1)}, "in-flight"},
		"neg timeout":   {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Timeout = drills.D(-time.Second); return s }, nil, "timeout"},
		"neg duration":  {StaticTargets{}, func(s drills.Traffic) drills.Traffic { s.Duration = drills.D(-time.Second); return s }, nil, "duration"},
	} {
		t.Run(name, func(t *testing.T) {
			sp := ok
			sp.Requests = append([]drills.RequestTemplate(nil), ok.Requests...)
			_, err := New(tc.targets, tc.spec(sp), tc.opts...)
			require.ErrorContains(t, err, tc.want)
		})
	}
	g, err := New(StaticTargets{}, drills.Traffic{Requests: []drills.RequestTemplate{{Path: "/"}}})
	require.NoError(t, err)
	require.Equal(t, drills.DefaultTrafficRate, g.Rate())
	require.Equal(t, drills.DefaultRequestTimeout, g.timeout)
	_, err = NewStaticTargets("127.0.0.1")
	require.ErrorContains(t, err, "host:port")
}
