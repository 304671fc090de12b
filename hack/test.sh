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

# The unit tests only (-short skips the cluster), under the race detector:
# racing the integration run as well would double the CI time.
echo "==> go test -race -short ./... (unit tests, race detector)"
go test -race -short -count=1 -timeout "$TEST_TIMEOUT" ./...

echo "==> go test ./... (timeout ${TEST_TIMEOUT})"
go test -count=1 -timeout "$TEST_TIMEOUT" ./...
