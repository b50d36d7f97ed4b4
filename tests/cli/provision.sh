#!/usr/bin/env bash
# `coffer provision`: every coffer of a plan with its own selection, a
# one-time passphrase the teacher must replace at first open, manifests for
# IT that list exactly what is inside; a failing coffer leaves nothing and
# the others are made. Needs DEMO_SCHOOL in the environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WORK"
[[ -x ${DEMO_SCHOOL:-} ]] || fail "DEMO_SCHOOL is not set to the generator"
"$DEMO_SCHOOL" --out mis >/dev/null
kp=$(pwfile kp "$PW_SCHOOL" "$PW_SCHOOL")
expect_exit 0 "$COFFER" keygen --out school --passphrase-file "$kp" --kdf-cost test
cat > plan.toml <<TOML
school = "Northwind Academy (fictional)"
helpdesk = "the IT office"
[defaults]
source = "mis"
recovery_key = "school.pub"

[[coffer]]
name = "trip-paris"
owner = "Jo Smith"
purpose = "trip"
trip_end = $FUTURE
groups = ["7B"]

[[coffer]]
name = "no-phone"
owner = "B Bad"
purpose = "trip"
trip_end = $FUTURE
pupils = ["P00097"]

[[coffer]]
name = "marking-7a"
owner = "A Khan"
purpose = "marking"
groups = ["7A"]
TOML
expect_exit 2 "$COFFER" provision --plan plan.toml --out out --kdf-cost test
expect_output_contains "[1/3] trip-paris ok: 25 pupils"
expect_output_contains "no-phone FAILED"
expect_output_contains "2 of 3 coffers made"
[[ -z $(ls out | grep no-phone) ]] || fail "the failed coffer left files: $(ls out)"
ls -A out | grep -q '^\.' && fail "hidden temporary files left: $(ls -A out)"
for n in trip-paris marking-7a; do
  for s in coffer manifest.json manifest.txt passphrase.txt; do [[ -f out/$n.$s ]] || fail "no out/$n.$s"; done
  [[ $(stat -c %a "out/$n.passphrase.txt") == 600 ]] || fail "the handover file is not 0600"
done

# The manifest lists exactly the 25 pupils of 7B (P00026..P00050), in JSON and text.
keys=$(grep -o '"id": "P[0-9]*"' out/trip-paris.manifest.json | grep -o 'P[0-9]*' | sort | tr '\n' ' ')
want=$(seq -f 'P%05g' 26 50 | tr '\n' ' ')
[[ $keys == "$want" ]] || fail "manifest keys: $keys"
grep -q 'Ethnicity' out/trip-paris.manifest.txt || fail "dropped columns missing from the manifest"
grep -q '"pupil_count": 25' out/trip-paris.manifest.json || fail "no pupil_count 25"
# No special-category values in the manifests (IT keeps them in clear).
for word in anaphylaxis Asthma inhaler vegetarian halal; do
  ! grep -qi "$word" out/*.manifest.* || fail "the manifest carries medical or dietary values ($word)"
done
grep -q '"purpose": "marking"' out/marking-7a.manifest.json || fail "no purpose in the marking manifest"
grep -q 'medical' <(grep -A12 not_carried out/marking-7a.manifest.json) || fail "marking manifest does not say medical was not carried"

# One-time passphrase: opens once, then the owner must choose their own.
otp=$(sed -n 's/^One-time passphrase: *//p' out/trip-paris.passphrase.txt)
[[ $otp =~ ^[A-Z2-9]{4}(-[A-Z2-9]{4}){4}$ ]] || fail "unexpected one-time passphrase form"
# passwd with the one-time passphrase clears the must-change flag.
f=$(pwfile p1 "$otp" "$PW2")
expect_exit 0 "$COFFER" passwd out/trip-paris.coffer --passphrase-file "$f"
f=$(pwfile p2 "$otp")
expect_exit 3 "$COFFER" fsck out/trip-paris.coffer --passphrase-file "$f"
expect_fsck 0 out/trip-paris.coffer "$PW2"

# Re-running skips what was made and retries the failed one (still failing);
# nothing made earlier is touched.
sum=$(sha256sum out/trip-paris.coffer)
expect_exit 2 "$COFFER" provision --plan plan.toml --out out --kdf-cost test
expect_output_contains "trip-paris already made, skipped"
expect_output_contains "0 of 1 coffers made"
[[ $(sha256sum out/trip-paris.coffer) == "$sum" ]] || fail "a re-run touched a coffer made earlier"
# A run stopped after the coffer was made but before its passphrase file was
# committed (simulated: the file put back to its pending name) is made again
# on the re-run, with a new passphrase that opens it.
sum=$(sha256sum out/marking-7a.coffer)
mv out/marking-7a.passphrase.txt out/marking-7a.handover.pending
expect_exit 2 "$COFFER" provision --plan plan.toml --out out --kdf-cost test
expect_output_contains "marking-7a ok"
[[ -f out/marking-7a.passphrase.txt && ! -e out/marking-7a.handover.pending ]] || fail "pending handover not committed: $(ls out)"
[[ $(sha256sum out/marking-7a.coffer) != "$sum" ]] || fail "the uncommitted coffer was kept"
otp=$(sed -n 's/^One-time passphrase: *//p' out/marking-7a.passphrase.txt)
expect_fsck 0 out/marking-7a.coffer "$otp"
# A leftover that is not a made coffer is refused, not overwritten.
echo x > out/no-phone.manifest.txt
expect_exit 6 "$COFFER" provision --plan plan.toml --out out --kdf-cost test
expect_output_contains "move it away"
rm out/no-phone.manifest.txt

