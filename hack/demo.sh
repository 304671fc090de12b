#!/usr/bin/env bash
# make demo: the main job end to end on the embedded local cluster. It
# installs what is missing (host packages, pinned binaries, cached), brings up
# the real demo stack (local Kubernetes, PostgreSQL, Prometheus, payment v1),
# runs the shipped drills with the rollback engine guarding the service (bad
# image, bad config on the canary track, pod kill, network partition, data
# corruption, a release that corrupts data), writes the reports and the
# published site, prints where they are, and tears it all down (KEEP=1 keeps
# the cluster).
#
# Outputs:
#   _out/demo/junit.xml         one testsuite per drill (this demo's drills)
#   _out/demo/results.json      the same results, versioned JSON
#   _out/demo/summary.md        Markdown summary
#   _out/demo/report.html       self-contained HTML report
#   _out/demo/runs/RUNID.json   one file per drill run (kept across demos)
#   _out/demo/site/index.html   the published site with trends over demos
#
# Exit code: 0 every drill passed, 1 a verdict failed, 2 a drill could not
# run (or the stack could not come up).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
FIREDRILL=${FIREDRILL:-_out/bin/firedrill}
OUT=${OUT:-_out/demo}
DRILLS=drills/examples

if [[ $(id -u) -ne 0 ]]; then
	echo "make demo runs a real Kubernetes node and needs root" >&2
	exit 2
fi

# One local cluster per machine: hold the machine lock the Go code uses
# (clusters/local.LockMachine) for the whole demo, so that a test suite
# started meanwhile waits instead of fighting over ports. flock -o keeps
# the lock out of the processes the demo starts.
LOCK=/run/lock/firedrill-local-cluster.lock
if [[ -z ${FIREDRILL_DEMO_LOCKED:-} ]]; then
	mkdir -p "$(dirname "$LOCK")"
	export FIREDRILL_DEMO_LOCKED=1
	echo "==> waiting for the machine's local-cluster lock ($LOCK)"
	exec flock -o -w 3600 "$LOCK" "$0" "$@"
fi

echo "==> tools: host packages and pinned binaries (cached after the first build)"
hack/tools.sh >/dev/null

echo "==> validating the shipped drills"
"$FIREDRILL" validate "$DRILLS"/*.yaml

down() {
	local rc=$?
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "==> KEEP=1: leaving the demo stack up (remove it with: $FIREDRILL demo down)"
		"$FIREDRILL" demo canary down >/dev/null 2>&1 || true
	else
		echo "==> tearing the demo stack down"
		"$FIREDRILL" demo down || rc=2
	fi
	exit "$rc"
}
trap down EXIT

echo "==> bringing the demo stack up"
"$FIREDRILL" demo up

mkdir -p "$OUT/runs"
stamp=$(mktemp "$OUT/.demo-start.XXXXXX")
worst=0
note() { # keep the worst exit code: 2 beats 1 beats 0
	local rc=$1
	if ((rc == 2 || (rc == 1 && worst == 0))); then worst=$rc; fi
}
run() {
	local rc=0
	"$FIREDRILL" run --local --report-dir "$OUT" "$@" || rc=$?
	note "$rc"
}

echo "==> drill: bad image (payment:v2-buggy), guarded by the rollback engine"
run "$DRILLS/bad-image.yaml"

echo "==> drill: bad config on the canary track (adds payment-canary for this drill only)"
if "$FIREDRILL" demo canary up; then
	run "$DRILLS/bad-config.yaml"
	"$FIREDRILL" demo canary down || note 2
else
	note 2
fi

echo "==> drills: pod kill, network partition (5 minutes), data corruption, a release that corrupts data"
run "$DRILLS/pod-kill.yaml" "$DRILLS/network-partition-weekly.yaml" "$DRILLS/data-corruption.yaml" "$DRILLS/corrupt-release.yaml"

echo "==> reports of this demo's drills"
# In the order the drills ran (file times), not by name.
mapfile -t results < <(find "$OUT/runs" -maxdepth 1 -name '*.json' -newer "$stamp" -printf '%T@ %p\n' | sort -n | cut -d' ' -f2-)
rm -f "$stamp"
if ((${#results[@]} == 0)); then
	echo "no drill wrote a result" >&2
	exit 2
fi
for f in junit.xml results.json summary.md report.html; do
	"$FIREDRILL" report render "${results[@]}" --out "$OUT/$f"
done
"$FIREDRILL" report publish "$OUT/runs" --out "$OUT/site"

echo
cat "$OUT/summary.md"
echo
echo "Reports:"
for f in junit.xml results.json summary.md report.html site/index.html; do
	echo "  $OUT/$f"
done
exit "$worst"
