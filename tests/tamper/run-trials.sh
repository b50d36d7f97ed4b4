#!/usr/bin/env bash
# Builds coffer-tamper-trials and runs N tamper trials (default 1000), the
# mutation kinds in turn; further arguments go to the tool (--seed S to
# repeat a run, --kind KIND, --verbose). Builds the release preset into
# build/, or into BUILD_DIR with the same cache variables.
# Exits non-zero on any failure (wrong data, a crash or hang, an unclear or
# leaking message); the tool prints the seed and a reproducer for each.
#
# Usage: tests/tamper/run-trials.sh [N] [--seed S] [--kind KIND] [--verbose]
set -euo pipefail
cd "$(dirname "$0")/../.."
trials=1000
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  trials=$1
  shift
fi
build="${BUILD_DIR:-build}"
if [[ $build == build ]]; then
  cmake --preset release >/dev/null
elif [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOFFER_WERROR=ON >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target coffer-tamper-trials >/dev/null
exec "$build/tests/tamper/coffer-tamper-trials" --trials "$trials" "$@"
