#!/usr/bin/env bash
# The whole life of a coffer through the binary: school recovery key,
# create, info, add/remove passphrases, passwd, recover, fsck, and wipe
# (which must destroy the keys even for a second hard link to the file).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# --- keygen: the school's recovery key pair.
expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile keygen.pw "$PW_SCHOOL")"
[[ -s school.pub && -s school.key ]] || fail "keygen did not write school.pub and school.key"
fingerprint=$(grep -oE 'fingerprint [0-9a-f]{32}' "$OUT" | cut -d' ' -f2 || true)
[[ -n $fingerprint ]] || { show_last; fail "keygen printed no key fingerprint"; }
if grep -qaF -- "$PW_SCHOOL" school.key school.pub; then
  fail "the school key passphrase is in a key file"
fi
# keygen refuses to overwrite an existing key pair.
cp school.key school.key.orig
expect_exit 6 "$COFFER" keygen --out school --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile keygen2.pw "$PW2")"
cmp -s school.key school.key.orig || fail "keygen overwrote school.key"

# --- create with the recovery key.
EXPIRES=$(date -d '+30 days' +%F)
expect_exit 0 "$COFFER" create trip.coffer --owner 'Ms Jones' --purpose trip --expires "$EXPIRES" \
  --recovery-key school.pub --kdf-cost test --passphrase-file "$(pwfile create.pw "$PW1")"
expect_output_contains 'created trip.coffer'
expect_output_contains 'INSECURE'
expect_output_lacks 'no recovery key'
[[ -f trip.coffer ]] || fail "create did not write trip.coffer"
size=$(file_size trip.coffer)
(( size > 8192 && (size - 8192) % 16384 == 0 )) || fail "unexpected coffer size $size"

# --- info, text and JSON.
expect_exit 0 "$COFFER" info trip.coffer
expect_stdout_line '^owner: +Ms Jones$'
expect_stdout_line '^purpose: +trip$'
expect_stdout_line '^format: +version 1$'
expect_stdout_line "^expires: +$EXPIRES "
expect_stdout_line '^key slots: +1 of 8 in use$'
expect_stdout_line '^  slot 0: +passphrase'
expect_stdout_line "^recovery key: +present, fingerprint $fingerprint\$"
expect_stdout_line '^failed unlocks: +0$'
expect_output_contains 'INSECURE'
expect_output_lacks 'EXPIRED'

expect_exit 0 "$COFFER" info --json trip.coffer
expect_json owner 'Ms Jones'
expect_json purpose trip
expect_json slots_in_use 1
expect_json slot_count 8
expect_json recovery true
expect_json recovery_fingerprint "$fingerprint"
expect_json audit_key false
expect_json insecure_kdf true
expect_json format_version 1
expect_json expires_date "$EXPIRES"
expect_json expired false
expect_json failed_attempts 0
expect_json path trip.coffer

# --- keys add: a second passphrase (current, new).
expect_exit 0 "$COFFER" keys add trip.coffer --kdf-cost test \
  --passphrase-file "$(pwfile add.pw "$PW1" "$PW2")"
expect_output_contains 'slot 1'
expect_exit 0 "$COFFER" info --json trip.coffer
expect_json slots_in_use 2
expect_exit 0 "$COFFER" keys list trip.coffer
expect_stdout_line '^slot 0: passphrase'
expect_stdout_line '^slot 1: passphrase'
expect_stdout_line '^slot 2: empty$'
expect_stdout_line '^recovery: present$'

# A weak new passphrase is refused and adds nothing: common ones, and the
# owner's own name (a dictionary word for this coffer).
for weak in password1 'Summer2026!' 'P@ssw0rd2026' 'Tr0ub4dor&3' correcthorse 'Ms Jones' 'MsJones2026!'; do
  expect_exit 6 "$COFFER" keys add trip.coffer --kdf-cost test \
    --passphrase-file "$(pwfile addweak.pw "$PW1" "$weak")"
  expect_output_contains 'too weak'
done
expect_exit 0 "$COFFER" info --json trip.coffer
expect_json slots_in_use 2

# --- fsck opens with each passphrase; a wrong one is exit 3.
expect_fsck 0 trip.coffer "$PW1"
expect_output_contains 'trip.coffer: ok'
expect_fsck 0 trip.coffer "$PW2"
expect_output_contains 'trip.coffer: ok'
expect_fsck 3 trip.coffer "$PW3"
expect_output_lacks "$PW3"

# Passphrases from standard input (--passphrase-file -) and with CRLF endings.
expect_exit_stdin 0 "$(pwfile stdin.pw "$PW2")" "$COFFER" fsck trip.coffer --passphrase-file -
expect_output_contains 'trip.coffer: ok'
printf '%s\r\n' "$PW1" >crlf.pw
chmod 600 crlf.pw
expect_exit 0 "$COFFER" fsck trip.coffer --passphrase-file crlf.pw
# A slot in use cannot be added to again.
expect_exit 6 "$COFFER" keys add trip.coffer --slot 1 --kdf-cost test \
  --passphrase-file "$(pwfile add2.pw "$PW1" "$PW3")"
