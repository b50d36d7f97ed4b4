#!/usr/bin/env bash
# A passphrase file must be private (issue 14, item 12): readable by other
# users it is refused, saying why (every user of the computer could read the
# passphrase); readable by its group it is used with a warning. Before, both
# were accepted silently.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

make_coffer t.coffer "$PW1"
f=$(pwfile pw "$PW1")

chmod 644 "$f"
expect_exit 6 "$COFFER" fsck t.coffer --passphrase-file "$f"
expect_output_contains 'readable by every user of this computer (mode 0644)'
expect_output_contains "chmod 600 $f"
expect_output_lacks "$PW1"
chmod 604 "$f"
expect_exit 6 "$COFFER" fsck t.coffer --passphrase-file "$f"
expect_output_contains 'mode 0604'
# Nothing is made from a readable file either.
expect_exit 6 "$COFFER" create u.coffer --owner 'Ms A. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$f"
[[ ! -e u.coffer ]] || fail "create went ahead with a world-readable passphrase file"

chmod 640 "$f"
expect_exit 0 "$COFFER" fsck t.coffer --passphrase-file "$f"
expect_output_contains 'warning: the passphrase file'
expect_output_contains 'readable by its group (mode 0640)'

chmod 600 "$f"
expect_exit 0 "$COFFER" fsck t.coffer --passphrase-file "$f"
expect_output_lacks 'warning'
chmod 400 "$f"
expect_exit 0 "$COFFER" fsck t.coffer --passphrase-file "$f"
expect_output_lacks 'warning'
# Standard input and a pipe are not files others can open.
expect_exit_stdin 0 "$f" "$COFFER" fsck t.coffer --passphrase-file -
expect_exit 0 bash -c '"$1" fsck t.coffer --passphrase-file <(printf "%s\n" "$2")' sh "$COFFER" "$PW1"
echo "passphrase_file: ok"
