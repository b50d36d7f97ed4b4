#!/usr/bin/env bash
# Re-keying (issue 14, item 4, part 2; docs/FORMAT.md §10 "Re-key"). The
# first `open` of a provisioned coffer (one-time passphrase replaced),
# `keys remove`, `passwd --rekey` and `recover` each give the coffer a new
# master key. The attack: a header (both copies, so every key slot of that
# time) saved before the change and written back afterwards. Before
# re-keying, the removed passphrase opened that header's slot and so the
# data. Now that header's key opens nothing (exit 4, nothing decrypted,
# the file unchanged), while the data is all still there under the current
# passphrase (pupils, files/ byte for byte, both audit trails verify, fsck).
# Then kill -9 of `passwd --rekey` at increasing delays across its whole
# run: afterwards the coffer opens with exactly the old or the new
# passphrase, fsck passes, the data and trails are intact, and a temporary
# file a kill left behind is gone after the next unlock.
#
#   tests/integration/rekey.sh build/cli/coffer [TRIALS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TRIALS=${2:-${COFFER_REKEY_TRIALS:-40}}
DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
[[ -x $DEMO_SCHOOL ]] || fail "no demo school generator at $DEMO_SCHOOL"

PW_SCHOOL='Staffroom-Kettle-Orchard-42'
PW_AUDIT='Ledger-Compass-Heron-19'
PW3='Window-Saffron-Beetle-63'
PW4='Harbour-Violin-Turnip-28'
PW5='Glacier-Pencil-Mongoose-51'
SK=$(pwfile sk "$PW_SCHOOL")
AK=$(pwfile ak "$PW_AUDIT")
expect_exit 0 "$COFFER" keygen --out "$WORK/school" --role recovery --kdf-cost test --passphrase-file "$SK"
expect_exit 0 "$COFFER" keygen --out "$WORK/audit" --role audit --kdf-cost test --passphrase-file "$AK"

"$DEMO_SCHOOL" --out "$WORK/mis" >/dev/null
cat > "$WORK/plan.toml" <<TOML
[[coffer]]
name = "trip"
owner = "Ms J Smith"
purpose = "trip"
trip_end = $FUTURE
source = "mis"
recovery_key = "$WORK/school.pub"
audit_key = "$WORK/audit.pub"
pupils = ["P00026", "P00027", "P00028", "P00029", "P00030", "P00031", "P00032", "P00033"]
TOML
expect_exit 0 "$COFFER" provision --plan "$WORK/plan.toml" --out "$WORK/out" --kdf-cost test
C=$WORK/out/trip.coffer
otp=$(sed -n 's/^One-time passphrase: *//p' "$WORK/out/trip.passphrase.txt")
[[ -n $otp ]] || fail "no one-time passphrase in the handover file"
M=$WORK/mnt
mkdir "$M"

