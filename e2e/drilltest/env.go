package drilltest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/firedrill/firedrill/clusters/local"
	"github.com/firedrill/firedrill/clusters/local/postgres"
	"github.com/firedrill/firedrill/clusters/local/prometheus"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/internal/testenv"
)

// KubeconfigEnv names the variable ExistingOr reads: the kubeconfig of a
// cluster that is already up (and, for the shipped drills, runs the demo
// stack).
const KubeconfigEnv = "FIREDRILL_E2E_KUBECONFIG"

// LedgerDSNEnv is the variable the shipped drills' SQL consistency checks
// read (${FIREDRILL_LEDGER_DSN}); CreateDemoStack sets it.
const LedgerDSNEnv = "FIREDRILL_LEDGER_DSN"

// DefaultName is the default local cluster name.
const DefaultName = "e2e"

// Option configures CreateLocalCluster and CreateDemoStack.
type Option func(*config)

type config struct {
	name        string
	home        string
	sourceDir   string
	log         *slog.Logger
	lockTimeout time.Duration
	upTimeout   time.Duration
	clusterOpts []local.Option
	stackOpts   []stack.Option
}

// WithName sets the local cluster's name (default "e2e"); it names the
// cgroups, so keep it short.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithHome sets the folder holding the cluster's files. Default: a fresh
// short temporary folder (the kubelet's unix sockets must fit in 108
// bytes) that DestroyLocal removes.
func WithHome(dir string) Option { return func(c *config) { c.home = dir } }

// WithSourceDir sets the firedrill source tree: the demo stack builds the
// payment images from it and the cluster its pause image (default ".").
func WithSourceDir(dir string) Option { return func(c *config) { c.sourceDir = dir } }

// WithLogger sets the progress logger of the cluster and the stack
// (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithLockTimeout bounds the wait for the machine's local-cluster lock
// while another test binary holds it (default 30m).
func WithLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// WithUpTimeout bounds bringing the cluster (and the stack) up once the
// lock is held (default 10m).
func WithUpTimeout(d time.Duration) Option { return func(c *config) { c.upTimeout = d } }

// WithClusterOptions passes extra options to the local cluster.
func WithClusterOptions(opts ...local.Option) Option {
	return func(c *config) { c.clusterOpts = append(c.clusterOpts, opts...) }
}

// WithStackOptions passes extra options to the demo stack.
func WithStackOptions(opts ...stack.Option) Option {
	return func(c *config) { c.stackOpts = append(c.stackOpts, opts...) }
}

func newConfig(opts []Option) config {
	c := config{name: DefaultName, sourceDir: ".", lockTimeout: 30 * time.Minute, upTimeout: 10 * time.Minute}
	for _, o := range opts {
		o(&c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// localOptions are the options of the local cluster for home.
func (c config) localOptions(home string) ([]local.Option, error) {
	src, err := filepath.Abs(c.sourceDir)
	if err != nil {
		return nil, fmt.Errorf("drilltest: %w", err)
	}
	opts := []local.Option{local.WithHome(home), local.WithModuleDir(src), local.WithLogger(c.log)}
	return append(opts, c.clusterOpts...), nil
}

// LocalClusterUnavailable returns why the local cluster cannot run on this
// machine (not root, pinned binaries or host tools missing), or "".
func LocalClusterUnavailable(opts ...Option) string {
	if os.Geteuid() != 0 {
		return "the local cluster needs root"
	}
	c := newConfig(opts)
	if err := local.New(append([]local.Option{local.WithName(c.name)}, c.clusterOpts...)...).Preflight(); err != nil {
		return err.Error()
	}
	return ""
}

// DemoStackUnavailable returns why the demo stack cannot run on this
// machine (LocalClusterUnavailable, Prometheus or PostgreSQL missing), or
// "".
func DemoStackUnavailable(opts ...Option) string {
	if r := LocalClusterUnavailable(opts...); r != "" {
		return r
	}
	for _, b := range []string{"prometheus", "promtool"} {
		p := filepath.Join(prometheus.DefaultBinDir(), b)
		if _, err := os.Stat(p); err != nil {
			return p + " is missing (run make tools)"
		}
	}
	if _, err := postgres.FindBinDir(); err != nil {
		return err.Error()
	}
	return ""
}

type ctxKey struct{}

// localState is what the Create functions started, for DestroyLocal.
type localState struct {
	// cancel stops a creation in progress; done is closed when
	// createLocal has returned; mu serialises destroy.
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex

	provider *local.E2EProvider
	stack    *stack.Stack
	name     string
	home     string // removed by DestroyLocal when non-empty
	unlock   func()
	dsnSet   bool
	log      *slog.Logger
}

// Cluster returns the local cluster a Create function started, if any.
func Cluster(ctx context.Context) (*local.Cluster, bool) {
	s, ok := ctx.Value(ctxKey{}).(*localState)
	if !ok {
		return nil, false
	}
	return s.provider.Cluster(), true
}

// Stack returns the demo stack CreateDemoStack started, if any.
func Stack(ctx context.Context) (*stack.Stack, bool) {
	s, ok := ctx.Value(ctxKey{}).(*localState)
	if !ok || s.stack == nil {
		return nil, false
	}
	return s.stack, true
}

// CreateLocalCluster returns an env.Func that takes the machine lock and
// brings up the embedded local cluster through its e2e-framework provider
// (envfuncs.CreateClusterWithOpts with local.NewE2EProvider, so the
// provider is also in the context under the cluster name), and points the
// environment's config at its kubeconfig. On failure it removes what it
// started and releases the lock. Take it down with DestroyLocal.
func CreateLocalCluster(opts ...Option) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		return createLocal(ctx, cfg, newConfig(opts), false)
	}
}

// CreateDemoStack is CreateLocalCluster plus the demo stack (PostgreSQL,
// Prometheus on 127.0.0.1:9090, the payment images and Deployment) that the
// shipped drills run against. It sets FIREDRILL_LEDGER_DSN to the ledger's
// DSN for the drills' SQL checks, unless it is already set; DestroyLocal
// restores it.
func CreateDemoStack(opts ...Option) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		return createLocal(ctx, cfg, newConfig(opts), true)
	}
}

