#!/usr/bin/env bash
# `coffer import` of a DfE census-style pupil list through a mapping
# (tests/fixtures/import/census): every bad row is reported in one run, with
# file, line and column and one summary, and nothing is imported (the coffer
# file is unchanged); the clean list imports, its UPN column read as both the
# pupil key and the UPN, with every check letter verified.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures/import/census" && pwd)
cd "$WORK"
cp "$FIX"/census.csv "$FIX"/census-clean.csv "$FIX"/census-map.toml .
pw=$(pwfile pw "$PW1")
make_coffer trip.coffer "$PW1"
year5=(--group 5A --group 5B --group 5C --allow-missing)  # the census has no contacts

# The lines whose DOB is US-style with the day over 12 (MM/DD/YYYY read as
# DD/MM/YYYY): 43 of them.
mapfile -t bad < <(awk -F, 'NR > 1 { split($8, d, "/"); if (d[2] + 0 > 12) print NR }' census.csv)
[[ ${#bad[@]} -eq 43 ]] || fail "the fixture should have 43 US dates, has ${#bad[@]}"

before=$(sha256sum trip.coffer)
expect_exit 2 "$COFFER" import trip.coffer --from census.csv --map census-map.toml "${year5[@]}" \
  --passphrase-file "$pw"
# The first error after "coffer: error: ", every other one on a line of its
# own, then the summary.
grep -qxE "coffer: error: census\.csv:${bad[0]}: column DOB \(8\): .*" "$ERR" || { show_last; fail "first line"; }
for n in "${bad[@]:1}"; do
  grep -qxE "  census\.csv:$n: column DOB \(8\): not a date in DD/MM/YYYY form \(as date_format in census-map\.toml says\).*US MM/DD/YYYY.*" "$ERR" ||
    { show_last; fail "line $n is not reported"; }
done
expect_output_contains "  43 rows in census.csv could not be read; nothing was imported"
[[ $(grep -c 'census\.csv:[0-9]*: ' "$ERR") -eq 43 ]] || { show_last; fail "not exactly 43 errors"; }
expect_output_lacks "# dates"          # the coffer-csv hint is not for a mapped file
expect_output_lacks "Quillfeather"     # no pupil's name
expect_output_lacks "/2016"            # nor a date
expect_output_lacks "x0A"
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "a refused import changed the coffer"
# A dry run says the same and writes nothing.
expect_exit 2 "$COFFER" import trip.coffer --from census.csv --map census-map.toml "${year5[@]}" --dry-run
expect_output_contains "43 rows in census.csv could not be read"

# Good rows of the bad file: wrong check letters and a digit for a check
# letter are warnings, worded by what is wrong; the UPN is the pupil key.
expect_exit 0 "$COFFER" import trip.coffer --from census.csv --map census-map.toml --allow-missing \
  --pupil B999777715005 --pupil 1999777715013 --dry-run
expect_output_contains "census.csv:6: column UPN (3): UPN check letter is wrong"
expect_output_contains "census.csv:14: column UPN (3): UPN must start with a letter (check letter); kept"
expect_output_lacks "13-character"
expect_output_contains "2 of 60 pupils selected"
expect_output_contains "dropped, never imported (deny-listed): FSMeligible, Language, SENProvision"

# The clean list imports: all 60, no UPN warning (every check letter is right).
expect_exit 0 "$COFFER" import trip.coffer --from census-clean.csv --map census-map.toml "${year5[@]}" \
  --passphrase-file "$pw"
expect_output_contains "imported 60 pupils"
expect_output_contains "(60 in the coffer)"
expect_output_lacks "check letter"
expect_output_lacks "column UPN"
# ... and the bad list still adds nothing to them.
expect_exit 2 "$COFFER" import trip.coffer --from census.csv --map census-map.toml "${year5[@]}" \
  --passphrase-file "$pw"
expect_exit 0 "$COFFER" import trip.coffer --from census-clean.csv --map census-map.toml --pupil P999777715001 \
  --allow-missing --passphrase-file "$pw"
expect_output_contains "(60 in the coffer)"
echo "census: ok"
