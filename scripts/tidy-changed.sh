#!/usr/bin/env bash
# Runs clang-tidy-14 (checks in .clang-tidy) on the C++ files changed since a
# base commit (default HEAD~1, plus uncommitted changes) and fails on any
# finding. A changed header is checked through the changed .cpp files that
# include it and through its own .cpp (foo.h -> foo.cpp); unchanged headers
# are not reported, so old debt in them does not fail an unrelated change.
# Usage: scripts/tidy-changed.sh [BASE]   (compile database: $TIDY_BUILD, default build/tsa)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
base="${1:-HEAD~1}"
build="${TIDY_BUILD:-build/tsa}"

if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "tidy-changed: no commit $base to compare with; nothing checked" >&2
  exit 0
fi
# The compile database is written at configure time: no build needed.
if [[ ! -f "$build/compile_commands.json" ]]; then
  [[ "$build" == build/tsa ]] || { echo "tidy-changed: no $build/compile_commands.json" >&2; exit 2; }
  cmake --preset tsa >/dev/null
fi

mapfile -t changed < <(git diff --name-only --diff-filter=ACMR "$base" -- '*.cpp' '*.h')
sources=()
headers=()
for f in "${changed[@]}"; do
  case "$f" in
    *.h)
      headers+=("$f")
      # The header's own translation unit, wherever it lives (include/ vs src/).
      stem="$(basename "${f%.h}")"
      while IFS= read -r cpp; do sources+=("$cpp"); done < <(git ls-files "*/$stem.cpp")
      ;;
    *) sources+=("$f") ;;
  esac
done

files=()
for f in $(printf '%s\n' "${sources[@]}" | sort -u); do
  # Only files the build compiles (fuzz targets need the fuzz preset, for one).
  if grep -qF "\"file\": \"$root/$f\"" "$build/compile_commands.json"; then files+=("$f"); fi
done
if [[ ${#files[@]} -eq 0 ]]; then
  echo "tidy-changed: no compiled C++ file changed since $base" >&2
  exit 0
fi

# Report findings in the changed headers only (an empty filter: in none).
filter=""
for h in "${headers[@]}"; do
  escaped="$(printf '%s' "$root/$h" | sed 's/[][\.*^$+?(){}|]/\\&/g')"
  filter+="${filter:+|}^$escaped\$"
done

echo "tidy-changed: ${#files[@]} file(s) since $base: ${files[*]}" >&2
clang-tidy-14 -p "$build" --quiet --warnings-as-errors='*' --header-filter="$filter" "${files[@]}"
