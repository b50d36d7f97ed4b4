#!/usr/bin/env bash
# Layer 3 of the copy guard, for real: `coffer run` mounts a coffer and runs
# a program under Landlock. Inside, the program reads and writes the coffer
# and writes to the approved place, but cannot write anywhere else (no file
# left behind), and its HOME is inside the coffer. Outside, no process can
# list or read the coffer while the session runs. The coffer locks when the
# program ends, and `run` exits with the program's status. A coffer whose
# profile needs a sandbox refuses a plain `open`; standard output
# redirected to a file outside is refused before anything runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mkdir "$WORK/approved" "$WORK/elsewhere"
printf '[copy]\napproved_destinations = ["%s"]\n' "$WORK/approved" >"$WORK/policy.toml"
printf '[profile.trip-sealed]\nbased_on = "trip"\nprotection = "sandboxed"\n' >"$WORK/profiles.toml"
chmod 644 "$WORK/policy.toml" "$WORK/profiles.toml"
C=$WORK/sealed.coffer
M=$WORK/mnt
expect_exit 0 "$COFFER" create "$C" --owner 'Ms A. Teacher' --purpose trip-sealed --expires "$FUTURE" \
  --profiles "$WORK/profiles.toml" --kdf-cost test --passphrase-file "$PWFILE"
mkdir "$M"

note "a sandboxed coffer refuses a plain open, and says how to open it"
expect_exit 6 "$COFFER" --policy "$WORK/policy.toml" open "$C" "$M" --passphrase-file "$PWFILE"
expect_output_contains 'open --session'
not_mounted "$M" || fail "a refused open left $M mounted"

note "standard output redirected to a file outside is refused before the program runs"
set +e
"$COFFER" --policy "$WORK/policy.toml" run "$C" --mountpoint "$M" --passphrase-file "$PWFILE" -- \
  sh -c 'echo ran >"$COFFER_SESSION/files/ran"' </dev/null >"$WORK/out.txt" 2>"$WORK/err.txt"
rc=$?
set -e
((rc == 126)) || { cat "$WORK/err.txt" >&2; fail "run with stdout to a file exited $rc, not 126"; }
grep -q 'standard output is redirected' "$WORK/err.txt" || { cat "$WORK/err.txt" >&2; fail "no clear message"; }
# Issue 15: the refusal says the way out.
grep -q 'run `coffer export FILE FOLDER` outside the session' "$WORK/err.txt" ||
  { cat "$WORK/err.txt" >&2; fail "the refusal does not say the way out is coffer export outside the session"; }
wait_until 10 not_mounted "$M" || fail "the refused session left $M mounted"

note "a session: inside it writes the coffer and the approved place only"
MARK="pupil-data-marker-$RANDOM$RANDOM"
# The session's own output goes to a terminal (a pipe or a file outside
# would be refused).
(
  set +e
  on_terminal "$COFFER" --policy "$WORK/policy.toml" run "$C" --mountpoint "$M" --passphrase-file "$PWFILE" \
    --idle-seconds 900 -- sh -c '
      set -u
      printf "%s\n" "$1" >files/sheet.txt || exit 20
      cp files/sheet.txt "$2/approved/sheet.txt" || exit 21
      if cp files/sheet.txt "$2/elsewhere/copy.txt" 2>/dev/null; then exit 22; fi
      if (cat files/sheet.txt >"$2/elsewhere/redirect.txt") 2>/dev/null; then exit 23; fi
      if echo x >/tmp/coffer-session-escape-$$ 2>/dev/null; then exit 24; fi
      printf "%s\n" "$HOME" >files/home.txt
      printf "%s\n" "$HOME" >"$HOME/settings" || exit 25
      touch "$2/approved/ready"
      i=0
      while [ ! -e "$2/approved/go" ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 300 ] || exit 26; done
      exit 7' sh "$MARK" "$WORK" >"$WORK/session.log"
  echo "$?" >"$WORK/session.rc"
) &
SESSION=$!
wait_until 30 test -e "$WORK/approved/ready" || { cat "$WORK/session.log" >&2; fail "the session never got ready"; }
is_mounted "$M" || fail "the session's coffer is not mounted"

note "outside the session the coffer can be neither listed nor read"
if ls "$M" >/dev/null 2>&1; then fail "a process outside the session listed the coffer"; fi
if cat "$M/files/sheet.txt" 2>/dev/null | grep -q .; then fail "a process outside the session read the coffer"; fi
[[ $(status_field "$M" protection) == sandboxed ]] || fail "status does not say sandboxed"
expect_exit 0 "$COFFER" status
expect_output_contains 'Landlock ABI'

touch "$WORK/approved/go"
wait_until 30 test -s "$WORK/session.rc" || fail "run did not end with its program"
wait "$SESSION"
[[ $(cat "$WORK/session.rc") == 7 ]] ||
  { cat "$WORK/session.log" >&2; fail "run exited $(cat "$WORK/session.rc"), not the program's 7"; }
grep -q 'locked (the session ended)' "$WORK/session.log" || { cat "$WORK/session.log" >&2; fail "no lock note"; }
wait_until 10 not_mounted "$M" || fail "the coffer stayed mounted after the session"

note "nothing left outside but the approved copy"
grep -q "$MARK" "$WORK/approved/sheet.txt" || fail "the copy to the approved place is missing"
[[ -z $(ls -A "$WORK/elsewhere") ]] || fail "the session left files in an unapproved place: $(ls -A "$WORK/elsewhere")"
if grep -rqs "$MARK" /tmp --include='coffer-session-escape-*'; then fail "the session wrote to /tmp"; fi

note "the session's HOME was inside the coffer, and everything it wrote is there"
on_terminal "$COFFER" --policy "$WORK/policy.toml" run "$C" --mountpoint "$M" --passphrase-file "$PWFILE" -- \
  sh -c 'cat files/sheet.txt files/home.txt files/.session/home/settings' >"$WORK/check.log"
grep -q "$MARK" "$WORK/check.log" || { cat "$WORK/check.log" >&2; fail "the sheet is not in the coffer"; }
grep -q "^$M/files/.session/home\$" "$WORK/check.log" || { cat "$WORK/check.log" >&2; fail "HOME was not inside the coffer"; }
wait_until 10 not_mounted "$M" || fail "still mounted after the second session"
finish
