#!/usr/bin/env bash
# Re-keying a coffer made before coffers recorded the school's recovery
# public key (a schema-6 marking coffer made by the CLI before re-keying,
# tests/fixtures/README.md; docs/FORMAT.md §10): `keys remove` and
# `passwd --rekey` must not drop its recovery slot, so they are refused
# (exit 6, nothing changed) until the public key is named; a key that is not
# the slot's is refused too; with the right one the coffer is re-keyed, the
# recovery key still opens it, and the removed passphrase with the header
# saved before opens nothing (exit 4, its key does not decrypt the
# database). `passwd` without --rekey still just changes the passphrase.
set -euo pipefail
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
source "$(dirname "$0")/lib.sh"

cp "$FIX/format-v1-schema6-marking.coffer" old.coffer
cp "$FIX/format-v1-schema6-marking.coffer.audit" old.coffer.audit
OLD_PW='Fixture-Lantern-Meadow-42'
KEY_PW='Fixture-Recovery-Harbour-7'

# Made 2026-12-07, expires 2027-08-31 (the longest a marking coffer may
# live; the clock cannot be faked back any more). After that date this test
# fails on purpose: make a new such fixture with the CLI of 0fd2bb9.
if (($(date +%s) > $(date -d '2027-08-31 00:00' +%s))); then
  fail "the fixture format-v1-schema6-marking.coffer has expired: remake it (tests/fixtures/README.md)"
fi

expect_exit 0 "$COFFER" keys add old.coffer --kdf-cost test --passphrase-file "$(pwfile a.pw "$OLD_PW" "$PW2")"
dd if=old.coffer of=old.saved bs=4096 count=1 status=none
cp old.coffer before.coffer
cp old.coffer.audit before.coffer.audit

# Without the recovery public key: refused, and nothing is written.
expect_exit 6 "$COFFER" keys remove old.coffer --slot 1 --passphrase-file "$(pwfile r.pw "$OLD_PW")"
expect_output_contains 'recovery public key'
expect_output_contains 'nothing was changed'
expect_exit 6 "$COFFER" passwd old.coffer --rekey --drop-other-passphrases --kdf-cost test \
  --passphrase-file "$(pwfile p.pw "$OLD_PW" "$PW3")"
# (The unlocks themselves rewrite nothing but the clock mark and audit
# records: the key slots are as before.)
expect_exit 0 "$COFFER" keys list old.coffer
expect_stdout_line '^slot 1: passphrase'
# Another key (the audit key's .pub) is not the slot's.
expect_exit 6 "$COFFER" keys remove old.coffer --slot 1 --recovery-key "$FIX/format-v1-audit.pub" \
  --passphrase-file "$(pwfile r.pw "$OLD_PW")"
expect_exit 0 "$COFFER" keys list old.coffer
expect_stdout_line '^slot 1: passphrase'

# With the school's recovery public key: re-keyed.
expect_exit 0 "$COFFER" keys remove old.coffer --slot 1 --recovery-key "$FIX/format-v1-school.pub" \
  --passphrase-file "$(pwfile r.pw "$OLD_PW")"
expect_output_contains 're-keyed'
expect_fsck 0 old.coffer "$OLD_PW"
expect_fsck 3 old.coffer "$PW2"
expect_exit 0 "$COFFER" recover old.coffer --recovery-key "$FIX/format-v1-school.key" --kdf-cost test \
  --passphrase-file "$(pwfile rec.pw "$KEY_PW" "$PW4")"
expect_fsck 0 old.coffer "$PW4"
expect_exit 0 "$COFFER" audit old.coffer --verify --passphrase-file "$(pwfile v.pw "$PW4")"

# The header saved before, in both copies: neither passphrase of that time
# decrypts anything.
cp old.coffer rolled.coffer
cp old.coffer.audit rolled.coffer.audit
dd if=old.saved of=rolled.coffer bs=4096 count=1 conv=notrunc status=none
dd if=old.saved of=rolled.coffer bs=4096 seek=1 count=1 conv=notrunc status=none
for pw in "$OLD_PW" "$PW2"; do
  expect_fsck 4 rolled.coffer "$pw"
  expect_output_contains "does not open this coffer's database"
done

# The whole file from before keeps its passphrases (the documented limit).
expect_fsck 0 before.coffer "$PW2"
echo "rekey_old: ok"
