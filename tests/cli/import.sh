#!/usr/bin/env bash
# `coffer import`: only the selected pupils and the profile's fields go in,
# deny-listed columns are dropped and named (never their values), a bad row
# names file, line and column and imports nothing, --dry-run writes nothing.
# Needs DEMO_SCHOOL (the coffer-demo-school binary) in the environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WORK"
[[ -x ${DEMO_SCHOOL:-} ]] || fail "DEMO_SCHOOL is not set to the generator"
"$DEMO_SCHOOL" --out mis >/dev/null
pw=$(pwfile pw "$PW1")
make_coffer trip.coffer "$PW1"

# Dry run: the summary, and the coffer file unchanged.
before=$(sha256sum trip.coffer)
expect_exit 0 "$COFFER" import trip.coffer --from mis --group 7A --dry-run
expect_output_contains "25 of 600 pupils selected"
expect_output_contains "Ethnicity, FSMeligible, SENProvision"
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "--dry-run changed the coffer"

# A trip takes only a selection.
expect_exit 2 "$COFFER" import trip.coffer --from mis --passphrase-file "$pw"
expect_output_contains "whole-school import is refused"

# P00097's only contact has no phone: refused for a trip, unless allowed.
expect_exit 2 "$COFFER" import trip.coffer --from mis --pupil P00096 --pupil P00097 --passphrase-file "$pw"
expect_output_contains "P00097"
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "a refused import changed the coffer"

# The real import: exactly the selected pupils.
printf 'P00003\n# a comment\nP00030\n' > list.txt
expect_exit 0 "$COFFER" import trip.coffer --from mis --pupil P00001 --pupil P00002 --pupils-file list.txt \
  --passphrase-file "$pw"
expect_output_contains "imported 4 pupils"
expect_output_contains "(4 in the coffer)"

# An unknown pupil key is named; nothing is imported.
expect_exit 2 "$COFFER" import trip.coffer --from mis --pupil P99999 --passphrase-file "$pw"
expect_output_contains "P99999"

# A bad date on a selected pupil's row: file, line and column; nothing imported.
awk -F, 'BEGIN{OFS=","} NR==6 {$7="2015-02-30"} {print}' mis/pupils.csv > bad.csv
mkdir bad && mv bad.csv bad/pupils.csv && cp mis/contacts.csv bad/
expect_exit 2 "$COFFER" import trip.coffer --from bad --pupil P00005 --pupil P00006 --passphrase-file "$pw"
expect_output_contains "pupils.csv:6: column DOB (7)"
expect_output_lacks "2015-02-30"
expect_exit 0 "$COFFER" import trip.coffer --from mis --pupil P00001 --dry-run
expect_output_contains "1 of 600"

# What is inside: the manifest lists exactly the 4 keys (read through fsck's
# unlock path is not enough; the mount tests read manifest.txt). Here: the
# coffer checks out and no deny-listed value is anywhere in the file.
expect_fsck 0 trip.coffer "$PW1"
for v in WBRI WIRI; do
  ! grep -qa "$v" trip.coffer || fail "a deny-listed value is in the coffer file"
done

# A mapped CSV from another report layout; unmapped columns reported by name.
cat > sims.csv <<'CSV'
Adno,Legal Surname,Legal Forename,Reg,DOB,Medical,Religion,Home Address,Contact 1 Name,Contact 1 Mobile,Notes
1001,Bloggs,Joe,5B,14/03/2015,Asthma,None,"1 Road, Town",Jane Bloggs,07700900111,likes trains
CSV
cat > map.toml <<'TOML'
date_format = "DD/MM/YYYY"
[columns]
"Adno" = "PupilKey"
"Legal Surname" = "Surname"
"Legal Forename" = "Forename"
"Reg" = "RegGroup"
"DOB" = "DOB"
"Medical" = "MedicalSummary"
"Contact 1 Name" = "Contact1.Forename"
"Contact 1 Mobile" = "Contact1.MobilePhone"
TOML
expect_exit 0 "$COFFER" import trip.coffer --from sims.csv --map map.toml --pupil 1001 --passphrase-file "$pw"
expect_output_contains "dropped, never imported (deny-listed): Home Address, Religion"
expect_output_contains "other columns not carried: Notes"
expect_output_contains "(5 in the coffer)"
# A mapping onto a deny-listed target is refused with its line.
printf '[columns]\n"Adno" = "PupilKey"\n"Religion" = "Religion"\n' > badmap.toml
expect_exit 2 "$COFFER" import trip.coffer --from sims.csv --map badmap.toml --pupil 1001 --dry-run
expect_output_contains "badmap.toml:3"
# A mapping may not carry a deny-listed column under another name: the
# source header is checked as well as the target (exit 2, file and line).
before=$(sha256sum trip.coffer)
printf '[columns]\n"Adno" = "PupilKey"\n"Legal Surname" = "Surname"\n"Legal Forename" = "Forename"\n"Religion" = "DietaryNeeds"\n' > denymap.toml
expect_exit 2 "$COFFER" import trip.coffer --from sims.csv --map denymap.toml --pupil 1001 --passphrase-file "$pw"
expect_output_contains "denymap.toml:5"
expect_output_contains "Religion is on the deny-list and can never be imported"
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "a refused mapping changed the coffer"

# A missing source is a clear error with the path, never "internal error".
expect_exit 2 "$COFFER" import trip.coffer --format oneroster --from nodir --pupil 1 --passphrase-file "$pw"
expect_output_contains "nodir: no such file or directory"
expect_output_lacks "internal error"
expect_exit 2 "$COFFER" import trip.coffer --format oneroster --from nodir --pupil 1 --dry-run
expect_output_lacks "internal error"

# A date of birth after today is refused like an impossible one.
awk -F, 'BEGIN{OFS=","} NR==6 {$7="2099-01-01"} {print}' mis/pupils.csv > bad/pupils.csv
expect_exit 2 "$COFFER" import trip.coffer --from bad --pupil P00005 --passphrase-file "$pw"
expect_output_contains "pupils.csv:6: column DOB (7)"
expect_output_contains "in the future"
expect_output_lacks "2099"
[[ $(sha256sum trip.coffer) == "$before" ]] || fail "a refused import changed the coffer"
echo "import: ok"
