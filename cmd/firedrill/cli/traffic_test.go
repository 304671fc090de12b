package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runTrafficCmd runs `firedrill traffic` through cobra and returns the exit
// code Execute would return, stdout and stderr.
func runTrafficCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := newTrafficCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	require.NoError(t, ctx.Err(), "the command did not stop by itself")
	code := ExitOK
	if err != nil {
		code = ExitError
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errOut.WriteString("Error: " + err.Error() + "\n")
	}
	return code, out.String(), errOut.String()
}

// requestLog is a loopback server that records "METHOD path" per request.
type requestLog struct {
	mu   sync.Mutex
	seen map[string]int
}

func newTrafficServer(t *testing.T, status int) (string, *requestLog) {
	t.Helper()
	rl := &requestLog{seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl.mu.Lock()
		rl.seen[r.Method+" "+r.URL.Path]++
		rl.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rl
}

func TestTrafficCommandRunsAndSummarises(t *testing.T) {
	addr, rl := newTrafficServer(t, http.StatusOK)
	code, out, errOut := runTrafficCmd(t, "--target", addr, "--rate", "20", "--duration", "1s",
		"--path", "/ok", "--path", "post:/pay/{{.Seq}}", "--max-error-rate", "0.01")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "requests   20 in 1s (20.0/s)")
	require.Contains(t, out, "errors     0 (0.00%)")
	require.Contains(t, out, "latency    p50 ")
	require.Regexp(t, `traffic +1s +sent +20\.0/s +ok +20\.0/s +errors +0 `, errOut, "a live line per second")

	rl.mu.Lock()
	defer rl.mu.Unlock()
	gets, posts := rl.seen["GET /ok"], 0
	for k, n := range rl.seen {
		if strings.HasPrefix(k, "POST /pay/") {
			posts += n
		}
	}
	require.Equal(t, 20, gets+posts)
	require.Positive(t, gets)
	require.Positive(t, posts)
}

func TestTrafficCommandMaxErrorRateExceeded(t *testing.T) {
	addr, _ := newTrafficServer(t, http.StatusInternalServerError)
	code, out, errOut := runTrafficCmd(t, "--target", addr, "--rate", "20", "--duration", "500ms", "--max-error-rate", "0.1")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, out, "errors     10 (100.00%): 5xx 10")
	require.Contains(t, errOut, "exceeds --max-error-rate 10.00%")

	// Without --max-error-rate the run itself succeeds.
	code, _, errOut = runTrafficCmd(t, "--target", addr, "--rate", "20", "--duration", "500ms")
	require.Equal(t, ExitOK, code, errOut)
}

func TestTrafficCommand4xx(t *testing.T) {
	addr, _ := newTrafficServer(t, http.StatusNotFound)
	code, out, errOut := runTrafficCmd(t, "--target", addr, "--rate", "20", "--duration", "500ms", "--max-error-rate", "0")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "4xx        10 (not counted as errors)")
	code, out, _ = runTrafficCmd(t, "--target", addr, "--rate", "20", "--duration", "500ms", "--max-error-rate", "0", "--count-4xx")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, out, "errors     10 (100.00%): 4xx 10")
}

func TestTrafficCommandUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no duration":         {[]string{"--target", "127.0.0.1:1"}, "--duration is required"},
		"duration too long":   {[]string{"--target", "127.0.0.1:1", "--duration", "2h"}, "--duration must be"},
		"no target":           {[]string{"--duration", "1s"}, "give --target"},
		"both":                {[]string{"--target", "127.0.0.1:1", "--service", "pay", "--duration", "1s"}, "not both"},
		"stray namespace":     {[]string{"--target", "127.0.0.1:1", "-n", "shop", "--duration", "1s"}, "go with --service"},
		"bad target":          {[]string{"--target", "localhost", "--duration", "1s"}, "host:port"},
		"bad path":            {[]string{"--target", "127.0.0.1:1", "--duration", "1s", "--path", "GET:ok"}, "METHOD:/path"},
		"bad method":          {[]string{"--target", "127.0.0.1:1", "--duration", "1s", "--path", "TRACE:/"}, "unsupported method"},
		"bad rate":            {[]string{"--target", "127.0.0.1:1", "--duration", "1s", "--rate", "0"}, "--rate"},
		"bad max rate":        {[]string{"--target", "127.0.0.1:1", "--duration", "1s", "--max-error-rate", "2"}, "--max-error-rate"},
		"unknown flag":        {[]string{"--nope"}, "unknown flag"},
		"bad via":             {[]string{"--service", "pay", "--via", "ingress", "--duration", "1s"}, `--via "ingress": want endpoints or service`},
		"via without service": {[]string{"--target", "127.0.0.1:1", "--via", "service", "--duration", "1s"}, "--via: kubectl flags and --port go with --service"},
		"missing kubeconfig":  {[]string{"--service", "pay", "--kubeconfig", "/nonexistent/kubeconfig", "--duration", "1s"}, "kubeconfig"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runTrafficCmd(t, tc.args...)
			require.Equal(t, ExitError, code, errOut)
			require.Contains(t, errOut, tc.want)
		})
	}
}
