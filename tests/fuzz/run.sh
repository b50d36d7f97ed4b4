#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, preset `fuzz`) and runs each for
# SECONDS (default 60), seeded from the fixtures. Crashes are kept in
# build/fuzz/crashes/ and make the script fail. COFFER_FUZZ_BUILD_DIR moves
# the build (and corpora, logs, crashes) elsewhere; COFFER_FUZZ_TARGETS runs
# a subset (names without fuzz_, e.g. "policy_toml ctf").
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
all_targets="header school_key oneroster ctf coffer_csv mapped_csv audit_sidecar policy_toml sds"
targets="${COFFER_FUZZ_TARGETS:-$all_targets}"
out="${COFFER_FUZZ_BUILD_DIR:-build/fuzz}"
mkdir -p "$out"
# The build's output is kept, and shown when it fails (else set -e would end
# the script without a word).
# shellcheck disable=SC2046,SC2086  # one word per target
if ! { cmake --preset fuzz -B "$out" && cmake --build "$out" --target $(printf 'fuzz_%s ' $targets); } \
    >"$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  echo "the fuzz targets did not build; see $out/build.log"
  exit 1
fi
mkdir -p "$out/crashes" "$out/corpus/header" "$out/corpus/school_key" "$out/corpus/oneroster" "$out/corpus/ctf" \
  "$out/corpus/coffer_csv" "$out/corpus/mapped_csv" "$out/corpus/audit_sidecar" "$out/corpus/policy_toml" \
  "$out/corpus/sds"
head -c 8192 tests/fixtures/format-v1.coffer > "$out/corpus/header/format-v1"
cp tests/fixtures/format-v1-school.pub tests/fixtures/format-v1-school.key "$out/corpus/school_key/"
# OneRoster: the files fuzz_oneroster.cpp expects, in its order, split by 0xFF.
or=tests/fixtures/import/oneroster-v1p1
{ for f in users demographics enrollments classes; do cat "$or/$f.csv"; printf '\377'; done
  cat "$or/manifest.csv"; } > "$out/corpus/oneroster/v1p1"
{ for f in users demographics enrollments classes; do cat "$or/$f.csv"; printf '\377'; done; } \
  > "$out/corpus/oneroster/v1p1-no-manifest"
cp tests/fixtures/import/ctf_synthetic_minimal.xml "$out/corpus/ctf/"
# SDS v2.1: the files fuzz_sds.cpp expects, in its order, split by 0xFF.
sds=tests/fixtures/import/sds-v2.1
{ for f in users roles demographics enrollments classes; do cat "$sds/$f.csv"; printf '\377'; done
  cat "$sds/relationships.csv"; } > "$out/corpus/sds/v2.1"
# coffer-csv: pupils.csv, 0xFF, contacts.csv (fuzz_coffer_csv.cpp); and pupils.csv alone.
cc=tests/fixtures/import/coffer-csv
{ cat "$cc/pupils.csv"; printf '\377'; cat "$cc/contacts.csv"; } > "$out/corpus/coffer_csv/fixture"
cp "$cc/pupils.csv" "$out/corpus/coffer_csv/pupils-only"
# mapped CSV: map.toml, 0xFF, report.csv (fuzz_mapped_csv.cpp).
mc=tests/fixtures/import/mapped-csv
{ cat "$mc/map.toml"; printf '\377'; cat "$mc/report.csv"; } > "$out/corpus/mapped_csv/fixture"
# ... and the census list, whose mapping reads one column into two fields.
cen=tests/fixtures/import/census
{ cat "$cen/census-map.toml"; printf '\377'; cat "$cen/census.csv"; } > "$out/corpus/mapped_csv/census"
# audit sidecar: the frozen fixture (sealed to the key fuzz_audit_sidecar.cpp uses).
cp tests/fixtures/format-v1.coffer.audit "$out/corpus/audit_sidecar/fixture"
# policy/profile TOML (fuzz_policy_toml.cpp feeds both parsers): every ```toml
# example in docs/ (policy, [copy], profiles, and the plan and mapping files
# for TOML's grammar), the mapping fixture, and a seed with every key.
awk -v dir="$out/corpus/policy_toml" '
  FNR == 1 { n = 0; base = FILENAME; sub(/.*\//, "", base) }
  /^```toml/ { n++; f = dir "/doc-" base "-" n; inside = 1; next }
  /^```/ && inside { inside = 0; close(f); next }
  inside { print > f }' docs/*.md
cp tests/fixtures/import/mapped-csv/map.toml "$out/corpus/policy_toml/fixture-map.toml"
cp tests/fuzz/seeds/policy_toml/*.toml "$out/corpus/policy_toml/"
# UBSan only prints and carries on unless told to halt; halting makes
# undefined behaviour a crash libFuzzer keeps, like an ASan report.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
status=0
for t in $targets; do
  echo "fuzz_$t: ${seconds}s"
  if ! "$out/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=9000 \
      -artifact_prefix="$out/crashes/fuzz_$t-" "$out/corpus/$t" >"$out/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t FOUND A CRASH; see $out/fuzz_$t.log and $out/crashes/"
    tail -30 "$out/fuzz_$t.log"
    status=1
  else
    grep -E '^#[0-9]+.*DONE' "$out/fuzz_$t.log" | tail -1 || tail -1 "$out/fuzz_$t.log"
  fi
done
exit $status
