package traffic

import (
	"maps"
	"math"
	"net"
	"slices"
	"sync"
	"time"
)

// Bounds of the per-endpoint records.
const (
	// MaxEndpoints is how many endpoint addresses are recorded; requests
	// to further addresses are counted in the totals only.
	MaxEndpoints = 1024
	// MaxEndpointSeconds is how many seconds of per-endpoint buckets are
	// kept for each address; older seconds are dropped.
	MaxEndpointSeconds = 3600
)

// EndpointCounts are the requests scheduled to one endpoint address in a
// window.
type EndpointCounts struct {
	// Sent are requests that went on the wire to the address.
	Sent int64
	// Pending are sent requests that have not finished yet.
	Pending int64
	// Succeeded are finished requests that are not errors.
	Succeeded int64
	// Failed are requests that got an HTTP response counting as an error
	// (5xx; 4xx only with WithClientErrorsAsErrors).
	Failed int64
	// TimedOut are requests that did not finish within the timeout.
	TimedOut int64
	// Transport are requests that failed on the connection (refused,
	// reset) without a response.
	Transport int64
	// FirstSuccess and LastSuccess are the intended send times of the
	// first and last successful request (zero if none).
	FirstSuccess, LastSuccess time.Time
	// FirstFailure and LastFailure are the intended send times of the
	// first and last failed, timed-out or transport-failed request.
	FirstFailure, LastFailure time.Time
}

// Errors are the finished requests that failed, timed out or failed on the
// connection.
func (c EndpointCounts) Errors() int64 { return c.Failed + c.TimedOut + c.Transport }

// Finished are the sent requests that finished, whatever their outcome.
func (c EndpointCounts) Finished() int64 { return c.Succeeded + c.Errors() }

// add folds o into c.
func (c *EndpointCounts) add(o EndpointCounts) {
	c.Sent += o.Sent
	c.Pending += o.Pending
	c.Succeeded += o.Succeeded
	c.Failed += o.Failed
	c.TimedOut += o.TimedOut
	c.Transport += o.Transport
	c.FirstSuccess = earliest(c.FirstSuccess, o.FirstSuccess)
	c.LastSuccess = latest(c.LastSuccess, o.LastSuccess)
	c.FirstFailure = earliest(c.FirstFailure, o.FirstFailure)
	c.LastFailure = latest(c.LastFailure, o.LastFailure)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// epSecond is one second of one endpoint: counters and the intended send
// offsets (from the run's start, +1 so that zero means none) of the first
// and last success and failure.
type epSecond struct {
	sec                                     int
	sent, pending, ok, failed, timedOut, tr int64
	firstOK, lastOK, firstFail, lastFail    time.Duration
}

// endpointLog is the record of one address: a ring of its most recent
// seconds, in order.
type endpointLog struct {
	mu      sync.Mutex
	seconds []epSecond // ordered by sec; at most MaxEndpointSeconds
	head    int        // index of the oldest second once the ring is full
}

// at returns the record of second sec, creating it; sec is never older
// than the oldest second kept by more than the ring (requests are
// scheduled in order and finish within the timeout). Callers hold l.mu.
func (l *endpointLog) at(sec int) *epSecond {
	n := len(l.seconds)
	// Search from the newest: requests almost always hit the last second.
	for i := range n {
		k := (l.head + n - 1 - i) % n
		s := &l.seconds[k]
		if s.sec == sec {
			return s
		}
		if s.sec < sec {
			break
		}
	}
	if n > 0 && l.seconds[(l.head+n-1)%n].sec > sec {
		// An out-of-order second older than every kept one (the ring
		// dropped it): count it in the oldest kept second.
		return &l.seconds[l.head]
	}
	if n < MaxEndpointSeconds {
		l.seconds = append(l.seconds, epSecond{sec: sec})
		return &l.seconds[n]
	}
	l.seconds[l.head] = epSecond{sec: sec}
	s := &l.seconds[l.head]
	l.head = (l.head + 1) % n
	return s
}

// endpoints records requests per endpoint address.
type endpoints struct {
	mu  sync.RWMutex
	log map[string]*endpointLog
}

// host is the address part of a host:port endpoint.
func host(endpoint string) string {
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		return h
	}
	return endpoint
}

