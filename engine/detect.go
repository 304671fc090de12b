package engine

import (
	"fmt"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// RuleState is where a detection rule stands.
type RuleState string

// Rule states. Hold is its own state: data that is missing, stale or too
// thin (low traffic) neither passes nor fails a rule, and never rolls back
// by itself; a breach that started before the data went missing keeps its
// start time so that it fires as soon as fresh data confirms it.
const (
	RuleInactive RuleState = "inactive"
	RulePending  RuleState = "pending"
	RuleFiring   RuleState = "firing"
	RuleHold     RuleState = "hold"
)

// Reading is one evaluation of a rule's expression.
type Reading struct {
	// Value of the expression.
	Value float64
	// At is the timestamp of the newest sample behind Value.
	At time.Time
	// Present is false when the query returned no data.
	Present bool
	// LowTraffic is set by the caller when the request rate behind a ratio
	// is below the guard's minRequestRate.
	LowTraffic bool
}

// RuleStatus is a rule's state after an update, with why.
type RuleStatus struct {
	Rule  string
	State RuleState
	// Since is when the current breach began (zero when not breached).
	Since  time.Time
	Value  float64
	Reason string
}

// RuleTracker follows one rule through time: a breach must hold for the
// rule's `for` window before the rule fires.
type RuleTracker struct {
	rule       drills.Rule
	staleAfter time.Duration
	since      time.Time
	state      RuleState
}

// NewRuleTracker tracks rule; readings older than staleAfter are stale.
func NewRuleTracker(rule drills.Rule, staleAfter time.Duration) *RuleTracker {
	return &RuleTracker{rule: rule, staleAfter: staleAfter, state: RuleInactive}
}

// Update feeds the reading taken at now and returns the rule's status.
func (t *RuleTracker) Update(now time.Time, r Reading) RuleStatus {
	st := RuleStatus{Rule: t.rule.Name, Value: r.Value}
	switch {
	case !r.Present:
		st.Reason = "no data"
	case now.Sub(r.At) > t.staleAfter:
		st.Reason = fmt.Sprintf("stale data: newest sample is %s old (staleAfter %s)", now.Sub(r.At).Round(time.Millisecond), t.staleAfter)
	case r.LowTraffic:
		st.Reason = "low traffic: too few requests to judge a ratio"
	}
	if st.Reason != "" {
		t.state = RuleHold
		st.State, st.Since = RuleHold, t.since
		return st
	}
	if !t.rule.Op.Compare(r.Value, t.rule.Threshold) {
		t.since, t.state = time.Time{}, RuleInactive
		st.State = RuleInactive
		st.Reason = fmt.Sprintf("%g %s %g does not hold", r.Value, t.rule.Op, t.rule.Threshold)
		return st
	}
	if t.since.IsZero() {
		t.since = r.At
	}
	st.Since = t.since
	held := now.Sub(t.since)
	if held >= t.rule.For.Get(0) {
		t.state = RuleFiring
		st.Reason = fmt.Sprintf("%g %s %g held for %s (for %s)", r.Value, t.rule.Op, t.rule.Threshold, held.Round(time.Millisecond), t.rule.For.Get(0))
	} else {
		t.state = RulePending
		st.Reason = fmt.Sprintf("%g %s %g for %s of %s", r.Value, t.rule.Op, t.rule.Threshold, held.Round(time.Millisecond), t.rule.For.Get(0))
	}
	st.State = t.state
	return st
}

// State is the rule's current state.
func (t *RuleTracker) State() RuleState { return t.state }