# save_header FILE OUT: the 4096-byte header copy A as it is now.
save_header() { dd if="$1" of="$2" bs=4096 count=1 status=none; }
# with_header FILE SAVED OUT: a copy of FILE with SAVED in both header
# copies (every key slot and the recovery slot of that time).
with_header() {
  cp "$1" "$3"
  dd if="$2" of="$3" bs=4096 count=1 conv=notrunc status=none
  dd if="$2" of="$3" bs=4096 seek=1 count=1 conv=notrunc status=none
}
# expect_opens_nothing FILE SAVED PASSPHRASE: with the saved header written
# back, the passphrase of that time opens nothing: exit 4 (its key does not
# open the database) or 3, nothing mounted, no byte of the file changed.
expect_opens_nothing() {
  local f=$WORK/rolled.coffer
  with_header "$1" "$2" "$f"
  cp "$f" "$f.before"
  run_cmd "$COFFER" open "$f" "$M" --passphrase-file "$(pwfile old "$3")"
  [[ $STATUS == 4 ]] || { show_last; fail "an earlier header opened with its passphrase: exit $STATUS, expected 4"; }
  # Not only refused by the header binding (which checks after decrypting):
  # the key that header's slot holds does not decrypt the database at all.
  expect_output_contains "holds a key that does not open this coffer's database"
  expect_output_contains 'tampering'
  ! is_mounted "$M" || fail "an earlier header mounted the coffer"
  cmp -s "$f" "$f.before" || fail "the refused unlock wrote to the file"
  run_cmd "$COFFER" fsck "$f" --passphrase-file "$(pwfile old "$3")"
  [[ $STATUS == 4 ]] || { show_last; fail "fsck with an earlier header: exit $STATUS, expected 4"; }
  rm -f "$f" "$f.before"
}
# expect_all_there PASSPHRASE: everything is still in the coffer.
expect_all_there() {
  local pf
  pf=$(pwfile cur "$1")
  expect_exit 0 "$COFFER" fsck "$C" --passphrase-file "$pf"
  expect_output_contains "$C: ok"
  expect_output_contains "[1-9][0-9]* file chunks checked"
  expect_exit 0 "$COFFER" audit "$C" --verify --passphrase-file "$pf"
  expect_exit 0 "$COFFER" audit "$C" --audit-key "$WORK/audit.key" --passphrase-file "$AK" --verify
  expect_exit 0 "$COFFER" open "$C" "$M" --passphrase-file "$pf"
  [[ $(($(wc -l < "$M/roster.csv") - 1)) == 8 ]] || fail "the roster does not hold the 8 pupils"
  (cd "$M/files" && sha256sum -c --quiet "$WORK/files.sha256") || fail "files/ differs after re-keying"
  lock_coffer "$M"
  compgen -G "$WORK/out/.trip.coffer.rekeying-*" >/dev/null && fail "a re-key's temporary file is left" || true
}

# --- The first open: the one-time passphrase is replaced, and re-keyed.
save_header "$C" "$WORK/h.provisioned"
expect_exit 0 "$COFFER" open "$C" "$M" --passphrase-file "$(pwfile first "$otp" "$PW2")" --kdf-cost test
expect_output_contains "one-time passphrase"
if grep -qi "without re-keying" "$ERR"; then fail "the first open did not re-key"; fi
# Some files: several chunks, a small one, an empty one.
head -c 700000 /dev/urandom > "$M/files/big.bin"
echo "kit list" > "$M/files/kit.txt"
: > "$M/files/empty"
mkdir "$M/files/sub" && head -c 5000 /dev/urandom > "$M/files/sub/photo.jpg"
# (Read with no writable descriptor open: the copy guard refuses a reader
# that could copy.)
sums=$(cd "$M/files" && sha256sum big.bin kit.txt empty sub/photo.jpg)
lock_coffer "$M"
printf '%s\n' "$sums" > "$WORK/files.sha256"
expect_opens_nothing "$C" "$WORK/h.provisioned" "$otp"
expect_all_there "$PW2"

# --- keys remove: a second passphrase added, then removed.
expect_exit 0 "$COFFER" keys add "$C" --kdf-cost test --passphrase-file "$(pwfile add "$PW2" "$PW3")"
save_header "$C" "$WORK/h.two"
expect_exit 0 "$COFFER" keys remove "$C" --slot 1 --passphrase-file "$(pwfile rm "$PW2")"
expect_output_contains 're-keyed'
expect_opens_nothing "$C" "$WORK/h.two" "$PW3"
expect_opens_nothing "$C" "$WORK/h.two" "$PW2"
expect_all_there "$PW2"

# passwd --rekey keeps only the passphrase typed: another one is named and
# the command refused unless --drop-other-passphrases.
expect_exit 0 "$COFFER" keys add "$C" --kdf-cost test --passphrase-file "$(pwfile add "$PW2" "$PW3")"
expect_exit 6 "$COFFER" passwd "$C" --rekey --kdf-cost test --passphrase-file "$(pwfile pw "$PW2" "$PW4")"
expect_output_contains 'key slot 1'
expect_output_contains 'drop-other-passphrases'

# --- passwd --rekey.
save_header "$C" "$WORK/h.passwd"
cp "$C" "$WORK/whole-copy.coffer"
cp "$C.audit" "$WORK/whole-copy.coffer.audit"
expect_exit 0 "$COFFER" passwd "$C" --rekey --drop-other-passphrases --kdf-cost test \
  --passphrase-file "$(pwfile pw "$PW2" "$PW4")"
