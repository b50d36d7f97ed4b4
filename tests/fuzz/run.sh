#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, preset `fuzz`) and runs each for
# SECONDS (default 60), seeded from the fixtures. Crashes are kept in
# build/fuzz/crashes/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_header fuzz_school_key fuzz_oneroster fuzz_ctf fuzz_coffer_csv fuzz_mapped_csv fuzz_audit_sidecar >/dev/null
out=build/fuzz
mkdir -p "$out/crashes" "$out/corpus/header" "$out/corpus/school_key" "$out/corpus/oneroster" "$out/corpus/ctf" \
  "$out/corpus/coffer_csv" "$out/corpus/mapped_csv" "$out/corpus/audit_sidecar"
head -c 8192 tests/fixtures/format-v1.coffer > "$out/corpus/header/format-v1"
cp tests/fixtures/format-v1-school.pub tests/fixtures/format-v1-school.key "$out/corpus/school_key/"
# OneRoster: the files fuzz_oneroster.cpp expects, in its order, split by 0xFF.
or=tests/fixtures/import/oneroster-v1p1
{ for f in users demographics enrollments classes; do cat "$or/$f.csv"; printf '\377'; done
  cat "$or/manifest.csv"; } > "$out/corpus/oneroster/v1p1"
{ for f in users demographics enrollments classes; do cat "$or/$f.csv"; printf '\377'; done; } \
  > "$out/corpus/oneroster/v1p1-no-manifest"
cp tests/fixtures/import/ctf_synthetic_minimal.xml "$out/corpus/ctf/"
# coffer-csv: pupils.csv, 0xFF, contacts.csv (fuzz_coffer_csv.cpp); and pupils.csv alone.
cc=tests/fixtures/import/coffer-csv
{ cat "$cc/pupils.csv"; printf '\377'; cat "$cc/contacts.csv"; } > "$out/corpus/coffer_csv/fixture"
cp "$cc/pupils.csv" "$out/corpus/coffer_csv/pupils-only"
# mapped CSV: map.toml, 0xFF, report.csv (fuzz_mapped_csv.cpp).
mc=tests/fixtures/import/mapped-csv
{ cat "$mc/map.toml"; printf '\377'; cat "$mc/report.csv"; } > "$out/corpus/mapped_csv/fixture"
# audit sidecar: the frozen fixture (sealed to the key fuzz_audit_sidecar.cpp uses).
cp tests/fixtures/format-v1.coffer.audit "$out/corpus/audit_sidecar/fixture"
status=0
for t in header school_key oneroster ctf coffer_csv mapped_csv audit_sidecar; do
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
