#!/usr/bin/env bash
# An earlier header written back must not undo `recover`, `keys remove` or
# `passwd` (issue 14, item 4). The attacker saved the header before the
# change and afterwards writes it into copy B with a higher generation (the
# generation is not authenticated, so copy selection prefers it) and a
# fresh checksum. Its MAC is genuine, so before the header binding the
# removed passphrase opened the coffer again and fsck "repaired" copy A
# from it. Now: the removed passphrase is refused as tampering (exit 4) and
# nothing is written; the current passphrase still opens, fsck reports the
# tampering (exit 4) and rewrites copy B from the genuine copy A, after
# which the coffer checks clean and the removed passphrase is simply wrong.
# The same for the one-time passphrase of a provisioned coffer. Needs
# DEMO_SCHOOL in the environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
has_b2sum || { echo "no b2sum -l: skipped"; exit 77; }

expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile k.pw "$PW_SCHOOL")"

# roll_back FILE SAVED: writes the saved 4096-byte header copy into copy B
# with a generation 2^32 above its own, and reseals B's checksum.
roll_back() {
  dd if="$2" of="$1" bs=4096 seek=1 conv=notrunc status=none
  set_byte "$1" $((4096 + 4032 + 4)) $(( $(byte_at "$1" $((4096 + 4032 + 4))) + 1 ))
  reseal_copy_checksum "$1" B
  expect_exit 0 "$COFFER" info "$1"
  if copies_identical "$1"; then fail "the rolled-back copy equals the current one"; fi
}

# expect_rollback_refused FILE REMOVED-PW CURRENT-PW
expect_rollback_refused() {
  local c=$1 removed=$2 current=$3
  cp "$c" "$c.before"
  # The removed passphrase: tampering, and the file is left as it was.
  expect_fsck 4 "$c" "$removed"
  expect_output_contains 'earlier header'
  expect_output_contains 'tampering'
  cmp -s "$c" "$c.before" || fail "$c: fsck with the removed passphrase wrote to the file"
  expect_exit 4 "$COFFER" keys add "$c" --kdf-cost test --passphrase-file "$(pwfile add.pw "$removed" "$PW4")"
  expect_output_contains 'tampering'
  cmp -s "$c" "$c.before" || fail "$c: keys add with the removed passphrase wrote to the file"
  # The current passphrase opens the genuine copy; fsck reports the
  # tampering and repairs copy B from copy A, never the other way.
  local a
  a=$(header_copy_hex "$c" A)
  expect_fsck 4 "$c" "$current"
  expect_output_contains 'header copy B held an earlier header'
  copies_identical "$c" || fail "$c: the rolled-back copy was not rewritten"
  [[ $(header_copy_hex "$c" A | cut -c1-8000) == "$(printf '%s' "$a" | cut -c1-8000)" ]] ||
    fail "$c: copy A's header changed: repaired from the rolled-back copy"
  expect_fsck 0 "$c" "$current"
  expect_fsck 3 "$c" "$removed"
}

# --- recover: IT replaces every passphrase with a new one.
case_recover() {
  make_coffer r.coffer "$PW1" --recovery-key school.pub
  dd if=r.coffer of=r.saved bs=4096 count=1 status=none
  expect_exit 0 "$COFFER" recover r.coffer --recovery-key school.key --kdf-cost test \
    --passphrase-file "$(pwfile rec.pw "$PW_SCHOOL" "$PW3")"
  expect_fsck 3 r.coffer "$PW1"
  roll_back r.coffer r.saved
  expect_rollback_refused r.coffer "$PW1" "$PW3"
  # The recovery key, which opens both headers, still takes the genuine one.
  roll_back r.coffer r.saved
  expect_exit 0 "$COFFER" recover r.coffer --recovery-key school.key --kdf-cost test \
    --passphrase-file "$(pwfile rec2.pw "$PW_SCHOOL" "$PW2")"
  expect_output_contains 'header copy B held an earlier header'
  expect_fsck 0 r.coffer "$PW2"
  expect_fsck 3 r.coffer "$PW1"
}

# --- keys remove: slot 1's passphrase goes; slot 0's stays in both headers.
case_keys_remove() {
  make_coffer k.coffer "$PW1"
  expect_exit 0 "$COFFER" keys add k.coffer --kdf-cost test --passphrase-file "$(pwfile a.pw "$PW1" "$PW2")"
  dd if=k.coffer of=k.saved bs=4096 count=1 status=none
  expect_exit 0 "$COFFER" keys remove k.coffer --slot 1 --passphrase-file "$(pwfile rm.pw "$PW1")"
  roll_back k.coffer k.saved
  expect_rollback_refused k.coffer "$PW2" "$PW1"
}

# --- passwd: the passphrase of slot 0 replaced.
case_passwd() {
  make_coffer p.coffer "$PW1"
  dd if=p.coffer of=p.saved bs=4096 count=1 status=none
  expect_exit 0 "$COFFER" passwd p.coffer --kdf-cost test --passphrase-file "$(pwfile pw.pw "$PW1" "$PW3")"
  roll_back p.coffer p.saved
  expect_rollback_refused p.coffer "$PW1" "$PW3"
}

# --- A wrong passphrase while the copies differ rewrites neither header:
# the genuine copy survives the failure count.
case_failure_keeps_both() {
  make_coffer f.coffer "$PW1"
  dd if=f.coffer of=f.saved bs=4096 count=1 status=none
  expect_exit 0 "$COFFER" passwd f.coffer --kdf-cost test --passphrase-file "$(pwfile fp.pw "$PW1" "$PW3")"
  roll_back f.coffer f.saved
  expect_fsck 3 f.coffer "$PW2"
  expect_fsck 3 f.coffer "$PW2"
  expect_rollback_refused f.coffer "$PW1" "$PW3"
}

# --- The one-time passphrase of a provisioned coffer, replaced by the
# teacher's own (what the first `open` does, through `passwd`): IT saw it,
# and it stays out even if the provisioned header is written back.
case_one_time() {
  [[ -x ${DEMO_SCHOOL:-} ]] || fail "DEMO_SCHOOL is not set to the generator"
  "$DEMO_SCHOOL" --out mis >/dev/null
  cat > plan.toml <<TOML
[[coffer]]
name = "trip"
owner = "Ms J Smith"
purpose = "trip"
trip_end = $FUTURE
source = "mis"
recovery_key = "school.pub"
pupils = ["P00026", "P00027"]
TOML
  expect_exit 0 "$COFFER" provision --plan plan.toml --out out --kdf-cost test
  local otp
  otp=$(sed -n 's/^One-time passphrase: *//p' out/trip.passphrase.txt)
  [[ -n $otp ]] || fail "no one-time passphrase in the handover file"
  dd if=out/trip.coffer of=o.saved bs=4096 count=1 status=none
  expect_exit 0 "$COFFER" passwd out/trip.coffer --kdf-cost test --passphrase-file "$(pwfile o.pw "$otp" "$PW4")"
  roll_back out/trip.coffer o.saved
  expect_rollback_refused out/trip.coffer "$otp" "$PW4"
}

soft_check case_recover
soft_check case_keys_remove
soft_check case_passwd
soft_check case_failure_keeps_both
soft_check case_one_time
soft_check_summary
echo "header_rollback: ok"
