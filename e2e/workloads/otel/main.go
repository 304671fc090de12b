// Command otel is a small HTTP workload instrumented with the OpenTelemetry
// SDK (otelhttp and the Prometheus exporter), for drills against a service
// firedrill did not write: its request metrics are the OpenTelemetry
// semantic conventions' http_server_request_duration_seconds{http_response_status_code}.
//
// It serves GET /items/{id} and GET /healthz on --listen and /metrics on
// --metrics-listen. ERROR_SHARE (or --error-share) is the share of /items
// requests answered with HTTP 500: a bad release sets it; GREETING is only
// echoed back, so changing it is a harmless release.
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
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

func main() {
	share, _ := strconv.ParseFloat(os.Getenv("ERROR_SHARE"), 64)
	listen := flag.String("listen", ":8080", "address of the API")
	metrics := flag.String("metrics-listen", ":9464", "address of /metrics")
	flag.Float64Var(&share, "error-share", share, "share of /items requests answered with 500 (env ERROR_SHARE)")
	flag.Parse()
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello"
	}

	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		log.Fatalf("otel prometheus exporter: %v", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if share > 0 && rand.Float64() < share {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"id\": %q, \"greeting\": %q}\n", r.PathValue("id"), greeting)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	api := &http.Server{Addr: *listen, Handler: otelhttp.NewHandler(mux, "otel-workload", otelhttp.WithMeterProvider(mp)), ReadHeaderTimeout: 5 * time.Second}
	mon := &http.Server{Addr: *metrics, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	for _, s := range []*http.Server{api, mon} {
		go func() {
			if err := s.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatalf("listen %s: %v", s.Addr, err)
			}
		}()
	}
	log.Printf("otel workload on %s (metrics on %s), error share %g", *listen, *metrics, share)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = api.Shutdown(sctx)
	_ = mon.Shutdown(sctx)
}
