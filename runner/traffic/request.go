package traffic

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"time"
)

// Result is the outcome of one request, as WithObserver reports it.
type Result struct {
	// Seq is the request number, from 0.
	Seq int64
	// Template is the index of the request template in the spec.
	Template int
	// Method and Path are the rendered request line.
	Method, Path string
	// Endpoint is the host:port the request went to ("" if not sent).
	Endpoint string
	// Intended is when the request was scheduled to be sent.
	Intended time.Time
	// Latency runs from Intended to the end of the response body; 0 for a
	// request that was not sent.
	Latency time.Duration
	// Status is the HTTP status code, 0 without a response.
	Status int
	// Kind is "" for a success, else the outcome's kind.
	Kind Kind
	// Error tells whether the outcome counts as an error.
	Error bool
	// Err is the transport or template error, if any.
	Err error
}

// newClient returns a keep-alive HTTP client sized for conns concurrent
// requests. It ignores proxy settings and does not follow redirects.
func newClient(conns int, dialTimeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// send sends r to endpoint with a deadline of intended+timeout and reads the
// whole response. The latency is measured from intended.
func (g *Generator) send(ctx context.Context, endpoint string, r rendered, intended time.Time) (outcome, int, time.Duration, error) {
	ctx, cancel := context.WithDeadline(ctx, intended.Add(g.timeout))
	defer cancel()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.tpl.method, "http://"+endpoint+r.path, body)
	if err != nil {
		return outcomeRequest, 0, 0, err
	}
	maps.Copy(req.Header, r.tpl.headers)
	if r.tpl.host != "" {
		req.Host = r.tpl.host
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return classify(ctx, err), 0, time.Since(intended), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	latency := time.Since(intended)
	if err != nil {
		return classify(ctx, err), resp.StatusCode, latency, err
	}
	switch {
	case resp.StatusCode >= 500:
		return outcomeServer, resp.StatusCode, latency, nil
	case resp.StatusCode >= 400:
		return outcomeClient, resp.StatusCode, latency, nil
	}
	return outcomeOK, resp.StatusCode, latency, nil
}

// classify tells a timeout from other transport errors.
func classify(ctx context.Context, err error) outcome {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return outcomeTimeout
	}
	return outcomeTransport
}
