#!/usr/bin/env bash
# Runs N crash trials (default 1000) of the fault-injection VFS against the
# real vault code, plus the I/O-error, disk-full and passphrase-change
# trials; see docs/RELIABILITY.md. Builds the release preset (build/) if
# needed; COFFER_BUILD_DIR uses another build. COFFER_FAULT_SEED sets the
# first seed (printed; a failure names its seed, rerun with it and N=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
trials="${1:-1000}"
build="${COFFER_BUILD_DIR:-build}"
if [[ $build == build ]]; then
  scripts/build.sh release >/dev/null
else
  cmake --build "$build" --target fault_test >/dev/null
fi
start=$(date +%s)
COFFER_FAULT_TRIALS="$trials" "$build/tests/fault/fault_test" --gtest_brief=0
echo "fault trials: $trials crash trials and the fixed I/O-error, disk-full and header trials in $(( $(date +%s) - start )) s"
