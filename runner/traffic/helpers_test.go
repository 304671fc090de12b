package traffic

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// server is a loopback test server that counts requests by path.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	byPath map[string]int
	total  int
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{byPath: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.byPath[r.URL.RequestURI()]++
		s.total++
		s.mu.Unlock()
		if h == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) addr() string { return strings.TrimPrefix(s.URL, "http://") }

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *server) paths() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.byPath))
	for k, v := range s.byPath {
		out[k] = v
	}
	return out
}

// results collects observed request results.
type results struct {
	mu   sync.Mutex
	list []Result
}

func (r *results) observe(res Result) {
	r.mu.Lock()
	r.list = append(r.list, res)
	r.mu.Unlock()
}

func (r *results) all() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.list...)
}

// spec is a traffic spec with the given rate, duration and paths.
func spec(rate float64, d time.Duration, timeout time.Duration, paths ...string) drills.Traffic {
	s := drills.Traffic{Rate: rate, Timeout: drills.D(timeout)}
	if d > 0 {
		s.Duration = drills.D(d)
	}
	for _, p := range paths {
		s.Requests = append(s.Requests, drills.RequestTemplate{Path: p})
	}
	return s
}

// run builds a generator and runs it to the end, bounded by a test timeout.
func run(t *testing.T, targets Targets, sp drills.Traffic, opts ...Option) *Generator {
	t.Helper()
	g, err := New(targets, sp, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, g.Run(ctx))
	require.NoError(t, ctx.Err(), "run did not stop by itself")
	return g
}

// blockUntilDone makes a handler wait for the client to give up (bounded,
// so that the server can always close).
func blockUntilDone(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}
