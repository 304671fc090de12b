package traffic

import (
	"math"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/firedrill/firedrill/drills"
)

// Snapshot summarises the requests scheduled in a window of whole seconds
// of the run.
type Snapshot struct {
	// From and To bound the window.
	From, To time.Time
	// Duration is the length of the window that the run covered (shorter
	// than To-From for a window reaching past the present or the end).
	Duration time.Duration
	// Requests is the number of finished requests, whatever their outcome.
	Requests int64
	// Pending is the number of requests still in flight.
	Pending int64
	// Successes are finished requests that are not errors.
	Successes int64
	// Errors are finished requests that count as errors: 5xx, timeouts,
	// transport errors, overload, no endpoints, unbuildable requests, and
	// 4xx only with WithClientErrorsAsErrors.
	Errors int64
	// ClientErrors are 4xx responses, whether or not they count as errors.
	ClientErrors int64
	// ByKind counts every finished request that was not a plain success,
	// by kind (4xx included); kinds with no requests are left out.
	ByKind map[Kind]int64
	// Rate is the scheduled load: requests per second.
	Rate float64
	// Throughput is successes per second.
	Throughput float64
	// ErrorRate is Errors/Requests (0 with no finished request).
	ErrorRate float64
	// P50, P99 and Max are latencies measured from the intended send time,
	// over the requests that were sent (overload, no-endpoints and
	// unbuildable requests have no latency).
	P50, P99, Max time.Duration
}

// counts accumulates per-outcome counters and pending requests.
type counts struct {
	byOutcome [numOutcomes]int64
	pending   int64
}

func (c *counts) add(b *bucket) {
	for i, n := range b.counts {
		c.byOutcome[i] += n
	}
	c.pending += b.pending
}

// fill sets the counters, rates and percentiles of sn from c and h (which
// may be nil).
func (s *Stats) fill(sn *Snapshot, c *counts, h *hdr.Histogram) {
	for o := outcome(0); o < numOutcomes; o++ {
		n := c.byOutcome[o]
		sn.Requests += n
		if o.isError(s.clientErrors) {
			sn.Errors += n
		}
		if o != outcomeOK && n > 0 {
			if sn.ByKind == nil {
				sn.ByKind = map[Kind]int64{}
			}
			sn.ByKind[kinds[o]] = n
		}
	}
	sn.Pending = c.pending
	sn.ClientErrors = c.byOutcome[outcomeClient]
	sn.Successes = sn.Requests - sn.Errors
	if secs := sn.Duration.Seconds(); secs > 0 {
		sn.Rate = float64(sn.Requests+sn.Pending) / secs
		sn.Throughput = float64(sn.Successes) / secs
	}
	if sn.Requests > 0 {
		sn.ErrorRate = float64(sn.Errors) / float64(sn.Requests)
	}
	if h != nil && h.TotalCount() > 0 {
		sn.P50 = time.Duration(h.ValueAtQuantile(50)) * time.Microsecond
		sn.P99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		sn.Max = time.Duration(h.Max()) * time.Microsecond
	}
}

// windowLocked summarises buckets [i, j). Callers hold s.mu.
func (s *Stats) windowLocked(i, j int) Snapshot {
	limit := s.limitLocked()
	i = max(i, 0)
	j = min(j, len(s.buckets))
	sn := Snapshot{From: s.start.Add(time.Duration(i) * bucketWidth), To: s.start.Add(time.Duration(max(i, j)) * bucketWidth)}
	var c counts
	h := s.getHist()
	defer s.putHist(h)
	for k := i; k < j; k++ {
		sn.Duration += s.lengthLocked(k, limit)
		b := s.buckets[k]
		b.mu.Lock()
		c.add(b)
		switch {
		case b.dense != nil:
			h.Merge(b.dense)
		case b.packed != nil:
			b.packed.MergeInto(h)
		}
		b.mu.Unlock()
	}
	s.fill(&sn, &c, h)
	return sn
}

// Snapshot summarises the seconds of the run that overlap [from, to); the
// window is widened to whole seconds.
func (s *Stats) Snapshot(from, to time.Time) Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return Snapshot{From: from, To: to}
	}
	i := int(math.Floor(float64(from.Sub(s.start)) / float64(bucketWidth)))
	j := int(math.Ceil(float64(to.Sub(s.start)) / float64(bucketWidth)))
	return s.windowLocked(i, j)
}

// Last summarises the last d (rounded up to whole seconds) of settled
// seconds, the window that SLO checks read: recent seconds whose requests
// are still in flight are left out until they settle.
func (s *Stats) Last(d time.Duration) Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return Snapshot{}
	}
	n := s.settledLocked()
	k := int((d + bucketWidth - 1) / bucketWidth)
	return s.windowLocked(n-k, n)
}

// Second summarises second i of the run (0-based).
func (s *Stats) Second(i int) Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return Snapshot{}
	}
	return s.windowLocked(i, i+1)
}

// Total summarises the whole run so far, with the whole-run histogram.
func (s *Stats) Total() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return Snapshot{}
	}
	limit := s.limitLocked()
	sn := Snapshot{From: s.start, To: s.start.Add(limit), Duration: limit}
	var c counts
	for _, b := range s.buckets {
		b.mu.Lock()
		c.add(b)
		b.mu.Unlock()
	}
	s.totalMu.Lock()
	defer s.totalMu.Unlock()
	s.fill(&sn, &c, s.total)
	return sn
}

// Samples converts the settled seconds into timeline samples: Source
// "traffic", Throughput in successes per second, ErrorRate as a ratio and
// P99 in seconds.
func (s *Stats) Samples() []drills.Sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return nil
	}
	n := s.settledLocked()
	out := make([]drills.Sample, 0, n)
	for i := range n {
		sn := s.windowLocked(i, i+1)
		out = append(out, drills.Sample{
			Time:       sn.From,
			Source:     drills.SourceTraffic,
			Throughput: sn.Throughput,
			ErrorRate:  sn.ErrorRate,
			P99:        sn.P99.Seconds(),
		})
	}
	return out
}