// get returns the log of addr, creating it unless the bound is reached.
func (e *endpoints) get(addr string) *endpointLog {
	e.mu.RLock()
	l := e.log[addr]
	e.mu.RUnlock()
	if l != nil {
		return l
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if l = e.log[addr]; l != nil {
		return l
	}
	if len(e.log) >= MaxEndpoints {
		return nil
	}
	if e.log == nil {
		e.log = map[string]*endpointLog{}
	}
	l = &endpointLog{}
	e.log[addr] = l
	return l
}

// sent records a request to endpoint scheduled at offset from the start.
func (e *endpoints) sent(endpoint string, offset time.Duration) {
	l := e.get(host(endpoint))
	if l == nil {
		return
	}
	l.mu.Lock()
	s := l.at(int(offset / bucketWidth))
	s.sent++
	s.pending++
	l.mu.Unlock()
}

// done records the outcome of a request recorded by sent.
func (e *endpoints) done(endpoint string, offset time.Duration, o outcome, clientErrors bool) {
	l := e.get(host(endpoint))
	if l == nil {
		return
	}
	at := offset + 1 // zero means none
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.at(int(offset / bucketWidth))
	s.pending--
	switch {
	case !o.isError(clientErrors):
		s.ok++
		if s.firstOK == 0 || at < s.firstOK {
			s.firstOK = at
		}
		s.lastOK = max(s.lastOK, at)
		return
	case o == outcomeTimeout:
		s.timedOut++
	case o == outcomeTransport:
		s.tr++
	default:
		s.failed++
	}
	if s.firstFail == 0 || at < s.firstFail {
		s.firstFail = at
	}
	s.lastFail = max(s.lastFail, at)
}

// window sums the seconds [i, j) of addr.
func (e *endpoints) window(start time.Time, addr string, i, j int) EndpointCounts {
	e.mu.RLock()
	l := e.log[addr]
	e.mu.RUnlock()
	var c EndpointCounts
	if l == nil {
		return c
	}
	t := func(d time.Duration) time.Time {
		if d == 0 {
			return time.Time{}
		}
		return start.Add(d - 1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.seconds {
		if s.sec < i || s.sec >= j {
			continue
		}
		c.add(EndpointCounts{
			Sent: s.sent, Pending: s.pending, Succeeded: s.ok, Failed: s.failed, TimedOut: s.timedOut, Transport: s.tr,
			FirstSuccess: t(s.firstOK), LastSuccess: t(s.lastOK), FirstFailure: t(s.firstFail), LastFailure: t(s.lastFail),
		})
	}
	return c
}

// addrs lists the recorded addresses, sorted.
func (e *endpoints) addrs() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Sorted(maps.Keys(e.log))
}

// secondsOf converts [from, to) to whole seconds of the run: from is
// rounded up (a second that began before from is left out, so that no
// request scheduled before from is counted) and to rounded up (the second
// holding to is in); a zero to means no end.
func (s *Stats) secondsOf(from, to time.Time) (int, int) {
	i := 0
	if from.After(s.start) {
		i = int(math.Ceil(float64(from.Sub(s.start)) / float64(bucketWidth)))
	}
	j := math.MaxInt
	if !to.IsZero() {
		j = int(math.Ceil(float64(to.Sub(s.start)) / float64(bucketWidth)))
	}
	return i, j
}

// Endpoint counts the requests sent to the endpoint address addr (an IP,
// without the port) that were scheduled in [from, to), in whole seconds of
// the run: the second in which from falls is left out, so that nothing
// scheduled before from counts, and the second holding to is in. A zero to
// means up to now. Only the last MaxEndpointSeconds seconds of each address
// are kept.
func (s *Stats) Endpoint(addr string, from, to time.Time) EndpointCounts {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return EndpointCounts{}
	}
	i, j := s.secondsOf(from, to)
	return s.eps.window(s.start, addr, i, j)
}

// ByEndpoint counts the requests of [from, to) (as Endpoint rounds them)
// for every endpoint address that was sent a request during the run.
func (s *Stats) ByEndpoint(from, to time.Time) map[string]EndpointCounts {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.begun {
		return nil
	}
	i, j := s.secondsOf(from, to)
	out := map[string]EndpointCounts{}
	for _, a := range s.eps.addrs() {
		out[a] = s.eps.window(s.start, a, i, j)
	}
	return out
}
