#!/usr/bin/env bash
# A key slot edited to cost more than a laptop ever needs (the earlier caps,
# 32 passes and 1 GiB: 79 s per attempt), or whose own checksum fails, is
# reported as "key slot N damaged or altered" without running the KDF and
# without counting a failed attempt; a passphrase in an intact slot still
# finds the key (and then the header MAC reports the edit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# edit_slot FILE SLOT OPS MEM [FIX_SUM]: rewrites the slot's Argon2 ops and
# memory limits in both header copies, re-computing the slot checksum (the
# attacker's edit) unless FIX_SUM is 0, and each copy's checksum.
edit_slot() {
  python3 - "$@" <<'PY'
import hashlib, struct, sys
path, slot, ops, mem = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fix_sum = len(sys.argv) < 6 or sys.argv[5] != "0"
b = bytearray(open(path, "rb").read())
for copy in (0, 4096):
    s = copy + 208 + 120 * slot
    struct.pack_into("<IQ", b, s + 4, ops, mem)
    if fix_sum:
        b[s + 104:s + 120] = hashlib.blake2b(bytes(b[s:s + 104]), digest_size=16).digest()
    b[copy + 4064:copy + 4096] = hashlib.blake2b(bytes(b[copy:copy + 4064]), digest_size=32).digest()
open(path, "wb").write(b)
PY
}

failed_attempts() {
  expect_exit 0 "$COFFER" info "$1" --json
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed_attempts"])' "$OUT"
}

# --- one slot, at the earlier caps: refused at once, nothing counted.
expect_exit 0 "$COFFER" create one.coffer --owner 'Ms Jones' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$(pwfile create.pw "$PW1")"
edit_slot one.coffer 0 32 $((1 << 30))
start=$SECONDS
expect_exit 4 "$COFFER" fsck one.coffer --passphrase-file "$(pwfile one.pw "$PW1")"
((SECONDS - start < 20)) || fail "the altered slot took $((SECONDS - start)) s: the KDF ran"
expect_output_contains 'key slot 0 damaged or altered'
[[ $(failed_attempts one.coffer) == 0 ]] || fail "an altered slot counted as a failed attempt"
# Just beyond the new caps (9 passes) is altered too.
edit_slot one.coffer 0 9 8192
expect_exit 4 "$COFFER" fsck one.coffer --passphrase-file "$(pwfile one.pw "$PW1")"
expect_output_contains 'key slot 0 damaged or altered'
[[ $(failed_attempts one.coffer) == 0 ]] || fail "an altered slot counted as a failed attempt"

# --- two slots: slot 1 altered, its checksum not fixed (damaged).
expect_exit 0 "$COFFER" create two.coffer --owner 'Ms Jones' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$(pwfile create2.pw "$PW1")"
expect_exit 0 "$COFFER" keys add two.coffer --kdf-cost test --passphrase-file "$(pwfile add.pw "$PW1" "$PW2")"
edit_slot two.coffer 1 2 16384 0
expect_exit 0 "$COFFER" info two.coffer
expect_output_contains 'slot 1:        DAMAGED'
# The passphrase of slot 1 no longer opens: slot 1 is named and not tried;
# slot 0 was a real attempt with a wrong passphrase (counted, once).
expect_exit 3 "$COFFER" fsck two.coffer --passphrase-file "$(pwfile two.pw "$PW2")"
expect_output_contains 'key slot 1 damaged or altered'
[[ $(failed_attempts two.coffer) == 1 ]] || fail "failed attempts: $(failed_attempts two.coffer), expected 1"
# Slot 1 at twice the old memory cap, checksum fixed: refused, not derived.
edit_slot two.coffer 1 4 $((2 << 30))
expect_exit 3 "$COFFER" fsck two.coffer --passphrase-file "$(pwfile two2.pw "$PW2")"
expect_output_contains 'key slot 1 damaged or altered'
[[ $(failed_attempts two.coffer) == 2 ]] || fail "failed attempts: $(failed_attempts two.coffer), expected 2"
# Slot 0 still opens the key, and then the header MAC shows the edit.
expect_exit 4 "$COFFER" fsck two.coffer --passphrase-file "$(pwfile ok.pw "$PW1")"
expect_output_contains 'header MAC mismatch'

echo "slot_caps: ok"
