#!/usr/bin/env bash
# `coffer export`: the sanctioned way out of an open coffer. A file or a
# record view goes to an approved destination, byte for byte, and the audit
# trail names it, the destination and the program; an unapproved folder, a
# "USB stick" (a tmpfs the policy declares removable) and an existing file
# are refused with a message naming the policy, leaving nothing behind.
# Check-in's export is held to the same rule (tests/cli/audit.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mkdir "$WORK/share" "$WORK/elsewhere" "$WORK/usb"
mount -t tmpfs -o size=1m coffer-test-stick "$WORK/usb"
CLEANUP_HOOKS+=("umount -l '$WORK/usb'")
printf '[copy]\napproved_destinations = ["%s", "%s"]\ndeclared_removable = ["%s"]\n' \
  "$WORK/share" "$WORK/usb" "$WORK/usb" >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"
P=(--policy "$WORK/policy.toml")
C=$WORK/c.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
expect_exit 0 "$COFFER" "${P[@]}" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
printf 'itinerary: coach at 08:15\n' >"$M/files/plan.txt"

note "to an approved folder: the file arrives and the export is audited"
expect_exit 0 "$COFFER" "${P[@]}" export "$M/files/plan.txt" "$WORK/share/"
cmp -s "$WORK/share/plan.txt" <(printf 'itinerary: coach at 08:15\n') || fail "the exported file differs"
expect_exit 0 "$COFFER" "${P[@]}" export "$M/roster.csv" "$WORK/share/roster.csv"
[[ -f $WORK/share/roster.csv ]] || fail "the roster was not exported"

note "refused: an unapproved folder, removable media (even if listed), an existing file"
expect_exit 6 "$COFFER" "${P[@]}" export "$M/files/plan.txt" "$WORK/elsewhere/"
expect_output_contains 'not an approved destination'
expect_exit 6 "$COFFER" "${P[@]}" export "$M/files/plan.txt" "$WORK/usb/plan.txt"
expect_output_contains 'removable media'
expect_exit 7 "$COFFER" "${P[@]}" export "$M/files/plan.txt" "$WORK/share/"
expect_output_contains 'never overwrites'
expect_exit 2 "$COFFER" "${P[@]}" export "$WORK/policy.toml" "$WORK/share/"
expect_output_contains 'not inside an open coffer'
[[ -z $(ls -A "$WORK/elsewhere") && -z $(ls -A "$WORK/usb") ]] || fail "a refused export left something behind"
[[ $(ls -A "$WORK/share" | wc -l) -eq 2 ]] || fail "the share holds more than the two exports: $(ls -A "$WORK/share")"

lock_coffer "$M"
expect_exit 0 "$COFFER" audit "$C" --passphrase-file "$PWFILE" --json
grep -q "\"kind\":\"export\",\"object\":\"files/plan.txt\",\"result\":\"ok\",\"detail\":\"to $WORK/share/plan.txt (26 bytes)\"" "$OUT" ||
  { show_last; fail "the export of files/plan.txt was not audited"; }
grep -q "\"exe\":\"$COFFER\",\"kind\":\"export\",\"object\":\"roster.csv\"" "$OUT" ||
  { show_last; fail "the roster export does not name the program"; }
umount "$WORK/usb"
finish