expect_exit 0 "$COFFER" info --json trip.coffer
expect_json slots_in_use 2

# --- keys remove slot 0 (authorised by the slot-1 passphrase).
expect_exit 0 "$COFFER" keys remove trip.coffer --slot 0 --passphrase-file "$(pwfile rm.pw "$PW2")"
expect_output_contains 'removed slot 0'
expect_exit 0 "$COFFER" info --json trip.coffer
expect_json slots_in_use 1
expect_exit 0 "$COFFER" keys list trip.coffer
expect_stdout_line '^slot 0: empty$'
expect_stdout_line '^slot 1: passphrase'
expect_fsck 3 trip.coffer "$PW1"
expect_fsck 0 trip.coffer "$PW2"

# --- passwd: a weak new passphrase is refused (the issue's examples and
# the owner's name), then change the slot-1 passphrase (current, new).
for weak in 'Summer2026!' 'P@ssw0rd2026' 'Tr0ub4dor&3' correcthorse 'Ms Jones'; do
  expect_exit 6 "$COFFER" passwd trip.coffer --kdf-cost test --passphrase-file "$(pwfile pwweak.pw "$PW2" "$weak")"
  expect_output_contains 'too weak'
done
expect_exit 0 "$COFFER" passwd trip.coffer --kdf-cost test \
  --passphrase-file "$(pwfile passwd.pw "$PW2" "$PW3")"
expect_output_contains 'slot 1'
expect_fsck 3 trip.coffer "$PW2"
expect_fsck 0 trip.coffer "$PW3"
expect_exit 0 "$COFFER" info --json trip.coffer
expect_json slots_in_use 1
expect_json failed_attempts 0

# --- recover with the school key (key passphrase, new passphrase).
# The wrong school-key passphrase is exit 3 and changes nothing.
expect_exit 3 "$COFFER" recover trip.coffer --recovery-key school.key --kdf-cost test \
  --passphrase-file "$(pwfile recbad.pw "$PW1" "$PW4")"
expect_fsck 0 trip.coffer "$PW3"
expect_exit 0 "$COFFER" recover trip.coffer --recovery-key school.key --kdf-cost test \
  --passphrase-file "$(pwfile recover.pw "$PW_SCHOOL" "$PW4")"
expect_output_contains 'recovered trip.coffer'
for old in "$PW1" "$PW2" "$PW3"; do
  expect_fsck 3 trip.coffer "$old"
done
expect_fsck 0 trip.coffer "$PW4"
expect_output_contains 'trip.coffer: ok'
expect_exit 0 "$COFFER" info --json trip.coffer
expect_json slots_in_use 1
expect_json recovery true
expect_json failed_attempts 0
expect_json owner 'Ms Jones'
expect_exit 0 "$COFFER" keys list trip.coffer
expect_stdout_line '^slot 0: passphrase'
expect_stdout_line '^slot 1: empty$'

# --- wipe, with a second hard link to the same file.
cp trip.coffer before-wipe.bin
ln trip.coffer linked.coffer
[[ $(stat -c %h trip.coffer) -eq 2 ]] || fail "the hard link was not made"
expect_exit 0 "$COFFER" wipe --yes trip.coffer
expect_output_contains 'wiped trip.coffer'
[[ ! -e trip.coffer ]] || fail "wipe left trip.coffer"
for sib in trip.coffer-journal trip.coffer-wal trip.coffer-shm; do
  [[ ! -e $sib ]] || fail "wipe left $sib"
done
[[ -f linked.coffer ]] || fail "the hard link disappeared (it should remain as noise)"
# Crypto-erase: every key slot, the recovery slot and the MAC in both copies,
# and the start of the payload (SQLCipher's salt) are overwritten.
region_differs() {  # OFFSET LENGTH
  [[ $(od -An -v -tx1 -j "$1" -N "$2" before-wipe.bin) != "$(od -An -v -tx1 -j "$1" -N "$2" linked.coffer)" ]]
}
for base in 0 4096; do
  for slot in 0 1; do
    region_differs $((base + 208 + slot * 120)) 120 || fail "key slot $slot (copy at $base) survived wipe"
  done
  region_differs $((base + 1168)) 128 || fail "the recovery slot (copy at $base) survived wipe"
  region_differs $((base + 4000)) 32 || fail "the header MAC (copy at $base) survived wipe"
done
region_differs 8192 16 || fail "the payload salt survived wipe"
# The keys are gone: even the right passphrase does not open it, and it is
# not reported as a wrong passphrase (3) either.
expect_fsck 4 linked.coffer "$PW4"
expect_exit 4 "$COFFER" info linked.coffer
expect_output_contains 'linked.coffer'
expect_exit 4 "$COFFER" keys list linked.coffer
# Nothing else of the coffer is left next to it.
for f in $(listing .); do
  case $f in
    trip.coffer*) fail "wipe left $f" ;;
  esac
done
echo "lifecycle: ok"
