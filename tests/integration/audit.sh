#!/usr/bin/env bash
# The audit trail of a real mount: the first open of a view or file by each
# process is recorded (which one, read or write, by which program), repeated
# reads by the same process are one event, lock records why; the sidecar is
# copied to the policy's drop directory at open and lock; the DPO reads it
# all with the audit key, and it verifies. Also: a coffer that expires
# while mounted locks at once (libfaketime moves the daemon's clock).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PA='Audit-Lamp-Quartz-77'
AKEY=$(pwfile akey.pw "$PA")
expect_exit 0 "$COFFER" keygen --out "$WORK/audit" --role audit --kdf-cost test --passphrase-file "$AKEY"
PS='Recovery-Oak-Harbour-31'
expect_exit 0 "$COFFER" keygen --out "$WORK/school" --role recovery --kdf-cost test --passphrase-file "$(pwfile sk.pw "$PS")"
mkdir "$WORK/drop"
printf '[audit]\ndrop_dir = "%s"\n[copy]\napproved_destinations = ["%s"]\n' "$WORK/drop" "$WORK/back" >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"

DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
"$DEMO_SCHOOL" --out "$WORK/school" >/dev/null
C=$WORK/trip.coffer
M=$WORK/mnt
expect_exit 0 "$COFFER" create "$C" --owner 'Ms A. Teacher' --purpose trip --expires "$FUTURE" \
  --audit-key "$WORK/audit.pub" --recovery-key "$WORK/school.pub" --kdf-cost test --passphrase-file "$PWFILE"
[[ -f $C.audit ]] || fail "create with an audit key made no sidecar $C.audit"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/school" --group 7A --passphrase-file "$PWFILE"
mkdir "$M"
expect_exit 0 "$COFFER" --policy "$WORK/policy.toml" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
[[ -n $(ls "$WORK/drop") ]] || fail "no drop copy at open"

# One process reads roster.csv three times and a profile once: two events.
profile=$(ls "$M/pupils" | head -1)
python3 - "$M" "$profile" <<'PY'
import sys
m, p = sys.argv[1], sys.argv[2]
for _ in range(3):
    open(m + "/roster.csv", "rb").read()
open(m + "/pupils/" + p + "/profile.txt", "rb").read()
PY
cat "$M/roster.csv" >/dev/null   # another process: another event
echo "day one" >"$M/files/notes.txt"
cat "$M/README.txt" >/dev/null   # the coffer's own notice is not audited
lock_coffer "$M"
drop=$(ls "$WORK/drop"/*.audit)
[[ $(stat -c %s "$drop") -eq $(stat -c %s "$C.audit") ]] || fail "the drop copy was not refreshed at lock"

AUDIT2=$(pwfile a2.pw "$PA")
expect_exit 0 "$COFFER" audit "$C" --audit-key "$WORK/audit.key" --passphrase-file "$AUDIT2" --verify --json --manifests "$WORK"
n_roster=$(grep -c '"kind":"open-view","object":"roster.csv (read)"' "$OUT" || true)
[[ $n_roster -eq 2 ]] || { show_last; fail "roster.csv reads: $n_roster events, expected 2 (one per process)"; }
grep -q '"object":"pupils/'"$profile"'/profile.txt (read)"' "$OUT" || { show_last; fail "the profile read was not audited"; }
grep -qE '"pid":[0-9]+,"exe":"[^"]*python3[^"]*","kind":"open-view"' "$OUT" || { show_last; fail "the reading program is not named"; }
grep -q '"kind":"open-file","object":"files/notes.txt (write)"' "$OUT" || { show_last; fail "the write to files/ was not audited"; }
grep -q '"kind":"lock","object":"","result":"ok","detail":"coffer lock"' "$OUT" || { show_last; fail "the lock and its reason were not audited"; }
! grep -q 'README' "$OUT" || fail "README.txt opens were audited"
! grep -qi 'allerg\|medical' "$OUT" || fail "record contents reached the audit"
expect_output_contains 'audit trail ANCHORED and verified'
# The drop copy verifies on its own too (what the school holds after a loss).
expect_exit 0 "$COFFER" audit "$drop" --audit-key "$WORK/audit.key" --passphrase-file "$AUDIT2" --verify
# The teacher's view (passphrase) has the same events in the hash chain.
expect_exit 0 "$COFFER" audit "$C" --passphrase-file "$PWFILE" --verify
expect_output_contains 'open-file'
expect_output_contains 'files/notes.txt .write.'

# Expiry while mounted: the daemon's clock (libfaketime, inherited by the
# forked filesystem process) starts 3 s before the end of the expiry day;
# the coffer locks by itself, audits why, and then no longer opens.
expect_exit 0 faketime -f "@$FUTURE 23:59:57" "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
wait_until 30 bash -c "! grep -qF ' $M ' /proc/mounts" || fail "the coffer did not lock when it expired while mounted"
expect_exit 0 "$COFFER" audit "$C" --audit-key "$WORK/audit.key" --passphrase-file "$AUDIT2" --json
grep -q '"kind":"lock","object":"","result":"ok","detail":"expired"' "$OUT" || { show_last; fail "the expiry lock was not audited"; }
expect_exit 5 faketime -f "@$(date -d "$FUTURE + 1 day" +%F) 00:00:30" "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE"
expect_output_contains 'sealed'

# Check-in of the sealed coffer (in its grace period): the teacher's file
# comes back byte for byte, the report lists the reads, the coffer is wiped.
expect_exit 0 faketime -f "@$(date -d "$FUTURE + 1 day" +%F) 00:01:00" "$COFFER" --policy "$WORK/policy.toml" checkin "$C" --manifests "$WORK" \
  --recovery-key "$WORK/school.key" --audit-key "$WORK/audit.key" --export "$WORK/back" \
  --passphrase-file "$(pwfile both.pw "$PS" "$PA")"
[[ $(cat "$WORK/back/trip-files/notes.txt") == "day one" ]] || fail "check-in did not return files/notes.txt"
grep -q 'roster.csv (read)' "$WORK/back/trip.checkin.txt" || fail "the check-in report does not list the reads"
grep -q 'AUDIT: ANCHORED and verified' "$WORK/back/trip.checkin.txt" || fail "the check-in report has no audit verdict"
[[ ! -e $C ]] || fail "check-in left the coffer"
finish
