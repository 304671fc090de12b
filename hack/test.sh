#!/usr/bin/env bash
# make test: every test this machine can run. As root it first installs the
# host packages and builds the pinned cluster binaries (cached, once per pin),
# then requires the integration tests on the real local cluster to run rather
# than skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

TEST_TIMEOUT=${TEST_TIMEOUT:-40m}
FUZZTIME=${FUZZTIME:-10s}

if [[ $(id -u) -eq 0 ]]; then
	echo "==> tools: host packages and pinned binaries (cached after the first build)"
	hack/tools.sh
	# The real Argo Rollouts controller, for the engine's Rollout revert test.
	hack/build-argo-rollouts.sh >/dev/null
	export FIREDRILL_REQUIRE_INTEGRATION=1
else
	echo "==> not root: integration tests on the local cluster will be skipped (they need root)"
fi

echo "==> fuzz: drill loader for ${FUZZTIME}"
go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime "$FUZZTIME" ./drills

# The unit tests only, under the race detector: -short skips the cluster
# tests unless FIREDRILL_REQUIRE_INTEGRATION is set, so it is unset for this
# step (racing the integration run as well would double the CI time).
echo "==> go test -race -short ./... (unit tests, race detector)"
env -u FIREDRILL_REQUIRE_INTEGRATION go test -race -short -count=1 -timeout "$TEST_TIMEOUT" ./...

# One package at a time: the integration packages each bring up the
# machine's one local cluster and would otherwise queue on its lock, their
# own test timeout running while they wait. Build every test binary first,
# in parallel, so that only the runs are serial.
echo "==> go test ./... (one package at a time, timeout ${TEST_TIMEOUT} each)"
go test -count=1 -run '^$' ./... >/dev/null
go test -p 1 -count=1 -timeout "$TEST_TIMEOUT" ./...
