#!/usr/bin/env bash
# Damage to the file: one damaged header copy is survived and repaired from
# the other; damage to both copies, or to any byte of the payload, is
# reported as damaged (exit 4) and never opens as if nothing happened.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# A coffer with every header field in use: recovery and audit keys, two slots.
expect_exit 0 "$COFFER" keygen --out recovery --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile k1.pw "$PW_SCHOOL")"
expect_exit 0 "$COFFER" keygen --out audit --role audit --kdf-cost test \
  --passphrase-file "$(pwfile k2.pw "$PW_SCHOOL")"
make_coffer pristine.coffer "$PW1" --recovery-key recovery.pub --audit-key audit.pub
expect_exit 0 "$COFFER" keys add pristine.coffer --kdf-cost test \
  --passphrase-file "$(pwfile add.pw "$PW1" "$PW2")"
expect_fsck 0 pristine.coffer "$PW1"
copies_identical pristine.coffer || fail "a fresh coffer's header copies differ"
size=$(file_size pristine.coffer)

# --- One byte of one copy damaged: fsck repairs it from the other copy.
damage_one_copy() {  # OFFSET (absolute)
  local off=$1 copy=A other=B
  (( off >= 4096 )) && copy=B other=A
  cp pristine.coffer one.coffer
  cp pristine.coffer.audit one.coffer.audit  # the trail travels with it
  flip_byte one.coffer "$off"
  if copies_identical one.coffer; then fail "flipping byte $off did not change the copy"; fi
  # info still reads the header, warning about the damaged copy.
  expect_exit 0 "$COFFER" info one.coffer
  expect_output_contains "header copy $copy"
  expect_output_contains 'damaged'
  expect_stdout_line '^owner: +Ms A. Teacher$'
  expect_fsck 0 one.coffer "$PW1"
  expect_output_contains 'repaired'
  expect_output_contains "header copy $copy"
  expect_output_contains "using copy $other"
  expect_output_contains 'one.coffer: ok'
  copies_identical one.coffer || fail "after fsck, byte $off: the header copies still differ"
  expect_exit 0 "$COFFER" info one.coffer
  expect_output_lacks 'damaged'
  # Repaired means as good as new: both passphrases, no further repair.
  expect_fsck 0 one.coffer "$PW2"
  expect_output_lacks 'repaired'
  [[ $(file_size one.coffer) -eq $size ]] || fail "byte $off: fsck changed the file size"
}
# Magic, version, vault id, created, expires, purpose, owner, slot 0 start
# and body, slot 1, recovery slot, audit key, reserved, MAC, failed-attempt
# counter, checksum.
for off in 0 8 16 32 40 50 90 208 260 320 1168 1300 2000 4000 4040 4070; do
  damage_one_copy "$off"
done
# The same in copy B, for a few fields.
for off in 4096 4112 4356 5264 8096 8170; do
  damage_one_copy "$off"
done

# --- A torn header write: one whole copy is garbage.
for copy in A B; do
  cp pristine.coffer torn.coffer
  cp pristine.coffer.audit torn.coffer.audit  # the trail travels with it
  seek=0
  [[ $copy == B ]] && seek=4096
  head -c 4096 /dev/urandom | dd of=torn.coffer bs=4096 seek=$((seek / 4096)) conv=notrunc status=none
  expect_fsck 0 torn.coffer "$PW1"
  expect_output_contains "header copy $copy"
  copies_identical torn.coffer || fail "torn copy $copy was not repaired"
  expect_fsck 0 torn.coffer "$PW2"
done
# A copy of zeros (the write never happened).
cp pristine.coffer zeroed.coffer
cp pristine.coffer.audit zeroed.coffer.audit  # the trail travels with it
head -c 4096 /dev/zero | dd of=zeroed.coffer bs=4096 seek=1 conv=notrunc status=none
expect_fsck 0 zeroed.coffer "$PW1"
copies_identical zeroed.coffer || fail "a zeroed copy B was not repaired"

# --- The same byte damaged in both copies: damaged, never opened.
damage_both_copies() {  # OFFSET-IN-COPY
  cp pristine.coffer both.coffer
  cp pristine.coffer.audit both.coffer.audit  # the trail travels with it
  flip_byte both.coffer "$1"
  flip_byte both.coffer $(( $1 + 4096 ))
  cp both.coffer both.before
  expect_fsck 4 both.coffer "$PW1"
  expect_output_contains 'both.coffer'
  cmp -s both.coffer both.before || fail "fsck of a coffer damaged at $1 in both copies wrote to it"
}
damage_both_copies 16
expect_output_contains 'both header copies'
expect_exit 4 "$COFFER" info both.coffer
damage_both_copies 260
expect_output_contains 'slot 0'
expect_output_contains 'damaged'
expect_exit 4 "$COFFER" info both.coffer
expect_output_contains 'slot 0'
damage_both_copies 4000  # the MAC
expect_exit 4 "$COFFER" info both.coffer

# --- One byte of the payload: always damaged (4), never 0 or 3.
payload=$((size - 8192))
offsets=()
for k in $(seq 0 39); do
  offsets+=($((8192 + k * (payload - 1) / 39)))
done
# Both ends of each page, and inside its reserve area (IV, HMAC and the
# padding SQLCipher leaves unauthenticated).
for page in $(seq 0 $((payload / 16384 - 1))); do
  start=$((8192 + page * 16384))
  offsets+=("$start" $((start + 1)) $((start + 16384 - 48)) $((start + 16384 - 30)) \
            $((start + 16384 - 12)) $((start + 16384 - 1)))
done
offsets+=($((size - 1)))
# And a few random ones (printed if they fail).
for _ in $(seq 1 10); do
  offsets+=($((8192 + (RANDOM * 32768 + RANDOM) % payload)))
done
for off in "${offsets[@]}"; do
  cp pristine.coffer payload.coffer
  cp pristine.coffer.audit payload.coffer.audit  # the trail travels with it
  flip_byte payload.coffer "$off"
  fsck_with payload.coffer "$PW1"
  if [[ $STATUS -ne 4 ]]; then
    echo "FAIL: payload byte $off flipped: fsck exited $STATUS, expected 4" >&2
    show_last
    exit 1
  fi
done
echo "header_damage: ok (${#offsets[@]} payload offsets)"
