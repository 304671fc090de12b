#!/usr/bin/env bash
# make bench: benchmarks, with results in _out/bench/. The local cluster
# benchmark needs root and the tool cache (make tools); it is skipped with a
# message otherwise. Benchmarks that bring a cluster up hold the machine lock,
# so they never overlap with a running test suite's cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
mkdir -p _out/bench

echo "==> drill loader"
go test -run '^$' -bench . -benchmem ./drills | tee _out/bench/drills.txt

echo "==> traffic generator accuracy at 500 requests/s (loopback test server with known latency)"
go test -run '^$' -bench Accuracy -benchtime 1x ./runner/traffic | tee _out/bench/traffic.txt

if [[ $(id -u) -eq 0 ]]; then
	hack/tools.sh >/dev/null
	echo "==> local cluster: up to a Ready node (tools built), control-plane RSS"
	go test -run '^$' -bench ClusterUp -benchtime 3x -timeout 20m ./clusters/local | tee _out/bench/cluster.txt
else
	echo "==> skipping the local cluster benchmark: it needs root"
fi
echo "results in _out/bench/"
