// Command webapp is the local cluster integration test's workload: it
// answers every request on / with the value of its VERSION environment
// variable and /healthz with "ok".
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	version := os.Getenv("VERSION")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, version)
	})
	addr := ":8080"
	if a := os.Getenv("ADDR"); a != "" {
		addr = a
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("webapp %s listening on %s", version, addr)
	log.Fatal(srv.ListenAndServe())
}
