package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Behaviour selects how a release of the service behaves. Every image tag
// runs the same binary; the tag's environment picks the behaviour.
type Behaviour string

// The behaviours, one per image tag (v1 is good, v2-<behaviour> the bad ones).
const (
	// BehaviourGood is the healthy release.
	BehaviourGood Behaviour = "good"
	// BehaviourBuggy answers a share (FaultRate) of ledger requests with 500.
	BehaviourBuggy Behaviour = "buggy"
	// BehaviourSlow adds SlowDelay to every ledger request, so p99 > 1 s.
	BehaviourSlow Behaviour = "slow"
	// BehaviourCrash is never ready and exits with status 1 after
	// CrashAfter, so the pods end in CrashLoopBackOff.
	BehaviourCrash Behaviour = "crash"
	// BehaviourCorrupt debits without crediting on a share (FaultRate) of
	// transfers, breaking the ledger invariant.
	BehaviourCorrupt Behaviour = "corrupt"
)

// Behaviours lists every valid behaviour, in the order the docs give them.
var Behaviours = []Behaviour{BehaviourGood, BehaviourBuggy, BehaviourSlow, BehaviourCrash, BehaviourCorrupt}

// ParseBehaviour parses a PAYMENT_BEHAVIOUR value; empty means good. An
// unknown value is an error, never a silent fallback to good.
func ParseBehaviour(s string) (Behaviour, error) {
	if s == "" {
		return BehaviourGood, nil
	}
	for _, b := range Behaviours {
		if strings.EqualFold(s, string(b)) {
			return b, nil
		}
	}
	names := make([]string, len(Behaviours))
	for i, b := range Behaviours {
		names[i] = string(b)
	}
	return "", fmt.Errorf("unknown behaviour %q (want one of %s)", s, strings.Join(names, ", "))
}

// defaultFaultRate is the FaultRate used when PAYMENT_FAULT_RATE is unset.
func (b Behaviour) defaultFaultRate() float64 {
	switch b {
	case BehaviourBuggy:
		return DefaultBuggyFaultRate
	case BehaviourCorrupt:
		return DefaultCorruptRate
	default:
		return 0
	}
}

// faultSampler decides, one independent draw per call, whether a request is
// hit by the behaviour's fault. With a seeded source the sequence of
// decisions is deterministic, whatever the order requests arrive in. With
// a period it flaps instead (see Config.FaultPeriod).
type faultSampler struct {
	mu   sync.Mutex
	rng  *rand.Rand
	rate float64
	// period, when positive, makes the fault flap; now reads the clock and
	// owed accumulates rate per request while the fault is on.
	period time.Duration
	now    func() time.Time
	owed   float64
}

// flapping returns f made to flap with period (see Config.FaultPeriod),
// reading the clock through now (time.Now when nil).
func (f *faultSampler) flapping(period time.Duration, now func() time.Time) *faultSampler {
	if now == nil {
		now = time.Now
	}
	f.period, f.now = period, now
	return f
}

// on reports whether a flapping fault is in its on half at t.
func (f *faultSampler) on(t time.Time) bool {
	return t.UnixNano()%int64(f.period) < int64(f.period)/2
}

// newFaultSampler returns a sampler hitting with probability rate, drawing
// from rng (a time-seeded source when nil).
func newFaultSampler(rate float64, rng *rand.Rand) *faultSampler {
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &faultSampler{rng: rng, rate: rate}
}

// hit draws once and reports whether this request gets the fault.
func (f *faultSampler) hit() bool {
	if f.rate <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.period > 0 {
		if !f.on(f.now()) {
			return false
		}
		f.owed += f.rate
		if f.owed >= 1 {
			f.owed--
			return true
		}
		return false
	}
	return f.rng.Float64() < f.rate
}
