#!/usr/bin/env bash
# The audit trail and check-in through the real binary: the sidecar is
# written beside the coffer, readable only with the school's audit key (also
# after a wipe), and `audit --verify` catches an edited, truncated or
# rolled-back sidecar; check-in verifies both trails, returns the teacher's
# files (made here with the library's own store, no mount needed: the mount
# tests cover files/ through FUSE), writes its report and wipes, also for a
# sealed coffer in its grace period; a failed verification stops it first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || fail "faketime is not installed"

# Check-in writes only to an approved destination (school policy, which
# must be root-owned: CI runs as root).
[[ $(id -u) -eq 0 ]] || { echo "SKIP: check-in needs a root-owned policy file" >&2; exit 77; }
printf '[copy]\napproved_destinations = ["%s"]\n' "$PWD" >policy.toml
chmod 644 policy.toml
POLICY=(--policy "$PWD/policy.toml")

PA='Audit-Lamp-Quartz-77'
expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test --passphrase-file "$(pwfile k1 "$PW_SCHOOL")"
expect_exit 0 "$COFFER" keygen --out audit --role audit --kdf-cost test --passphrase-file "$(pwfile k2 "$PA")"
AK=$(pwfile ak "$PA")
BOTH=$(pwfile both "$PW_SCHOOL" "$PA")
mk() {  # NAME
  expect_exit 0 "$COFFER" create "$1" --owner 'Ms Jones' --purpose trip --expires "$FUTURE" \
    --recovery-key school.pub --audit-key audit.pub --kdf-cost test --passphrase-file "$(pwfile c.pw "$PW1")"
}
mk trip.coffer
[[ -f trip.coffer.audit ]] || fail "no sidecar trip.coffer.audit"
# A coffer of the same name cannot be made over an earlier trail.
mv trip.coffer keep.coffer
expect_exit 6 "$COFFER" create trip.coffer --owner 'Ms Jones' --purpose trip --expires "$FUTURE" \
  --audit-key audit.pub --kdf-cost test --passphrase-file "$(pwfile c.pw "$PW1")"
expect_output_contains 'audit trail of an earlier coffer'
mv keep.coffer trip.coffer

expect_exit 3 "$COFFER" fsck trip.coffer --passphrase-file "$(pwfile bad "$PW2")"
expect_exit 0 "$COFFER" fsck trip.coffer --passphrase-file "$(pwfile g "$PW1")"
expect_exit 0 "$COFFER" hold trip.coffer --reason 'incident: lost bag' --passphrase-file "$(pwfile g "$PW1")"

# The DPO's view: every event, the failed unlock included (unauthenticated
# when written, covered by the next unlock's record), and it verifies.
# Against the anchor create wrote beside it (this folder is the store).
expect_exit 0 "$COFFER" audit trip.coffer --audit-key audit.key --passphrase-file "$AK" --manifests "$PWD" --verify
expect_output_contains 'ANCHORED and verified'
for kind in create unlock-failed unlock hold-set; do
  grep -qE "^ +[0-9]+ .* $kind " "$OUT" || { show_last; fail "the trail lacks a $kind event"; }
done
expect_output_lacks 'UNCONFIRMED'
expect_exit 0 "$COFFER" audit trip.coffer --audit-key audit.key --passphrase-file "$AK" --json
[[ $(grep -c '^{"seq":' "$OUT") -eq $(wc -l <"$OUT") ]] || fail "--json is not one object per line"
# Only the school can read it: nothing of it is in the file in clear.
! grep -qaF 'incident: lost bag' trip.coffer.audit || fail "the sidecar holds the hold reason in clear"
! grep -qaF 'Ms Jones' trip.coffer.audit || fail "the sidecar holds the owner in clear"
# The recovery key is not the audit key.
expect_exit 6 "$COFFER" audit trip.coffer --audit-key school.key --passphrase-file "$(pwfile sk "$PW_SCHOOL")"