func createLocal(ctx context.Context, cfg *envconf.Config, c config, withStack bool) (_ context.Context, err error) {
	if _, ok := ctx.Value(ctxKey{}).(*localState); ok {
		return ctx, errors.New("drilltest: a local cluster is already up in this environment")
	}
	// cctx bounds the creation only: DestroyAll cancels it.
	cctx, cancelCreate := context.WithCancel(ctx)
	defer cancelCreate()
	st := &localState{name: c.name, log: c.log, cancel: cancelCreate, done: make(chan struct{})}
	defer close(st.done)
	if !live.add(st) {
		return ctx, errors.New("drilltest: the process is tearing its local clusters down")
	}
	// Undo everything on failure, so that a failed Setup leaves nothing
	// behind even without a Finish.
	defer func() {
		if err != nil {
			if derr := st.destroy(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	lctx, cancel := context.WithTimeout(cctx, c.lockTimeout)
	defer cancel()
	c.log.Info("waiting for the machine's local-cluster lock", "path", local.MachineLockPath)
	waited := time.Now()
	if st.unlock, err = local.LockMachine(lctx); err != nil {
		return ctx, fmt.Errorf("drilltest: local-cluster lock: %w", err)
	}
	c.log.Info("machine lock taken", "waited", time.Since(waited).Round(time.Millisecond))
	// A cluster whose test binary lost the lock may still be going away.
	// Its PostgreSQL and Prometheus too: an orphaned PostgreSQL stops on
	// its own within a minute of its folder going.
	ports := []string{"127.0.0.1:2379"}
	if withStack {
		ports = append(ports, prometheus.DefaultListen, fmt.Sprintf("127.0.0.1:%d", postgres.DefaultPort))
	}
	if err = waitNoOtherCluster(lctx, ports); err != nil {
		return ctx, err
	}
	home := c.home
	if home == "" {
		if home, err = os.MkdirTemp("", "fd"); err != nil {
			return ctx, fmt.Errorf("drilltest: %w", err)
		}
		st.home = home
	}
	lopts, err := c.localOptions(home)
	if err != nil {
		return ctx, err
	}
	uctx, cancel2 := context.WithTimeout(cctx, c.upTimeout)
	defer cancel2()
	start := time.Now()
	st.provider = local.NewE2EProvider(lopts...)
	// envfuncs creates the cluster, points cfg at its kubeconfig and waits
	// for the control plane; the provider goes into the suite's context
	// (not uctx, which ends with this function) under the cluster name.
	if _, err = envfuncs.CreateClusterWithOpts(st.provider, c.name)(uctx, cfg); err != nil {
		return ctx, fmt.Errorf("drilltest: local cluster: %w", err)
	}
	ctx = context.WithValue(ctx, support.ClusterNameContextKey(c.name), st.provider)
	if withStack {
		sopts := append([]stack.Option{
			stack.WithCluster(st.provider.Cluster()),
			stack.WithSourceDir(c.sourceDir),
			stack.WithLogger(c.log),
		}, c.stackOpts...)
		st.stack = stack.New(sopts...)
		if err = st.stack.Up(uctx); err != nil {
			return ctx, fmt.Errorf("drilltest: demo stack: %w", err)
		}
		dsn, err := st.stack.LedgerDSN()
		if err != nil {
			return ctx, fmt.Errorf("drilltest: %w", err)
		}
		if _, set := os.LookupEnv(LedgerDSNEnv); !set {
			if err := os.Setenv(LedgerDSNEnv, dsn); err != nil {
				return ctx, fmt.Errorf("drilltest: %w", err)
			}
			st.dsnSet = true
		}
	}
	c.log.Info("local cluster up", "name", c.name, "stack", withStack, "took", time.Since(start).Round(time.Millisecond))
	return context.WithValue(ctx, ctxKey{}, st), nil
}

// DestroyLocal returns an env.Func that takes down the local cluster (and
// the demo stack) a Create function started, checks that none of its
// processes, its bridge or its loopback ports are left, removes its
// temporary home, restores FIREDRILL_LEDGER_DSN and releases the machine
// lock. Without a local cluster in the context (ExistingOr used an
// existing one) it does nothing.
func DestroyLocal() env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		st, ok := ctx.Value(ctxKey{}).(*localState)
		if !ok {
			return ctx, nil
		}
		err := st.destroy(ctx)
		return context.WithValue(ctx, ctxKey{}, nil), err
	}
}

// destroy undoes whatever st holds; it is safe on a partly built state.
func (st *localState) destroy(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	defer live.remove(st)
	var errs []error
	if st.provider != nil {
		procs := recordProcesses(st)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		start := time.Now()
		var err error
		if st.stack != nil {
			err = st.stack.Down(dctx)
		} else {
			err = st.provider.Destroy(dctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drilltest: down: %w", err))
		}
		st.log.Info("local cluster down", "name", st.name, "took", time.Since(start).Round(time.Millisecond))
		if err := checkGone(dctx, procs, st.stack != nil); err != nil {
			errs = append(errs, err)
		}
	}
	if st.dsnSet {
		_ = os.Unsetenv(LedgerDSNEnv)
		st.dsnSet = false
	}
	if st.home != "" {
		if err := os.RemoveAll(st.home); err != nil {
			errs = append(errs, fmt.Errorf("drilltest: %w", err))
		}
		st.home = ""
	}
	if st.unlock != nil {
		st.unlock()
		st.unlock = nil
	}
	st.provider = nil
	return errors.Join(errs...)
}

// waitNoOtherCluster waits until no local cluster runs on the machine:
// its bridge is gone and the given ports are free.
func waitNoOtherCluster(ctx context.Context, ports []string) error {
	var why string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		why = ""
		if _, err := net.InterfaceByName(local.DefaultBridge); err == nil {
			why = "bridge " + local.DefaultBridge + " exists"
			return false, nil
		}
		for _, addr := range ports {
			if err := portFree(addr); err != nil {
				why = err.Error()
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("drilltest: another local cluster runs although this binary holds %s (%s): %w", local.MachineLockPath, why, err)
	}
	return nil
}

func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s still taken: %w", addr, err)
	}
	return l.Close()
}

// live is every localState this process created and has not destroyed
// yet, for DestroyAll.
var live = &registry{states: map[*localState]struct{}{}}

type registry struct {
	mu      sync.Mutex
	states  map[*localState]struct{}
	closing bool
}

// add tracks st; false once DestroyAll has begun.
func (r *registry) add(st *localState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.states[st] = struct{}{}
	return true
}

func (r *registry) remove(st *localState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.states, st)
}

func (r *registry) all() []*localState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*localState, 0, len(r.states))
	for st := range r.states {
		out = append(out, st)
	}
	return out
}

// DestroyAll tears down every local cluster (and demo stack) this process
// created with CreateLocalCluster or CreateDemoStack and has not destroyed
// yet: a creation still in progress is cancelled and cleans up after
// itself. After it, no new one can be created. It is what an interrupted
// suite calls (see DestroyOnSignal); DestroyLocal is the normal end.
func DestroyAll() error {
	live.mu.Lock()
	live.closing = true
	live.mu.Unlock()
	for _, st := range live.all() {
		st.cancel()
		<-st.done
	}
	var errs []error
	for _, st := range live.all() {
		errs = append(errs, st.destroy(context.Background()))
	}
	return errors.Join(errs...)
}

// DestroyOnSignal makes an interrupted suite (SIGINT, SIGTERM) call
// DestroyAll before it exits with code 1, so that Ctrl-C or a cancelled CI
// job leaves no cluster, demo stack or machine lock behind; a second signal
// exits at once. Call it in TestMain before running the tests.
func DestroyOnSignal() {
	_ = testenv.TearDownOnSignal("drilltest", DestroyAll)
}
