package traffic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// MaxRate is the highest request rate a Generator accepts, per second.
const MaxRate = 100000

// Generator drives open-loop constant-rate HTTP load at Targets and measures
// it. Create it with New, start it with Run, read it with Stats (also while
// it runs).
type Generator struct {
	targets     Targets
	rate        float64
	duration    time.Duration
	timeout     time.Duration
	templates   []*requestTemplate
	cumWeights  []int
	totalWeight int
	rng         rngRef
	client      *http.Client
	ownClient   bool
	maxInFlight int64
	inflight    atomic.Int64
	log         *slog.Logger
	observer    func(Result)
	stats       *Stats
	ran         atomic.Bool

	// Used only by the scheduling goroutine.
	rr      uint64
	scratch strings.Builder
}

// New checks spec and returns a Generator that sends spec's requests to
// targets. A zero rate or timeout takes the drills defaults; a nil duration
// runs until Run's context is done.
func New(targets Targets, spec drills.Traffic, opts ...Option) (*Generator, error) {
	if targets == nil {
		return nil, errors.New("traffic: nil targets")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	rate := spec.Rate
	if rate == 0 {
		rate = drills.DefaultTrafficRate
	}
	if !(rate > 0) || math.IsInf(rate, 0) || rate > MaxRate {
		return nil, fmt.Errorf("traffic: rate must be in (0, %d] requests per second, got %v", MaxRate, spec.Rate)
	}
	timeout := spec.Timeout.Get(drills.DefaultRequestTimeout)
	if timeout <= 0 {
		return nil, fmt.Errorf("traffic: timeout must be positive, got %v", timeout)
	}
	duration := spec.Duration.Get(0)
	if duration < 0 {
		return nil, fmt.Errorf("traffic: duration must not be negative, got %v", duration)
	}
	g := &Generator{
		targets:  targets,
		rate:     rate,
		duration: duration,
		timeout:  timeout,
		rng:      rngRef{r: rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))},
		log:      cfg.log,
		observer: cfg.observer,
		stats:    newStats(cfg.clientErrors),
	}
	var err error
	if g.templates, err = parseTemplates(spec.Requests, &g.rng); err != nil {
		return nil, err
	}
	for i, r := range spec.Requests {
		w := r.Weight
		if w == 0 {
			w = 1 // as drills.Default does
		}
		if w < 0 {
			return nil, fmt.Errorf("traffic: requests[%d].weight: must not be negative, got %d", i, w)
		}
		g.totalWeight += w
		g.cumWeights = append(g.cumWeights, g.totalWeight)
	}
	switch {
	case cfg.maxInFlight < 0:
		return nil, fmt.Errorf("traffic: max in-flight must not be negative, got %d", cfg.maxInFlight)
	case cfg.maxInFlight > 0:
		g.maxInFlight = int64(cfg.maxInFlight)
	default:
		g.maxInFlight = int64(min(math.Ceil(rate*timeout.Seconds())+16, MaxInFlightLimit))
	}
	g.client = cfg.client
	if g.client == nil {
		g.client, g.ownClient = newClient(int(g.maxInFlight), timeout), true
	}
	return g, nil
}

// Stats returns the run's measurements; they fill in while Run runs.
func (g *Generator) Stats() *Stats { return g.stats }

// Rate returns the requests per second the generator schedules.
func (g *Generator) Rate() float64 { return g.rate }

// offset is when request seq is due, from the start.
func (g *Generator) offset(seq int64) time.Duration {
	return time.Duration(float64(seq) * float64(time.Second) / g.rate)
}

// Run sends requests on schedule until the duration is reached or ctx is
// done, then waits for the requests in flight (each bounded by the timeout)
// so that the stats are complete. Requests in flight are not cut short by
// ctx. Stopping through ctx is not an error. Run can be called once.
func (g *Generator) Run(ctx context.Context) error {
	if !g.ran.CompareAndSwap(false, true) {
		return errors.New("traffic: generator already ran")
	}
	reqCtx := context.WithoutCancel(ctx)
	start := time.Now()
	g.stats.begin(start)
	g.log.Info("traffic started", "rate", g.rate, "duration", g.duration, "timeout", g.timeout, "maxInFlight", g.maxInFlight)

	var wg sync.WaitGroup
	// The schedule runs on a goroutine of its own: its pacer locks it to an
	// OS thread for good.
	ends := make(chan time.Duration, 1)
	go func() { ends <- g.schedule(ctx, reqCtx, &wg, start) }()
	end := <-ends
	g.stats.stop(end)
	wg.Wait()
	if g.ownClient {
		g.client.CloseIdleConnections()
	}
	t := g.stats.Total()
	g.log.Info("traffic finished", "requests", t.Requests, "errors", t.Errors, "errorRate", t.ErrorRate, "p99", t.P99)
	return nil
}

