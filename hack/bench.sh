#!/usr/bin/env bash
# make bench: benchmarks, with results in _out/bench/. The local cluster
# benchmarks need root and the tool cache (make tools); they are skipped with a
# message otherwise. Benchmarks that bring a cluster up hold the machine lock,
# so they never overlap with a running test suite's cluster.
#
# The rollback benchmark (bench.TestBenchSuite, ~30 minutes) writes
# _out/bench/results.json, results.md and argo.json, its log to
# _out/bench/scenarios.txt. Knobs: BENCH_RUNS (bad-image pushes, default 20),
# BENCH_SCENARIO_RUNS (runs of each other drill, default 2), BENCH_SOAK (the
# healthy soak, default 10m; 0 skips it), BENCH_SOAK_REVISION (the soak rolls
# its workload to a fresh revision this often, so that the per-revision
# sequential test's false alarms per revision-hour cover several revisions;
# default 2m, 0 keeps one revision), BENCH_FAST_RUNS (pushes under the
# bench-only fast guard, bench/testdata/bad-image-fast.yaml, ~50 s each;
# default 0, so that the whole target stays under 30 minutes on 2 cores; with
# it on, the soak guards with that policy too), BENCH_SEQ_RUNS (the sequential part:
# pushes per error rate, 2 % and 5 %, of a degraded revision of payment-seq
# under a guard with only the statistical test, timed to its detection;
# default 5, ~2 min each, concurrently with the rest; 0 skips it),
# BENCH_ARGO (all | fastest | off; default all: Argo Rollouts at its fastest
# and at its documented settings, the latter ~22 minutes, concurrently with
# the rest).
#
# A smoke run of the suite alone, with every part short (under 10 minutes
# once the stack is up):
#   sudo env FIREDRILL_BENCH=1 FIREDRILL_REQUIRE_INTEGRATION=1 GOTOOLCHAIN=local \
#     BENCH_RUNS=1 BENCH_SCENARIO_RUNS=0 BENCH_ARGO=off BENCH_SOAK=4m \
#     BENCH_SOAK_REVISION=1m BENCH_SEQ_RUNS=1 \
#     go test -count=1 -timeout 45m -parallel 4 -run '^TestBenchSuite$' -v ./bench
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

	if [[ ${BENCH_ARGO:-all} != off ]]; then
		hack/build-argo-rollouts.sh >/dev/null
	fi
	echo "==> rollback engine on the local cluster: bad image x${BENCH_RUNS:-20} (+${BENCH_FAST_RUNS:-0} under the fast guard), healthy soak ${BENCH_SOAK:-10m} (a fresh revision every ${BENCH_SOAK_REVISION:-2m}), sequential test x${BENCH_SEQ_RUNS:-5} per error rate (2 %, 5 %), other drills x${BENCH_SCENARIO_RUNS:-2}, Argo Rollouts (${BENCH_ARGO:-all}) side by side"
	FIREDRILL_BENCH=1 BENCH_FAST_RUNS=${BENCH_FAST_RUNS:-0} FIREDRILL_REQUIRE_INTEGRATION=1 \
		go test -count=1 -timeout 45m -parallel 4 -run '^TestBenchSuite$' -v ./bench | tee _out/bench/scenarios.txt
	echo "==> every shipped drill against a Prometheus that scrapes every 15 s"
	FIREDRILL_SCRAPE_DRILLS=all FIREDRILL_REQUIRE_INTEGRATION=1 \
		go test -count=1 -timeout 30m -run '^TestRunAtStandardScrape$' -v ./runner | tee _out/bench/scrape15.txt
	echo "==> rollback results"
	cat _out/bench/results.md
else
	echo "==> skipping the local cluster benchmarks: they need root"
fi
echo "results in _out/bench/"
