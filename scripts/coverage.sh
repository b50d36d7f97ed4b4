#!/usr/bin/env bash
# Line coverage of the unit and cli tests (ctest labels unit and cli): builds
# the coverage preset (gcc --coverage, build/coverage), runs those tests and
# prints each module's line coverage with gcovr. Per-file figures are left in
# build/coverage/coverage.json; `--html` also writes build/coverage/html/.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=(common keystore vault fusefs guard cli)
out=build/coverage

scripts/build.sh coverage
# Counters add up across runs: start from zero so the figures are this run's.
find "$out" -name '*.gcda' -delete
status=0
ctest --test-dir "$out" -L '^(unit|cli)$' --output-on-failure -j "$(nproc)" || status=$?

filters=()
for m in "${modules[@]}"; do filters+=(--filter "$m/"); done
gcovr -r . --object-directory "$out" "${filters[@]}" -j "$(nproc)" \
  --json-summary "$out/coverage.json" --json-summary-pretty
if [[ "${1:-}" == "--html" ]]; then
  mkdir -p "$out/html"
  gcovr -r . --object-directory "$out" "${filters[@]}" -j "$(nproc)" --html-details "$out/html/index.html"
fi

python3 - "$out/coverage.json" "${modules[@]}" <<'EOF'
import json, sys
files = json.load(open(sys.argv[1]))["files"]
print(f"{'module':<10} {'lines':>7} {'covered':>8} {'cover':>7}")
total = covered = 0
for m in sys.argv[2:]:
    t = sum(f["line_total"] for f in files if f["filename"].startswith(m + "/"))
    c = sum(f["line_covered"] for f in files if f["filename"].startswith(m + "/"))
    total, covered = total + t, covered + c
    print(f"{m:<10} {t:>7} {c:>8} {100.0 * c / t if t else 0:>6.1f}%")
print(f"{'total':<10} {total:>7} {covered:>8} {100.0 * covered / total if total else 0:>6.1f}%")
EOF
[[ $status -eq 0 ]] || echo "coverage: some tests failed (ctest status $status); figures are of this run" >&2
exit "$status"
