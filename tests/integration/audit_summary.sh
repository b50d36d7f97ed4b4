#!/usr/bin/env bash
# Issue 16, item 9: the trail a DPO can read, from a real mount. A sheet is
# read with `head`, the coffer is locked; `coffer audit --summary` (in a
# fixed zone, TZ=CET-1, i.e. UTC+01:00) says in plain English, under the
# day, who opened roster.csv with which program and when it locked and why,
# with the user's name recorded on this machine; the drop copy says the
# same; the check-in report names the program and carries ISO-8601 times.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ME=$(id -un)
PA='Audit-Lamp-Quartz-77'
AKEY=$(pwfile akey.pw "$PA")
expect_exit 0 "$COFFER" keygen --out "$WORK/audit" --role audit --kdf-cost test --passphrase-file "$AKEY"
PS='Recovery-Oak-Harbour-31'
expect_exit 0 "$COFFER" keygen --out "$WORK/school" --role recovery --kdf-cost test --passphrase-file "$(pwfile sk.pw "$PS")"
mkdir "$WORK/drop"
printf '[audit]\ndrop_dir = "%s"\n[copy]\napproved_destinations = ["%s"]\n' "$WORK/drop" "$WORK/back" >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"

DEMO_SCHOOL=${DEMO_SCHOOL:-$(dirname "$COFFER")/../tools/coffer-demo-school}
"$DEMO_SCHOOL" --out "$WORK/school" >/dev/null
C=$WORK/trip.coffer
M=$WORK/mnt
expect_exit 0 "$COFFER" create "$C" --owner 'Ms A. Teacher' --purpose trip --expires "$FUTURE" \
  --audit-key "$WORK/audit.pub" --recovery-key "$WORK/school.pub" --kdf-cost test --passphrase-file "$PWFILE"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/school" --group 7A --passphrase-file "$PWFILE"
mkdir "$M"
expect_exit 0 "$COFFER" --policy "$WORK/policy.toml" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
head -n 2 "$M/roster.csv" >/dev/null
lock_coffer "$M"

A2=$(pwfile a2.pw "$PA")
expect_exit 0 env TZ=CET-1 "$COFFER" audit "$C" --audit-key "$WORK/audit.key" --passphrase-file "$A2" --summary \
  --manifests "$WORK"
grep -q '^The trail: audit trail ANCHORED and verified' "$OUT" || { show_last; fail "the heading lacks the verdict"; }
T='[0-9]{2}:[0-9]{2}:[0-9]{2} \+01:00'
grep -qx 'Audit summary of trip.coffer' "$OUT" || { show_last; fail "no heading"; }
grep -qE '^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) [0-9]{1,2} [A-Z][a-z]+ 20[0-9]{2}$' "$OUT" ||
  { show_last; fail "no day heading"; }
grep -qE "^  $T  $ME created the coffer" "$OUT" || { show_last; fail "the creation is not told"; }
grep -qE "^  $T  $ME imported pupil records from school" "$OUT" || { show_last; fail "the import is not told"; }
grep -qE "^  $T  $ME opened roster\.csv to read it, with head( |$)" "$OUT" ||
  { show_last; fail "the read of roster.csv by head is not told"; }
grep -qE "^  $T  the coffer was locked: coffer lock \(as $ME\)$" "$OUT" ||
  { show_last; fail "the lock and its reason are not told"; }
grep -qE '^In all: 1 file\(s\) opened, 0 refusal\(s\), 0 wrong passphrase\(s\)\.$' "$OUT" ||
  { show_last; fail "the counts are wrong"; }
! grep -q 'uid [0-9]' "$OUT" || { show_last; fail "the summary names a uid where the name was recorded"; }
# The read comes after the unlock and before the lock, in order.
order=$(grep -nE "unlocked the coffer|opened roster.csv|the coffer was locked" "$OUT" | cut -d: -f1 | tr '\n' ' ')
read -r u r l _ <<<"$order"
(( u < r && r < l )) || { show_last; fail "the summary is out of order ($order)"; }

# The school's drop copy (made at lock) tells the same.
drop=$(ls "$WORK/drop"/*.audit)
expect_exit 0 env TZ=CET-1 "$COFFER" audit "$drop" --audit-key "$WORK/audit.key" --passphrase-file "$A2" --summary --verify
grep -qE "^  $T  $ME opened roster\.csv to read it, with head" "$OUT" || { show_last; fail "the drop copy's summary"; }

# A school share that never answers (a FIFO where the drop copy is: opening
# it blocks for ever) holds up neither open nor lock beyond their limit
# (10 s each), and the trail still verifies afterwards.
rm "$drop"
mkfifo "$drop"
start=$(date +%s)
expect_exit 0 timeout 60 "$COFFER" --policy "$WORK/policy.toml" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
expect_exit 0 timeout 60 "$COFFER" lock "$M"
took=$(( $(date +%s) - start ))
(( took < 30 )) || fail "a hung drop directory held up open and lock for $took s"
wait_until 30 not_mounted "$M" || fail "$M is still mounted after lock"
rm -f "$drop"

# The check-in report: program names and ISO-8601 times.
expect_exit 0 env TZ=CET-1 "$COFFER" --policy "$WORK/policy.toml" checkin "$C" --manifests "$WORK" \
  --recovery-key "$WORK/school.key" --audit-key "$WORK/audit.key" --export "$WORK/back" \
  --passphrase-file "$(pwfile both.pw "$PS" "$PA")"
R=$WORK/back/trip.checkin
grep -qE "open-view +ok +roster\.csv \(read\).*by $ME with head$" "$R.txt" || { cat "$R.txt" >&2; fail "the report does not name head"; }
grep -qE '^Checked in 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\+01:00 by ' "$R.txt" || { cat "$R.txt" >&2; fail "the check-in time has no offset"; }
python3 - "$R.json" <<'PY' || fail "the check-in JSON lacks program names or ISO times"
import json, sys, datetime
j = json.load(open(sys.argv[1]))
assert isinstance(j["checked_in"], int)
assert datetime.datetime.fromisoformat(j["checked_in_iso"]).timestamp() == j["checked_in"]
reads = [a for a in j["accesses"] if a["object"] == "roster.csv (read)"]
assert len(reads) == 1 and reads[0]["program"] == "head", reads
assert datetime.datetime.fromisoformat(reads[0]["time_iso"]).timestamp() == reads[0]["time"]
assert reads[0]["time_iso"].endswith("+01:00")
PY
finish
