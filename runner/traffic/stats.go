package traffic

import (
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record microseconds from 1µs to 60s with 3 significant
// digits; longer latencies are clamped to 60s.
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histDigits    = 3
	// bucketWidth is the width of one stats bucket.
	bucketWidth = time.Second
)

// bucket holds one second of the run: the requests scheduled in it.
type bucket struct {
	mu sync.Mutex
	// closed is set once every request of the second has been scheduled.
	closed bool
	// pending counts requests sent and not finished yet.
	pending int64
	counts  [numOutcomes]int64
	// dense records latencies while the second is live; once the second is
	// settled it is folded into the much smaller packed histogram.
	dense  *hdr.Histogram
	packed *hdr.PackedHistogram
}

// Stats are the measurements of one run: per-second buckets aligned to the
// run's start and a whole-run latency histogram. A request belongs to the
// second it was scheduled in. All methods are safe for concurrent use, also
// while the run goes on.
type Stats struct {
	clientErrors bool
	pool         sync.Pool // of *hdr.Histogram, reset

	mu      sync.RWMutex
	begun   bool
	start   time.Time
	stopped bool
	end     time.Duration // scheduling end, once stopped
	buckets []*bucket
	settled atomic.Int64 // cached count of leading settled buckets

	totalMu sync.Mutex
	total   *hdr.Histogram

	// eps records requests per endpoint address.
	eps endpoints
}

func newStats(clientErrors bool) *Stats {
	return &Stats{clientErrors: clientErrors, total: newHist()}
}

func newHist() *hdr.Histogram { return hdr.New(histMinMicros, histMaxMicros, histDigits) }

func (s *Stats) getHist() *hdr.Histogram {
	if h, ok := s.pool.Get().(*hdr.Histogram); ok {
		return h
	}
	return newHist()
}

func (s *Stats) putHist(h *hdr.Histogram) {
	h.Reset()
	s.pool.Put(h)
}

func micros(d time.Duration) int64 {
	us := d.Microseconds()
	if us < histMinMicros {
		return histMinMicros
	}
	if us > histMaxMicros {
		return histMaxMicros
	}
	return us
}

// begin marks the start of the run; buckets are aligned to it.
func (s *Stats) begin(start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begun, s.start = true, start
}

// ensureLocked makes buckets 0..idx exist. Callers hold s.mu for writing.
func (s *Stats) ensureLocked(idx int) {
	for len(s.buckets) <= idx {
		s.buckets = append(s.buckets, &bucket{})
	}
}

// closeLocked closes buckets [0, n) and seals those with nothing pending.
func (s *Stats) closeLocked(n int) {
	for i := int(s.settled.Load()); i < n && i < len(s.buckets); i++ {
		b := s.buckets[i]
		b.mu.Lock()
		if !b.closed {
			b.closed = true
			s.sealLocked(b)
		}
		b.mu.Unlock()
	}
}

// bucketAt returns the bucket of a request scheduled at offset from the
// start; every earlier bucket is closed.
func (s *Stats) bucketAt(offset time.Duration) *bucket {
	idx := int(offset / bucketWidth)
	s.mu.RLock()
	if idx < len(s.buckets) {
		b := s.buckets[idx]
		s.mu.RUnlock()
		return b
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureLocked(idx)
	s.closeLocked(idx)
	return s.buckets[idx]
}

// closeBefore tells that nothing more will be scheduled before offset: the
// buckets before offset's second are closed (and created if they were
// skipped, so that quiet seconds exist too).
func (s *Stats) closeBefore(offset time.Duration) {
	idx := int(offset / bucketWidth)
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx > 0 {
		s.ensureLocked(idx - 1)
	}
	s.closeLocked(idx)
}

// stop ends scheduling at offset end: buckets exist for every second that
// began before end, and all are closed.
func (s *Stats) stop(end time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int((end + bucketWidth - 1) / bucketWidth)
	if n < len(s.buckets) {
		// Only empty buckets created ahead of time can lie past the end.
		s.buckets = s.buckets[:n]
	}
	if n > 0 {
		s.ensureLocked(n - 1)
	}
	s.stopped, s.end = true, end
	s.closeLocked(n)
}

// sent counts a request of b as in flight.
func (b *bucket) sent() {
	b.mu.Lock()
	b.pending++
	b.mu.Unlock()
}

// fail records a request of b that was never sent.
func (s *Stats) fail(b *bucket, o outcome) {
	b.mu.Lock()
	b.counts[o]++
	b.mu.Unlock()
}

// done records the outcome of a request of b that was counted as in flight
// (see bucket.sent) and, if it went on the wire, its latency from the
// intended send time.
func (s *Stats) done(b *bucket, o outcome, latency time.Duration) {
	us := micros(latency)
	b.mu.Lock()
	b.counts[o]++
	b.pending--
	if o.sent() {
		if b.dense == nil {
			b.dense = s.getHist()
		}
		_ = b.dense.RecordValue(us) // in range by construction
	}
	s.sealLocked(b)
	b.mu.Unlock()
	if !o.sent() {
		return
	}
	s.totalMu.Lock()
	_ = s.total.RecordValue(us)
	s.totalMu.Unlock()
}

// sealLocked folds a settled bucket's dense histogram into a packed one.
// Callers hold b.mu.
func (s *Stats) sealLocked(b *bucket) {
	if !b.closed || b.pending != 0 || b.dense == nil {
		return
	}
	p := hdr.NewPacked(histMinMicros, histMaxMicros, histDigits)
	p.MergeFrom(b.dense)
	p.Compact()
	b.packed = p
	s.putHist(b.dense)
	b.dense = nil
}

// limitLocked is how far into the run the buckets reach: the scheduling
// end once stopped, else the time elapsed. Callers hold s.mu.
func (s *Stats) limitLocked() time.Duration {
	if s.stopped {
		return s.end
	}
	return time.Since(s.start)
}

// lengthLocked is the covered length of bucket i (a second, less for the
// current or the last one).
func (s *Stats) lengthLocked(i int, limit time.Duration) time.Duration {
	l := limit - time.Duration(i)*bucketWidth
	switch {
	case l > bucketWidth:
		return bucketWidth
	case l < 0:
		return 0
	}
	return l
}

// Start returns the run's start time, the zero time before Run.
func (s *Stats) Start() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.start
}

// Settled returns how many leading seconds of the run are settled: their
// time has passed, all their requests were scheduled and all have finished.
// Settled seconds never change again.
func (s *Stats) Settled() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.settledLocked()
}

func (s *Stats) settledLocked() int {
	if !s.begun {
		return 0
	}
	limit := s.limitLocked()
	n := int(s.settled.Load())
	for n < len(s.buckets) {
		if !s.stopped && time.Duration(n+1)*bucketWidth > limit {
			break
		}
		b := s.buckets[n]
		b.mu.Lock()
		ok := b.closed && b.pending == 0
		b.mu.Unlock()
		if !ok {
			break
		}
		n++
	}
	for {
		cur := s.settled.Load()
		if int64(n) <= cur || s.settled.CompareAndSwap(cur, int64(n)) {
			return int(max(cur, int64(n)))
		}
	}
}