# A plan error names the plan's line and makes nothing.
printf '[[coffer]]\nname = "x"\nowner = "y"\npurpose = "trip"\nsource = "mis"\ncolour = "red"\n' > bad.toml
expect_exit 2 "$COFFER" provision --plan bad.toml --out out2 --kdf-cost test
expect_output_contains "bad.toml:6"
[[ ! -e out2 ]] || fail "a bad plan created the output directory"

# Handover as one printable sheet.
sed -e 's/^helpdesk.*/handover = "sheet"/' -e '/name = "no-phone"/,/P00097/d' plan.toml > sheet.toml
sed -i '/^\[\[coffer\]\]$/{N;/\n$/d}' sheet.toml
expect_exit 0 "$COFFER" provision --plan sheet.toml --out out3 --kdf-cost test
[[ -f out3/handover-sheets.txt && ! -e out3/trip-paris.passphrase.txt ]] || fail "no handover sheet: $(ls out3)"
[[ $(grep -c 'One-time passphrase' out3/handover-sheets.txt) == 2 ]] || fail "the sheet does not hold both passphrases"
# sheet_passphrase DIR NAME: the one-time passphrase of NAME's entry in
# DIR/handover-sheets.txt; fails unless there is exactly one entry.
sheet_passphrase() {
  local n
  n=$(grep -c "^Coffer: *$2\.coffer " "$1/handover-sheets.txt" || true)
  [[ $n == 1 ]] || fail "$2 has $n entries in $1/handover-sheets.txt"
  grep -A4 "^Coffer: *$2\.coffer " "$1/handover-sheets.txt" | sed -n 's/^One-time passphrase: *//p'
}
# every_coffer_opens DIR NAME...: each DIR/NAME.coffer exists and opens with
# the passphrase on the sheet, which has no other entries.
every_coffer_opens() {
  local dir=$1 name
  shift
  [[ $(grep -c '^Coffer: ' "$dir/handover-sheets.txt") == "$#" ]] || fail "the sheet has stray entries"
  for name in "$@"; do
    [[ -f $dir/$name.coffer ]] || fail "no $dir/$name.coffer"
    expect_fsck 0 "$dir/$name.coffer" "$(sheet_passphrase "$dir" "$name")"
  done
  ls -A "$dir" | grep -q '^\.' && fail "hidden temporary files left: $(ls -A "$dir")"
  ! ls "$dir" | grep -q pending || fail "pending handover records left: $(ls "$dir")"
}

# Sheet handover with a failing coffer in the middle (a missing OneRoster
# export): the first and third are made and on the sheet, the second leaves
# nothing; once fixed, a re-run adds it to the same sheet.
cat > mid.toml <<'TOML'
handover = "sheet"
[defaults]
source = "mis"
purpose = "marking"

[[coffer]]
name = "m1"
owner = "A"
pupils = ["P00001"]

[[coffer]]
name = "m2"
owner = "B"
pupils = ["P00002"]
source = "nodir"
format = "oneroster"

[[coffer]]
name = "m3"
owner = "C"
pupils = ["P00003"]
TOML
expect_exit 2 "$COFFER" provision --plan mid.toml --out out4 --kdf-cost test
expect_output_contains "m2 FAILED"
expect_output_contains "nodir: no such file or directory"
expect_output_lacks "internal error"
expect_output_contains "2 of 3 coffers made"
[[ -z $(ls out4 | grep m2) ]] || fail "the failed coffer left files: $(ls out4)"
every_coffer_opens out4 m1 m3
sed -i -e '/^source = "nodir"/d' -e '/^format = "oneroster"/d' mid.toml
expect_exit 0 "$COFFER" provision --plan mid.toml --out out4 --kdf-cost test
expect_output_contains "1 of 1 coffers made"
every_coffer_opens out4 m1 m2 m3

# Killed at an arbitrary point (as soon as the first coffer appears), then
# run again: every coffer made has its passphrase on the sheet exactly once
# and opens with it; nothing half-made is left.
{
  echo 'handover = "sheet"'
  printf '[defaults]\nsource = "mis"\npurpose = "marking"\n'
  for i in 1 2 3 4 5 6; do printf '[[coffer]]\nname = "k%s"\nowner = "K"\npupils = ["P0000%s"]\n' "$i" "$i"; done
} > kill.toml
"$COFFER" provision --plan kill.toml --out out5 --kdf-cost test </dev/null >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 4000); do [[ -e out5/k1.coffer ]] && break; sleep 0.002; done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
expect_exit 0 "$COFFER" provision --plan kill.toml --out out5 --kdf-cost test
every_coffer_opens out5 k1 k2 k3 k4 k5 k6
echo "provision: ok"
