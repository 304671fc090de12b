package traffic

import (
	"log/slog"
	"net/http"
)

// DefaultSeed seeds the RNG that picks templates and feeds {{Rand N}}, so
// that runs are reproducible unless WithSeed says otherwise.
const DefaultSeed = 1

// MaxInFlightLimit caps the default pool of in-flight requests.
const MaxInFlightLimit = 10000

// Option configures a Generator.
type Option func(*config)

type config struct {
	log          *slog.Logger
	seed         uint64
	maxInFlight  int
	clientErrors bool
	client       *http.Client
	observer     func(Result)
}

func defaultConfig() config {
	return config{log: slog.New(slog.DiscardHandler), seed: DefaultSeed}
}

// WithLogger logs the run's start and end and target errors (default:
// nothing).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithSeed seeds the RNG that chooses templates and draws {{Rand N}}.
func WithSeed(seed uint64) Option {
	return func(c *config) { c.seed = seed }
}

// WithMaxInFlight bounds the requests in flight; a request scheduled while
// n are in flight counts as an "overload" error. The default is
// rate × timeout + 16 (at most MaxInFlightLimit), which only an overloaded
// client reaches.
func WithMaxInFlight(n int) Option {
	return func(c *config) { c.maxInFlight = n }
}

// WithClientErrorsAsErrors counts 4xx responses as errors; by default they
// are counted apart (Snapshot.ClientErrors) and not as errors.
func WithClientErrorsAsErrors(on bool) Option {
	return func(c *config) { c.clientErrors = on }
}

// WithHTTPClient sends requests with client instead of the generator's own
// keep-alive client sized to the pool. The client should not follow
// redirects nor set a Timeout: the generator bounds each request itself.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) { c.client = client }
}

// WithObserver calls fn with the result of every request, from the
// goroutine that finished it (so fn must be safe for concurrent use and
// quick).
func WithObserver(fn func(Result)) Option {
	return func(c *config) { c.observer = fn }
}
