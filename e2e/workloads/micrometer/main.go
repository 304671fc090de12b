// Command micrometer is a small HTTP workload that reports its requests the
// way Spring Boot's Micrometer does on Prometheus,
// http_server_requests_seconds_{count,sum,bucket}{method,uri,status,outcome,exception},
// for drills against a service firedrill did not write.
//
// It serves GET /orders/{id} and GET /actuator/health on --listen and
// /actuator/prometheus on the same port, as Spring Boot does. ERROR_SHARE
// (or --error-share) is the share of /orders requests answered with HTTP
// 500: a bad release sets it; GREETING is only echoed back, so changing it
// is a harmless release.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// requests is Micrometer's http.server.requests timer as its Prometheus
// registry exposes it (with percentile histograms on).
var requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "http_server_requests_seconds",
	Help:    "Duration of HTTP server request handling",
	Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
}, []string{"method", "uri", "status", "outcome", "exception"})

// recorder keeps the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// timed records one request under the route's uri template.
func timed(uri string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		outcome, exception := "SUCCESS", "None"
		switch {
		case rec.status >= 500:
			outcome, exception = "SERVER_ERROR", "IllegalStateException"
		case rec.status >= 400:
			outcome = "CLIENT_ERROR"
		}
		requests.WithLabelValues(r.Method, uri, strconv.Itoa(rec.status), outcome, exception).Observe(time.Since(start).Seconds())
	}
}

func main() {
	share, _ := strconv.ParseFloat(os.Getenv("ERROR_SHARE"), 64)
	listen := flag.String("listen", ":8080", "address of the API, health and metrics")
	flag.Float64Var(&share, "error-share", share, "share of /orders requests answered with 500 (env ERROR_SHARE)")
	flag.Parse()
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(requests)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", timed("/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		if share > 0 && rand.Float64() < share {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"id\": %q, \"greeting\": %q}\n", r.PathValue("id"), greeting)
	}))
	mux.HandleFunc("GET /actuator/health", timed("/actuator/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"UP"}`)
	}))
	mux.Handle("GET /actuator/prometheus", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("listen %s: %v", *listen, err)
		}
	}()
	log.Printf("micrometer workload on %s, error share %g", *listen, share)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
