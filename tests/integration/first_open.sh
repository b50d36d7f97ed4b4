#!/usr/bin/env bash
# A provisioned coffer in a real mount: the first `open` with the one-time
# passphrase makes the teacher choose their own before anything is mounted
# (a refused new passphrase mounts nothing and keeps the one-time one), the
# mount shows the provisioned pupils and the same manifest IT kept, and
# afterwards only the teacher's passphrase opens it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
[[ -x $DEMO_SCHOOL ]] || fail "no demo school generator at $DEMO_SCHOOL"
"$DEMO_SCHOOL" --out "$WORK/mis" >/dev/null
cat > "$WORK/plan.toml" <<TOML
[[coffer]]
name = "trip"
owner = "Ms J Smith"
purpose = "trip"
trip_end = $FUTURE
source = "mis"
pupils = ["P00026", "P00027", "P00028", "P00029", "P00030", "P00031", "P00032", "P00033"]
TOML
expect_exit 0 "$COFFER" provision --plan "$WORK/plan.toml" --out "$WORK/out" --kdf-cost test
C=$WORK/out/trip.coffer
otp=$(sed -n 's/^One-time passphrase: *//p' "$WORK/out/trip.passphrase.txt")
[[ -n $otp ]] || fail "no one-time passphrase in the handover file"
M=$WORK/mnt
mkdir "$M"

# A weak new passphrase: refused, nothing mounted, the one-time one still
# works. The issue's examples (libpwquality let them through) and the
# owner's own name.
for weak in password 'Summer2026!' 'P@ssw0rd2026' 'Tr0ub4dor&3' correcthorse 'Ms J Smith' 'JSmith2026'; do
  f=$(pwfile weak "$otp" "$weak")
  expect_exit 6 "$COFFER" open "$C" "$M" --passphrase-file "$f" --kdf-cost test
  expect_output_contains 'too weak'
  ! is_mounted "$M" || fail "a refused first open left a mount"
done


# The real first open: one-time passphrase, then the teacher's own.
f=$(pwfile first "$otp" "$PW2")
expect_exit 0 "$COFFER" open "$C" "$M" --passphrase-file "$f" --kdf-cost test
expect_output_contains "one-time passphrase"
[[ $(mount_line "$M") == *" fuse.coffer "* ]] || fail "the first open did not mount"
[[ $(($(wc -l < "$M/roster.csv") - 1)) == 8 ]] || fail "the roster does not hold the 8 provisioned pupils"
[[ $(ls "$M/pupils" | wc -l) == 8 ]] || fail "pupils/ does not hold 8 folders"
# The manifest in the mount is the one IT kept.
cmp -s "$M/manifest.txt" "$WORK/out/trip.manifest.txt" || fail "manifest.txt differs from IT's copy"
lock_coffer "$M"

# Now the one-time passphrase is refused (exit 3) and the teacher's opens
# without asking for another.
f=$(pwfile otp "$otp")
expect_exit 3 "$COFFER" open "$C" "$M" --passphrase-file "$f"
! is_mounted "$M" || fail "the one-time passphrase still mounts"
f=$(pwfile mine "$PW2")
expect_exit 0 "$COFFER" open "$C" "$M" --passphrase-file "$f"
if grep -qi "one-time" "$OUT" "$ERR"; then fail "a second open asked for a new passphrase again"; fi
lock_coffer "$M"
finish
