#!/usr/bin/env bash
# make demo: the main job end to end on the embedded local cluster.
# Today it covers what has landed: the drill API. The README says plainly what
# it does not do yet.
set -euo pipefail
cd "$(dirname "$0")/.."
FIREDRILL=${FIREDRILL:-_out/bin/firedrill}

echo "==> validating the shipped drills"
"$FIREDRILL" validate drills/examples/*.yaml

echo
echo "==> not yet: bringing up the local cluster, the demo stack and running the drills"
echo "    (see README: 'What make demo does today')"
