#!/usr/bin/env bash
# make demo: the main job end to end on the embedded local cluster, as far as
# it exists today. It brings up the real demo stack (local Kubernetes,
# PostgreSQL, Prometheus, payment v1), validates the shipped drills, drives
# traffic at the service and shows what Prometheus saw, then tears it all
# down (KEEP=1 keeps it). Running the drills themselves (faults, engine,
# reports) is not built yet: the README says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
FIREDRILL=${FIREDRILL:-_out/bin/firedrill}
KUBECONFIG_PATH=${FIREDRILL_HOME:-/var/lib/firedrill}/clusters/firedrill/kubeconfig

if [[ $(id -u) -ne 0 ]]; then
	echo "make demo runs a real Kubernetes node and needs root" >&2
	exit 2
fi

echo "==> tools: host packages and pinned binaries (cached after the first build)"
hack/tools.sh

echo "==> validating the shipped drills"
"$FIREDRILL" validate drills/examples/*.yaml

down() {
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "==> KEEP=1: leaving the demo stack up (remove it with: $FIREDRILL demo down)"
	else
		echo "==> tearing the demo stack down"
		"$FIREDRILL" demo down
	fi
}
trap down EXIT

echo "==> bringing the demo stack up"
"$FIREDRILL" demo up

echo "==> 10 s of open-loop traffic at 50 requests/s against payment v1"
mkdir -p _out/demo
"$FIREDRILL" traffic --kubeconfig "$KUBECONFIG_PATH" --namespace firedrill-demo --service payment \
	--rate 50 --duration 10s --path '/balances/{{Rand 100}}' --max-error-rate 0.01 \
	| tee _out/demo/traffic.txt

echo "==> what Prometheus saw (requests per status code over the last 30 s)"
curl -fsS --get 'http://127.0.0.1:9090/api/v1/query' \
	--data-urlencode 'query=sum by (code) (increase(http_requests_total{namespace="firedrill-demo"}[30s]))' \
	| tee _out/demo/prometheus.json
echo

echo
echo "==> not yet: injecting the drills' faults, the rollback engine, and the JUnit/HTML reports"
echo "    (see README: 'What make demo does today')"
