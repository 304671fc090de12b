// Package prometheus runs a real Prometheus server on the host for the
// local cluster: it discovers pods through the cluster's Kubernetes API
// (kubernetes_sd_configs with the cluster's kubeconfig), scrapes those
// annotated prometheus.io/scrape=true every 500 ms, and loads alert rules
// that promtool has checked. The server is started and stopped by PID.
package prometheus