// schedule dispatches requests on time until the duration is reached or
// ctx is done, and returns when scheduling ended, from start.
func (g *Generator) schedule(ctx, reqCtx context.Context, wg *sync.WaitGroup, start time.Time) time.Duration {
	p := newPacer()
	for seq := int64(0); ; seq++ {
		offset := g.offset(seq)
		if g.duration > 0 && offset >= g.duration {
			return g.duration
		}
		if !p.sleep(ctx, start.Add(offset)) {
			end := time.Since(start)
			if g.duration > 0 {
				end = min(end, g.duration)
			}
			return end
		}
		g.dispatch(reqCtx, wg, seq, start, offset)
		// Close the second as soon as its last request is out.
		if next := g.offset(seq + 1); next/bucketWidth != offset/bucketWidth && (g.duration == 0 || next < g.duration) {
			g.stats.closeBefore(next)
		}
	}
}

// pick chooses a template by weight.
func (g *Generator) pick() *requestTemplate {
	n := g.rng.r.IntN(g.totalWeight)
	for i, c := range g.cumWeights {
		if n < c {
			return g.templates[i]
		}
	}
	return g.templates[len(g.templates)-1]
}

// next picks and renders request seq. It consumes the RNG the same way
// whatever happens to the request, so a seed always yields the same
// sequence of requests.
func (g *Generator) next(seq int64) (rendered, error) {
	t := g.pick()
	data := templateData{Seq: seq, rng: g.rng.r}
	path, err := t.path.render(&g.scratch, data)
	if err != nil {
		return rendered{tpl: t}, fmt.Errorf("traffic: rendering path of requests[%d]: %w", t.index, err)
	}
	body, err := t.body.render(&g.scratch, data)
	if err != nil {
		return rendered{tpl: t, path: path}, fmt.Errorf("traffic: rendering body of requests[%d]: %w", t.index, err)
	}
	return rendered{tpl: t, path: path, body: body}, nil
}

// dispatch schedules request seq: it fails it at once (no endpoints,
// overload, unbuildable) or sends it from its own goroutine.
func (g *Generator) dispatch(ctx context.Context, wg *sync.WaitGroup, seq int64, start time.Time, offset time.Duration) {
	b := g.stats.bucketAt(offset)
	intended := start.Add(offset)
	r, err := g.next(seq)
	res := Result{Seq: seq, Template: r.tpl.index, Method: r.tpl.method, Path: r.path, Intended: intended, Err: err}
	if err != nil {
		g.fail(b, outcomeRequest, res)
		return
	}
	eps, err := g.targets.Endpoints(ctx)
	if err != nil || len(eps) == 0 {
		if err != nil {
			g.log.Debug("traffic targets failed", "err", err)
		}
		res.Err = err
		g.fail(b, outcomeNoEndpoints, res)
		return
	}
	res.Endpoint = eps[g.rr%uint64(len(eps))]
	g.rr++
	if g.inflight.Add(1) > g.maxInFlight {
		g.inflight.Add(-1)
		res.Endpoint = ""
		g.fail(b, outcomeOverload, res)
		return
	}
	b.sent()
	g.stats.eps.sent(res.Endpoint, offset)
	wg.Add(1)
	go func() {
		defer wg.Done()
		o, status, latency, err := g.send(ctx, res.Endpoint, r, intended)
		g.inflight.Add(-1)
		g.stats.done(b, o, latency)
		g.stats.eps.done(res.Endpoint, offset, o, g.stats.clientErrors)
		if g.observer != nil {
			res.Status, res.Latency, res.Err = status, latency, err
			res.Kind, res.Error = kinds[o], o.isError(g.stats.clientErrors)
			g.observer(res)
		}
	}()
}

// fail records a request that was not sent.
func (g *Generator) fail(b *bucket, o outcome, res Result) {
	g.stats.fail(b, o)
	if g.observer != nil {
		res.Kind, res.Error = kinds[o], true
		g.observer(res)
	}
}
