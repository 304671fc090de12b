package traffic

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// TestStatsSecondsAndSnapshots feeds synthetic outcomes into two seconds
// (the second one half long) and checks counts, rates and percentiles.
func TestStatsSecondsAndSnapshots(t *testing.T) {
	s := newStats(false)
	start := time.Now().Add(-10 * time.Second)
	s.begin(start)

	b0 := s.bucketAt(0)
	for range 97 {
		b0.sent()
		s.done(b0, outcomeOK, 10*time.Millisecond)
	}
	b0.sent()
	s.done(b0, outcomeServer, 200*time.Millisecond)
	b0.sent()
	s.done(b0, outcomeClient, time.Millisecond)
	s.fail(b0, outcomeOverload)

	b1 := s.bucketAt(1200 * time.Millisecond)
	require.NotSame(t, b0, b1)
	for range 10 {
		b1.sent()
		s.done(b1, outcomeOK, 2*time.Millisecond)
	}
	s.fail(b1, outcomeNoEndpoints)
	s.stop(1500 * time.Millisecond)

	require.Equal(t, 2, s.Settled())
	sec0 := s.Second(0)
	require.Equal(t, int64(100), sec0.Requests)
	require.Equal(t, int64(2), sec0.Errors, "5xx and overload; 4xx is not an error")
	require.Equal(t, int64(1), sec0.ClientErrors)
	require.Equal(t, map[Kind]int64{KindServer: 1, KindClient: 1, KindOverload: 1}, sec0.ByKind)
	require.InDelta(t, 0.02, sec0.ErrorRate, 1e-9)
	require.InDelta(t, 98.0, sec0.Throughput, 1e-9)
	require.InDelta(t, 100.0, sec0.Rate, 1e-9)
	require.InDelta(t, 10*time.Millisecond, sec0.P50, float64(20*time.Microsecond))
	require.InDelta(t, 10*time.Millisecond, sec0.P99, float64(20*time.Microsecond))
	require.InDelta(t, 200*time.Millisecond, sec0.Max, float64(300*time.Microsecond))

	sec1 := s.Second(1)
	require.Equal(t, 500*time.Millisecond, sec1.Duration)
	require.Equal(t, int64(11), sec1.Requests)
	require.InDelta(t, 20.0, sec1.Throughput, 1e-9, "10 successes in half a second")
	require.Equal(t, sec1, s.Last(time.Second))

	total := s.Total()
	require.Equal(t, int64(111), total.Requests)
	require.Equal(t, int64(3), total.Errors)
	require.Equal(t, 1500*time.Millisecond, total.Duration)
	require.InDelta(t, 200*time.Millisecond, total.Max, float64(300*time.Microsecond))
	require.Equal(t, total.Requests, s.Last(time.Minute).Requests)
	require.Equal(t, total.Requests, s.Snapshot(start, start.Add(2*time.Second)).Requests)
	require.Equal(t, int64(11), s.Snapshot(start.Add(1100*time.Millisecond), start.Add(5*time.Second)).Requests)

	samples := s.Samples()
	require.Len(t, samples, 2)
	require.Equal(t, drills.Sample{Time: start, Source: drills.SourceTraffic, Throughput: 98, ErrorRate: 0.02, P99: sec0.P99.Seconds()}, samples[0])
	require.Equal(t, start.Add(time.Second), samples[1].Time)
	require.InDelta(t, 1.0/11, samples[1].ErrorRate, 1e-9)

	// Settled buckets keep only the compact histogram.
	require.Nil(t, b0.dense)
	require.NotNil(t, b0.packed)
}

func TestStatsClientErrorsAsErrors(t *testing.T) {
	s := newStats(true)
	s.begin(time.Now().Add(-2 * time.Second))
	b := s.bucketAt(0)
	b.sent()
	s.done(b, outcomeClient, time.Millisecond)
	b.sent()
	s.done(b, outcomeOK, time.Millisecond)
	s.stop(time.Second)
	sn := s.Total()
	require.Equal(t, int64(1), sn.Errors)
	require.Equal(t, int64(1), sn.ClientErrors)
	require.InDelta(t, 0.5, sn.ErrorRate, 1e-9)
}

// TestStatsSettleWaitsForPending checks that a second with a request in
// flight is left out of Last and Samples until the request finishes.
func TestStatsSettleWaitsForPending(t *testing.T) {
	s := newStats(false)
	s.begin(time.Now().Add(-5 * time.Second))
	b0 := s.bucketAt(0)
	b0.sent()
	s.done(b0, outcomeOK, time.Millisecond)
	b0.sent() // still in flight
	s.closeBefore(time.Second)
	b1 := s.bucketAt(time.Second)
	b1.sent()
	s.done(b1, outcomeOK, time.Millisecond)
	s.closeBefore(2 * time.Second)

	require.Equal(t, 0, s.Settled())
	require.Empty(t, s.Samples())
	require.Zero(t, s.Last(10*time.Second).Requests)
	require.Equal(t, int64(1), s.Second(0).Pending)
	require.NotNil(t, b0.dense)

	s.done(b0, outcomeTimeout, 2*time.Second)
	require.Equal(t, 2, s.Settled())
	last := s.Last(10 * time.Second)
	require.Equal(t, int64(3), last.Requests)
	require.Equal(t, map[Kind]int64{KindTimeout: 1}, last.ByKind)
	require.Len(t, s.Samples(), 2)
	require.Nil(t, b0.dense)
}

func TestStatsBeforeRun(t *testing.T) {
	s := newStats(false)
	require.Zero(t, s.Settled())
	require.Nil(t, s.Samples())
	require.Zero(t, s.Total().Requests)
	require.Zero(t, s.Last(time.Second).Requests)
}

func TestLatencyClamp(t *testing.T) {
	require.Equal(t, int64(histMinMicros), micros(0))
	require.Equal(t, int64(histMaxMicros), micros(10*time.Minute))
	require.Equal(t, int64(1500), micros(1500*time.Microsecond))
}