# Tampering: an edited record, and a sidecar rolled back (records removed).
cp trip.coffer.audit good.audit
size=$(file_size trip.coffer.audit)
flip_byte trip.coffer.audit $((size - 50))
expect_exit 4 "$COFFER" audit trip.coffer --audit-key audit.key --passphrase-file "$AK" --verify
expect_output_contains 'PROBLEM'
cp good.audit trip.coffer.audit
head -c $((size - 30)) good.audit >trip.coffer.audit
expect_exit 4 "$COFFER" audit trip.coffer --passphrase-file "$(pwfile g "$PW1")" --verify
expect_output_contains 'truncated'
# Once found, the damage stays on the record.
expect_exit 4 "$COFFER" audit trip.coffer --passphrase-file "$(pwfile g "$PW1")" --verify
expect_output_contains 'was found truncated'

# Check-in refuses a trail that fails verification, before any wipe.
expect_exit 4 "$COFFER" "${POLICY[@]}" checkin trip.coffer --recovery-key school.key --audit-key audit.key \
  --export out1 --passphrase-file "$BOTH"
expect_output_contains 'nothing was exported or wiped'
[[ -f trip.coffer ]] || fail "check-in wiped a coffer whose trail failed verification"
grep -q 'FAILED VERIFICATION' out1/trip.checkin.txt || fail "the refused check-in wrote no report"

# A clean coffer, checked in while sealed (2 days past expiry, in grace).
mk clean.coffer
expect_exit 0 "$COFFER" fsck clean.coffer --passphrase-file "$(pwfile g "$PW1")"
expect_exit 5 at 7 "$COFFER" fsck clean.coffer --passphrase-file "$(pwfile g "$PW1")"
expect_output_contains 'sealed'
expect_exit 0 at 7 "$COFFER" "${POLICY[@]}" checkin clean.coffer --recovery-key school.key --audit-key audit.key \
  --manifests "$PWD" --export out2 --passphrase-file "$BOTH"
expect_output_contains 'coffer wiped'
[[ ! -e clean.coffer ]] || fail "check-in did not wipe the coffer"
[[ -f clean.coffer.audit ]] || fail "check-in removed the school's sidecar"
[[ -d out2/clean-files ]] || fail "no returned-files folder"
grep -q 'AUDIT: ANCHORED and verified' out2/clean.checkin.txt || fail "the report does not say the audit verified"
grep -q 'sealed' out2/clean.checkin.txt || fail "the report does not list the refused (sealed) open"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["audit"]["verified"] and j["wiped"], j' \
  out2/clean.checkin.json || fail "the JSON report is wrong"
# After the wipe the school still reads the whole trail, check-in included;
# without the audit key nobody does.
expect_exit 0 "$COFFER" audit clean.coffer --audit-key audit.key --passphrase-file "$AK" --verify
expect_output_contains 'checkin'
expect_output_contains 'wipe'
expect_exit 7 "$COFFER" audit clean.coffer --passphrase-file "$(pwfile g "$PW1")"
# Check-in past the grace period finds the coffer wiped, and says so.
mk late.coffer
expect_exit 5 at 14 "$COFFER" "${POLICY[@]}" checkin late.coffer --recovery-key school.key --audit-key audit.key \
  --export out3 --passphrase-file "$BOTH"
expect_output_contains 'wiped'
[[ ! -e late.coffer ]] || fail "a coffer past its grace period survived a check-in attempt"
# Not to a folder the policy does not approve; nothing is made there.
mk away.coffer
expect_exit 6 "$COFFER" "${POLICY[@]}" checkin away.coffer --recovery-key school.key --audit-key audit.key \
  --export /var/tmp/coffer-not-approved-$$ --passphrase-file "$BOTH"
expect_output_contains 'not an approved destination'
[[ ! -e /var/tmp/coffer-not-approved-$$ && -f away.coffer ]] || fail "a refused check-in left a folder or wiped"
echo "audit: ok"
