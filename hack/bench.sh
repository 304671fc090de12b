#!/usr/bin/env bash
# make bench: benchmarks. Results go to _out/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
mkdir -p _out/bench
go test -run '^$' -bench . -benchmem ./drills | tee _out/bench/drills.txt
