#!/usr/bin/env bash
# Fresh machine to a full test run: installs dependencies, builds into
# build/, runs the whole ctest suite (output shown for failures).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
