package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

// guardRun is the rollback engine guarding the target during one run.
type guardRun struct {
	g      *engine.Guard
	cancel context.CancelFunc
	done   chan error
	store  engine.AuditStore
	closer func()

	mu     sync.Mutex
	events []engine.Event
}

func (g *guardRun) record(e engine.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, e)
}

// of returns the recorded events of kind k.
func (g *guardRun) of(k engine.EventKind) []engine.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []engine.Event
	for _, e := range g.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// startGuard starts the engine on the target with the drill's policy.
func (run *Run) startGuard(ctx context.Context) error {
	d := run.drill
	store, closer, err := run.auditStore(ctx)
	if err != nil {
		return err
	}
	opts := []engine.Option{
		engine.WithKubernetes(run.r.client),
		engine.WithAudit(store),
		engine.WithLog(run.r.log.With("guard", d.Metadata.Name)),
		engine.OnEvent(run.guardEvent),
		engine.OnObserve(run.observeGuard),
	}
	if run.prom != nil {
		opts = append(opts, engine.WithPrometheus(run.prom))
	}
	if e := d.Spec.Guard.RequestRateExpr; e != "" {
		opts = append(opts, engine.WithRequestRateExpr(e))
	}
	opts = append(opts, run.r.guardOpts...)
	g, err := engine.NewGuard(*d.Spec.Guard, d.Spec.Target, opts...)
	if err != nil {
		closer()
		return fmt.Errorf("guard: %w", err)
	}
	run.cov = newCoverage()
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	gr := &guardRun{g: g, cancel: cancel, done: make(chan error, 1), store: store, closer: closer}
	run.guardRun = gr
	go func() { gr.done <- g.Run(gctx) }()
	return nil
}

// stopGuard stops the engine and reads back its audit rows of this run.
func (run *Run) stopGuard(ctx context.Context) error {
	gr := run.guardRun
	if gr == nil {
		return nil
	}
	gr.cancel()
	var err error
	select {
	case err = <-gr.done:
	case <-ctx.Done():
		err = fmt.Errorf("guard did not stop: %w", ctx.Err())
	}
	if err == context.Canceled {
		err = nil
	}
	rows, lerr := gr.store.List(ctx, run.res.Started)
	if lerr == nil {
		run.mu.Lock()
		run.res.Audit = rows
		run.mu.Unlock()
	}
	gr.closer()
	if err != nil {
		return err
	}
	return lerr
}

// auditStore is the runner's store, or a fresh SQLite file for this run.
func (run *Run) auditStore(ctx context.Context) (engine.AuditStore, func(), error) {
	if run.r.audit != nil {
		return run.r.audit, func() {}, nil
	}
	dir := run.r.auditDir
	tmp := ""
	if dir == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "firedrill-audit-"); err != nil {
			return nil, nil, fmt.Errorf("audit: %w", err)
		}
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	st, err := engine.OpenSQLiteAudit(ctx, filepath.Join(dir, run.res.RunID+".db"))
	if err != nil {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	return st, func() {
		_ = st.Close()
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
	}, nil
}

// detections returns the engine's detection events.
func (run *Run) detections() []engine.Event {
	if run.guardRun == nil {
		return nil
	}
	return run.guardRun.of(engine.EventDetection)
}

// actions returns the engine's action events.
func (run *Run) actions() []engine.Event {
	if run.guardRun == nil {
		return nil
	}
	return run.guardRun.of(engine.EventAction)
}

// rolledBack reports the first successful action other than handing over
// to a human.
func (run *Run) rolledBack() (engine.Event, bool) {
	for _, a := range run.actions() {
		if a.Err == nil && a.Strategy != drills.StrategyHuman {
			return a, true
		}
	}
	return engine.Event{}, false
}
