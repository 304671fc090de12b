package traffic

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loopbackServer serves h on its own loopback address (127.0.0.x), so that
// endpoints differ by IP as pods do.
func loopbackServer(t *testing.T, ip string, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return l.Addr().String()
}

// refusedEndpoint is an address on ip where nothing listens.
func refusedEndpoint(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestEndpointRecordsByAddress sends traffic round-robin to four loopback
// addresses that succeed, fail, time out and refuse, and checks each
// address's counts and times.
func TestEndpointRecordsByAddress(t *testing.T) {
	okEP := loopbackServer(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {})
	badEP := loopbackServer(t, "127.0.0.3", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	slowEP := loopbackServer(t, "127.0.0.4", blockUntilDone)
	deadEP := refusedEndpoint(t, "127.0.0.5")
	targets, err := NewStaticTargets(okEP, badEP, slowEP, deadEP)
	require.NoError(t, err)

	g := run(t, targets, spec(80, time.Second, 200*time.Millisecond, "/"))
	st := g.Stats()
	total := st.Total()
	require.Equal(t, int64(80), total.Requests)

	all := st.ByEndpoint(time.Time{}, time.Time{})
	require.Len(t, all, 4)
	ok, bad, slow, dead := all["127.0.0.2"], all["127.0.0.3"], all["127.0.0.4"], all["127.0.0.5"]
	for name, c := range map[string]EndpointCounts{"ok": ok, "bad": bad, "slow": slow, "dead": dead} {
		require.Equal(t, int64(20), c.Sent, name)
		require.Zero(t, c.Pending, name)
		require.Equal(t, int64(20), c.Finished(), name)
	}
	require.Equal(t, int64(20), ok.Succeeded)
	require.Zero(t, ok.Errors())
	require.True(t, ok.FirstFailure.IsZero())
	require.False(t, ok.FirstSuccess.Before(st.Start()))
	require.True(t, ok.LastSuccess.After(ok.FirstSuccess))
	require.Equal(t, int64(20), bad.Failed)
	require.Equal(t, int64(20), slow.TimedOut)
	require.Equal(t, int64(20), dead.Transport)
	require.True(t, dead.FirstSuccess.IsZero())
	require.True(t, dead.LastFailure.After(dead.FirstFailure))
	require.Equal(t, ok, st.Endpoint("127.0.0.2", time.Time{}, time.Time{}))
	require.Zero(t, st.Endpoint("10.9.9.9", time.Time{}, time.Time{}).Sent, "an address never sent to")
}

// TestEndpointWindows checks the rounding of windows to whole seconds: a
// request scheduled before from never counts.
func TestEndpointWindows(t *testing.T) {
	s := newStats(false)
	start := time.Now().Add(-time.Minute)
	s.begin(start)
	rec := func(offset time.Duration, o outcome) {
		s.eps.sent("10.0.0.1:8080", offset)
		if o != numOutcomes {
			s.eps.done("10.0.0.1:8080", offset, o, false)
		}
	}
	rec(200*time.Millisecond, outcomeOK)
	rec(1500*time.Millisecond, outcomeOK)
	rec(2100*time.Millisecond, outcomeServer)
	rec(2200*time.Millisecond, outcomeTimeout)
	rec(3300*time.Millisecond, outcomeClient) // 4xx: not an error here
	rec(3400*time.Millisecond, numOutcomes)   // still in flight

	for _, tc := range []struct {
		name     string
		from, to time.Duration // from the start; -1: zero time
		want     EndpointCounts
	}{
		{"all", -1, -1, EndpointCounts{Sent: 6, Pending: 1, Succeeded: 3, Failed: 1, TimedOut: 1,
			FirstSuccess: start.Add(200 * time.Millisecond), LastSuccess: start.Add(3300 * time.Millisecond),
			FirstFailure: start.Add(2100 * time.Millisecond), LastFailure: start.Add(2200 * time.Millisecond)}},
		{"from inside second 1 leaves it out", 1400 * time.Millisecond, -1, EndpointCounts{Sent: 4, Pending: 1, Succeeded: 1, Failed: 1, TimedOut: 1,
			FirstSuccess: start.Add(3300 * time.Millisecond), LastSuccess: start.Add(3300 * time.Millisecond),
			FirstFailure: start.Add(2100 * time.Millisecond), LastFailure: start.Add(2200 * time.Millisecond)}},
		{"from on a second's start", 2 * time.Second, 2500 * time.Millisecond, EndpointCounts{Sent: 2, Failed: 1, TimedOut: 1,
			FirstFailure: start.Add(2100 * time.Millisecond), LastFailure: start.Add(2200 * time.Millisecond)}},
		{"up to a time holds its second", -1, 1 * time.Millisecond, EndpointCounts{Sent: 1, Succeeded: 1,
			FirstSuccess: start.Add(200 * time.Millisecond), LastSuccess: start.Add(200 * time.Millisecond)}},
		{"after everything", 10 * time.Second, -1, EndpointCounts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var from, to time.Time
			if tc.from >= 0 {
				from = start.Add(tc.from)
			}
			if tc.to >= 0 {
				to = start.Add(tc.to)
			}
			require.Equal(t, tc.want, s.Endpoint("10.0.0.1", from, to))
		})
	}
	require.Equal(t, map[string]EndpointCounts{"10.0.0.1": s.Endpoint("10.0.0.1", time.Time{}, time.Time{})}, s.ByEndpoint(time.Time{}, time.Time{}))
	require.Nil(t, newStats(false).ByEndpoint(time.Time{}, time.Time{}), "before the run")
}

// TestEndpointMemoryBound checks that the records stay bounded: old
// seconds are dropped per address, and addresses past MaxEndpoints are not
// recorded.
func TestEndpointMemoryBound(t *testing.T) {
	s := newStats(false)
	s.begin(time.Now().Add(-3 * time.Hour))
	for sec := range MaxEndpointSeconds + 10 {
		off := time.Duration(sec) * time.Second
		s.eps.sent("10.0.0.1:80", off)
		s.eps.done("10.0.0.1:80", off, outcomeOK, false)
	}
	l := s.eps.log["10.0.0.1"]
	require.Len(t, l.seconds, MaxEndpointSeconds)
	c := s.Endpoint("10.0.0.1", time.Time{}, time.Time{})
	require.Equal(t, int64(MaxEndpointSeconds), c.Sent, "the oldest 10 seconds were dropped")
	require.Equal(t, s.Start().Add(10*time.Second), c.FirstSuccess)

	for i := range MaxEndpoints + 5 {
		s.eps.sent(fmt.Sprintf("10.1.%d.%d:80", i/256, i%256), 0)
	}
	require.Len(t, s.eps.addrs(), MaxEndpoints)
}
