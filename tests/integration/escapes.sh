#!/usr/bin/env bash
# Terminal control characters in names are shown, never obeyed: a file made
# in files/ through the mount with ESC[1A ESC[2K in its name (cursor up one
# line, erase it: earlier audit lines vanished on screen while --verify
# passed), a coffer file and mount point named with escape sequences, a C1
# control and a newline, and an owner edited into the header (an
# unauthenticated hint that `info` shows without a passphrase) are printed
# escaped (\x1b...) by `audit`, `status`, `open` and `info`; the raw bytes
# never reach the output. JSON output escapes by itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# (No space or newline in the paths: the test's own helpers read
# /proc/mounts, which escapes them. The newline is in a file's name below.)
evil=$'x\e[2K\e]0;pwned\a\xc2\x9b1A'
shown='x\x1b[2K\x1b]0;pwned\x07\xc2\x9b1A'
C=$WORK/$evil.coffer
M=$WORK/mnt-$evil
make_coffer "$C"
mkdir "$M"

# raw_free WHAT: neither stdout nor stderr of the last command holds a
# control character other than newline and tab, or a C1 control, and no
# line is the fake one.
raw_free() {
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$OUT" "$ERR" || grep -qF $'\xc2\x9b' "$OUT" "$ERR"; then
    show_last
    fail "$1 printed a raw control character"
  fi
  ! grep -q '^fake line' "$OUT" "$ERR" || { show_last; fail "$1 printed a newline from a name raw"; }
}

open_coffer "$C" "$M" --idle-seconds 900
raw_free "open"
grep -qF "$shown.coffer" "$OUT" || { show_last; fail "open does not show the coffer's name escaped"; }

name=$'report\e[1A\e[2K.txt'
printf 'day one\n' >"$M/files/$name"
[[ -f "$M/files/$name" ]] || fail "the file with an escape sequence in its name was not made"
printf 'day two\n' >"$M/files/"$'notes\nfake line.txt'


expect_exit 0 "$COFFER" status
raw_free "status"
grep -qF "mounted at $WORK/mnt-$shown" "$OUT" || { show_last; fail "status does not show the mount point escaped"; }

lock_coffer "$M"

expect_exit 0 "$COFFER" audit "$C" --passphrase-file "$PWFILE" --verify
raw_free "audit"
grep -qF 'files/report\x1b[1A\x1b[2K.txt (write)' "$OUT" ||
  { show_last; fail "audit does not show the file name escaped"; }
grep -qF 'files/notes\x0afake line.txt (write)' "$OUT" ||
  { show_last; fail "audit does not show the newline in a name escaped"; }
expect_output_contains 'audit trail not anchored: internally consistent only'

# JSON keeps the name exact (escaped by JSON itself).
expect_exit 0 "$COFFER" audit "$C" --passphrase-file "$PWFILE" --json
grep -qF '"object":"files/report\u001b[1A\u001b[2K.txt (write)"' "$OUT" ||
  { show_last; fail "audit --json does not carry the exact name"; }

# The owner is a cleartext hint in the header: anyone who can write the
# file can put an escape sequence there, and `info` reads it without a key.
python3 - "$C" <<'PY'
import hashlib, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
owner = b"Ms \x1b[2J\x1b[HA. Teacher\x9b"
for copy in (0, 4096):
    b[copy + 80:copy + 208] = bytes(128)
    b[copy + 80] = len(owner)
    b[copy + 81:copy + 81 + len(owner)] = owner
    b[copy + 4064:copy + 4096] = hashlib.blake2b(bytes(b[copy:copy + 4064]), digest_size=32).digest()
open(path, "wb").write(b)
PY
expect_exit 0 "$COFFER" info "$C"
raw_free "info"
grep -qF 'owner:           Ms \x1b[2J\x1b[HA. Teacher\x9b' "$OUT" ||
  { show_last; fail "info does not show the edited owner escaped"; }
grep -qF "coffer:          $WORK/$shown.coffer" "$OUT" || { show_last; fail "info does not show the path escaped"; }
finish
