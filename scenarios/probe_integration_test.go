package scenarios

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/clusters/local/stack"
)

// probeTraffic is TrafficEvidence for the integration tests: a loop of GETs
// of path to every ready payment pod by IP, as the runner's traffic
// generator sends them.
type probeTraffic struct {
	timeout time.Duration
	mu      sync.Mutex
	log     []probeResult
}

type probeResult struct {
	ip  string
	at  time.Time
	out int // 0 ok, 1 5xx, 2 timeout, 3 transport
}

// startProbe sends GET path to each ready payment pod every interval until
// the test ends.
func startProbe(ctx context.Context, t *testing.T, cs kubernetes.Interface, path string, every time.Duration) *probeTraffic {
	t.Helper()
	p := &probeTraffic{timeout: 300 * time.Millisecond}
	ctx, cancel := context.WithCancel(ctx)
	client := &http.Client{Timeout: p.timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			list, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment"})
			if err == nil {
				for _, pod := range list.Items {
					if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || !podReady(&pod) {
						continue
					}
					ip, at := pod.Status.PodIP, time.Now()
					wg.Add(1)
					go func() {
						defer wg.Done()
						p.record(ip, at, send(client, ip, path))
					}()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return p
}

func send(c *http.Client, ip, path string) int {
	resp, err := c.Get("http://" + net.JoinHostPort(ip, "8080") + path)
	var ne net.Error
	switch {
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		return 2
	case err != nil:
		return 3
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return 1
	}
	return 0
}

func (p *probeTraffic) record(ip string, at time.Time, out int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, probeResult{ip: ip, at: at, out: out})
}

// Endpoint counts the probes of ip sent in [from, to] (whole requests,
// not seconds: close enough for the tests).
func (p *probeTraffic) Endpoint(ip string, from, to time.Time) EndpointCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c EndpointCounts
	for _, r := range p.log {
		if r.ip != ip || r.at.Before(from) || (!to.IsZero() && r.at.After(to)) {
			continue
		}
		c.Sent++
		switch r.out {
		case 0:
			c.Succeeded++
		case 1:
			c.Failed++
		case 2:
			c.TimedOut++
		default:
			c.Transport++
		}
	}
	return c
}
