package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseBehaviour(t *testing.T) {
	for in, want := range map[string]Behaviour{
		"": BehaviourGood, "good": BehaviourGood, "buggy": BehaviourBuggy, "Slow": BehaviourSlow,
		"CRASH": BehaviourCrash, "corrupt": BehaviourCorrupt,
	} {
		got, err := ParseBehaviour(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseBehaviour("v2-buggy")
	require.EqualError(t, err, `unknown behaviour "v2-buggy" (want one of good, buggy, slow, crash, corrupt)`)
}

// hits draws n times from a sampler seeded with seed.
func hits(rate float64, seed uint64, n int) []bool {
	f := newFaultSampler(rate, rand.New(rand.NewPCG(seed, seed)))
	out := make([]bool, n)
	for i := range out {
		out[i] = f.hit()
	}
	return out
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestFaultSamplingIsDeterministicWithASeed(t *testing.T) {
	require.Equal(t, hits(0.2, 42, 500), hits(0.2, 42, 500), "same seed, same decisions")
	require.NotEqual(t, hits(0.2, 42, 500), hits(0.2, 43, 500))
	require.Zero(t, count(hits(0, 1, 1000)), "rate 0 never hits")
	require.Equal(t, 1000, count(hits(1, 1, 1000)), "rate 1 always hits")
	for _, rate := range []float64{0.05, 0.1, 0.2, 0.5} {
		got := float64(count(hits(rate, 7, 20000))) / 20000
		require.InDelta(t, rate, got, 0.01, "rate %v", rate)
	}
}

func TestFaultSamplerDefaultSourceWorks(t *testing.T) {
	f := newFaultSampler(0.5, nil)
	n := 0
	for range 2000 {
		if f.hit() {
			n++
		}
	}
	require.InDelta(t, 1000, n, 150)
}

// TestFlappingFault: on for the first half of each period on the wall
// clock, hitting exactly every 1/rate-th request there, never in the
// second half.
func TestFlappingFault(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // a whole number of 40 s periods since the epoch
	require.Zero(t, start.UnixNano()%int64(40*time.Second))
	now := start
	f := newFaultSampler(0.04, nil).flapping(40*time.Second, func() time.Time { return now })
	draw := func(n int) int {
		hit := 0
		for range n {
			if f.hit() {
				hit++
			}
		}
		return hit
	}
	require.Equal(t, 40, draw(1000), "on: exactly 4 %")
	now = start.Add(19 * time.Second)
	require.Equal(t, 4, draw(100), "still on at 19 s")
	now = start.Add(20 * time.Second)
	require.Zero(t, draw(1000), "off from 20 s")
	now = start.Add(39*time.Second + 999*time.Millisecond)
	require.Zero(t, draw(1000), "off until the period ends")
	now = start.Add(40 * time.Second)
	require.Equal(t, 40, draw(1000), "on again")
}
