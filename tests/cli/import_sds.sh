#!/usr/bin/env bash
# `coffer import --format sds` (issue 16): a Microsoft School Data Sync
# v2.1 set, named or detected, gives a trip coffer exactly the students
# selected (never the teacher or a parent), its userFlags.csv and sensitive
# columns are dropped by name and their values appear nowhere in the output;
# a OneRoster/SDS mix is refused naming SDS; a mapping cannot carry
# userFlags into a field. What the coffer then shows (roster, profiles) is
# read back through a real mount in tests/integration/import_sds.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures/import" && pwd)
cp -r "$FIX/sds-v2.1" sds
pw=$(pwfile pw "$PW1")
make_coffer trip.coffer "$PW1"
before=$(sha256sum trip.coffer)

# Named and detected: the same dry run. The class selects 3 of the 4 pupils.
for format in "--format sds" ""; do
  # shellcheck disable=SC2086  # $format is one option or none
  expect_exit 0 "$COFFER" import trip.coffer --from sds $format --group '7A Geography' --dry-run
  expect_output_contains "SDS v2.1"
  expect_output_contains "3 of 4 pupils selected"
  expect_output_contains "userFlags.csv (the whole file)"
  expect_output_contains "raceCodes"
  for v in iep freeLunch 504 LEAK Leakcity Synthetic-Pass '@'; do expect_output_lacks "$v"; done
done
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "--dry-run changed the coffer"

# The teacher and a parent are not pupils: selecting them is refused by key.
expect_exit 2 "$COFFER" import trip.coffer --from sds --pupil tch-001 --pupil par-001 --dry-run
expect_output_contains "2 selected pupils are not in"
expect_output_contains "par-001, tch-001"

# The real import: three pupils, each with a guardian's phone.
expect_exit 0 "$COFFER" import trip.coffer --from sds --group '7A Geography' --passphrase-file "$pw"
expect_output_contains "imported 3 pupils"
for v in iep freeLunch 504 LEAK Synthetic-Pass; do expect_output_lacks "$v"; done
expect_fsck 0 trip.coffer "$PW1"

# OneRoster's manifest beside SDS's files: detection refuses to guess and
# names SDS; --format decides.
cp -r sds mixed
printf 'propertyName,value\noneroster.version,1.2\n' > mixed/manifest.csv
expect_exit 2 "$COFFER" import trip.coffer --from mixed --group '7A Geography' --dry-run
expect_output_contains "cannot tell OneRoster from Microsoft School Data Sync (SDS v2.1)"
expect_output_contains "--format oneroster or --format sds"
expect_exit 0 "$COFFER" import trip.coffer --from mixed --format sds --group '7A Geography' --dry-run

# A mapping that carries userFlags into a field is refused, naming the
# column and why (issue 16: "NOTES - iep - freeLunch - 504").
printf 'Adno,Surname,Forename,userFlags\n1001,Bloggs,Joe,iep - freeLunch - 504\n' > flags.csv
printf '[columns]\n"Adno" = "PupilKey"\n"Surname" = "Surname"\n"Forename" = "Forename"\n"userFlags" = "ActivityNotes"\n' \
  > flags.toml
before=$(sha256sum trip.coffer)
expect_exit 2 "$COFFER" import trip.coffer --from flags.csv --map flags.toml --pupil 1001 --passphrase-file "$pw"
expect_output_contains "flags.toml:5: column userFlags is on the deny-list and can never be imported (US student flags"
expect_output_lacks "freeLunch - 504"
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "a refused mapping changed the coffer"
echo "import_sds: ok"
