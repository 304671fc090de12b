package local

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"
)

// cancelOn is a slog handler that cancels a context when a component
// reaches a given progress message, to interrupt Create at a precise step.
type cancelOn struct {
	slog.Handler
	msg, component string
	cancel         context.CancelFunc
}

func (h *cancelOn) Enabled(context.Context, slog.Level) bool { return true }

func (h *cancelOn) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "component" && a.Value.String() == h.component {
				h.cancel()
			}
			return true
		})
	}
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

// TestCreateInterruptedLeavesNothing cancels Create (as Ctrl-C does) at two
// points and checks that nothing of the cluster is left, without calling
// Delete.
func TestCreateInterruptedLeavesNothing(t *testing.T) {
	requireIntegration(t)
	releaseShared(t)
	for _, tc := range []struct{ msg, component string }{
		{"started", compAPIServer},
		{"healthy", compKubelet},
	} {
		t.Run(tc.msg+"-"+tc.component, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			h := &cancelOn{Handler: testLogger().Handler(), msg: tc.msg, component: tc.component, cancel: cancel}
			cl := New(WithName("fdintr"), WithHome(shortHome(t)), WithLogger(slog.New(h)), WithModuleDir(moduleRoot()))
			// Remember what it starts: the PID files are gone after the
			// teardown.
			var refs map[string]procRef
			var cgPIDs []int
			done := make(chan error, 1)
			go func() { done <- cl.Create(ctx) }()
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for ctx.Err() == nil {
					if r := cl.pidFiles(); len(r) > len(refs) {
						refs = r
						cgPIDs = cl.cgroupPIDs()
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			err := <-done
			cancel() // stops the watcher, should Create have failed otherwise
			<-watched
			require.Error(t, err)
			require.True(t, errors.Is(err, context.Canceled), "%v", err)
			require.NoError(t, checkClean(context.Background(), cl, refs, cgPIDs, shared.chains))
		})
	}
}

// TestHelperCreate is not a test: TestCrashRecovery runs the test binary
// with it to create a cluster in a process it then kills with SIGKILL.
func TestHelperCreate(t *testing.T) {
	home := os.Getenv("FIREDRILL_LOCAL_TEST_HELPER_HOME")
	if home == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := New(WithName("fdcrash"), WithHome(home), WithModuleDir(moduleRoot()))
	require.NoError(t, cl.Create(ctx))
	<-ctx.Done() // wait to be killed
}

// TestCrashRecovery kills a firedrill process with SIGKILL in the middle of
// Create, leaving orphaned components, and checks that the next Create
// recovers: it cleans the stale cluster and brings up a healthy one.
func TestCrashRecovery(t *testing.T) {
	requireIntegration(t)
	releaseShared(t)
	home := shortHome(t)
	outPath := filepath.Join(t.TempDir(), "helper.log")
	out, err := os.Create(outPath)
	require.NoError(t, err)
	defer out.Close()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperCreate$", "-test.count=1")
	helper.Env = append(os.Environ(), "FIREDRILL_LOCAL_TEST_HELPER_HOME="+home)
	helper.Stdout, helper.Stderr = out, out
	require.NoError(t, helper.Start())
	exited := make(chan struct{})
	go func() { _ = helper.Wait(); close(exited) }()

	cl := New(WithName("fdcrash"), WithHome(home), WithLogger(testLogger()), WithModuleDir(moduleRoot()))
	// Kill it once the API server has been started: etcd and containerd
	// run, the API server is coming up, the rest is not started.
	apiPID := filepath.Join(cl.p.run, compAPIServer+".pid")
	err = wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		_, err := os.Stat(apiPID)
		return err == nil, nil
	})
	if err != nil {
		b, _ := os.ReadFile(outPath)
		t.Fatalf("the helper never started the API server: %v\nhelper output:\n%s", err, b)
	}
	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	<-exited
	orphans := cl.pidFiles()
	for _, name := range []string{compEtcd, compContainerd} {
		require.True(t, orphans[name].Alive(), "%s should be orphaned and running", name)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	require.NoError(t, cl.Create(ctx))
	st, err := cl.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Healthy(), "%+v", st.Components)
	for name, r := range orphans {
		require.False(t, r.Alive(), "orphaned %s (pid %d) should have been stopped", name, r.PID)
	}
	require.NoError(t, deleteAndCheckClean(cl, shared.chains))
}