expect_output_contains 're-keyed'
expect_opens_nothing "$C" "$WORK/h.passwd" "$PW2"
expect_opens_nothing "$C" "$WORK/h.passwd" "$PW3"
expect_all_there "$PW4"
# The documented limit (as with LUKS): a whole-file copy taken before keeps
# the data of that time under the passphrase of that time.
expect_exit 0 "$COFFER" fsck "$WORK/whole-copy.coffer" --passphrase-file "$(pwfile old "$PW2")"
rm -f "$WORK/whole-copy.coffer" "$WORK/whole-copy.coffer.audit"

# --- recover (the school's recovery key): re-keyed, and the recovery slot
# re-sealed, so the school's key still opens the result.
save_header "$C" "$WORK/h.recover"
expect_exit 0 "$COFFER" recover "$C" --recovery-key "$WORK/school.key" --kdf-cost test \
  --passphrase-file "$(pwfile rec "$PW_SCHOOL" "$PW5")"
expect_opens_nothing "$C" "$WORK/h.recover" "$PW4"
expect_all_there "$PW5"
expect_exit 0 "$COFFER" recover "$C" --recovery-key "$WORK/school.key" --kdf-cost test \
  --passphrase-file "$(pwfile rec "$PW_SCHOOL" "$PW4")"
expect_all_there "$PW4"
cur=$PW4

# --- kill -9 of passwd --rekey at increasing delays across its run.
# One uninterrupted run measures how long it takes.
start=$(date +%s%N)
expect_exit 0 "$COFFER" passwd "$C" --rekey --kdf-cost test --passphrase-file "$(pwfile pw "$cur" "$PW5")"
span_us=$((($(date +%s%N) - start) / 1000))
cur=$PW5
note "$TRIALS kills across a run of ${span_us} us"
declare -A seen=([old]=0 [old+leftover]=0 [new]=0)
for ((i = 0; i < TRIALS; i++)); do
  # The new passphrase: never the current one.
  if [[ $cur == "$PW3" ]]; then next=$PW4; else next=$PW3; fi
  pf=$(pwfile trial "$cur" "$next")
  delay_us=$((span_us * 12 / 10 * i / TRIALS))
  # No leak check in the process about to be killed: a kill that lands
  # while LeakSanitizer examines the exiting process leaves a half report
  # ("Unable to get registers from thread"); AddressSanitizer's and
  # UBSan's checks of everything it does stay on.
  ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
    "$COFFER" passwd "$C" --rekey --kdf-cost test --passphrase-file "$pf" </dev/null >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '0.%06d' "$delay_us")" 2>/dev/null || sleep "$((delay_us / 1000000))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  leftover=no
  compgen -G "$WORK/out/.trip.coffer.rekeying-*" >/dev/null && leftover=yes
  run_cmd "$COFFER" fsck "$C" --passphrase-file "$(pwfile t1 "$cur")"
  old_status=$STATUS
  if [[ $old_status == 0 ]]; then
    run_cmd "$COFFER" fsck "$C" --passphrase-file "$(pwfile t2 "$next")"
    [[ $STATUS == 3 ]] || { show_last; fail "trial $i: both the old and the new passphrase open (exit $STATUS)"; }
    if [[ $leftover == yes ]]; then seen[old+leftover]=$((seen[old+leftover] + 1)); else seen[old]=$((seen[old] + 1)); fi
  elif [[ $old_status == 3 ]]; then
    expect_exit 0 "$COFFER" fsck "$C" --passphrase-file "$(pwfile t2 "$next")"
    seen[new]=$((seen[new] + 1))
    cur=$next
  else
    show_last
    fail "trial $i (kill after ${delay_us} us): fsck with the old passphrase exited $old_status"
  fi
  compgen -G "$WORK/out/.trip.coffer.rekeying-*" >/dev/null && fail "trial $i: the unlock after a kill left the temporary file"
  expect_exit 0 "$COFFER" audit "$C" --verify --passphrase-file "$(pwfile t3 "$cur")"
done
note "after the kill: old passphrase ${seen[old]}, old with a temporary file (killed in phase 1) ${seen[old+leftover]}, new ${seen[new]}"
((seen[new] > 0)) || fail "no kill landed after the re-key finished: the trial did not span the run"
((seen[old] + seen[old+leftover] > 0)) || fail "every kill landed after the re-key: the trial did not span the run"
expect_all_there "$cur"
finish
