#!/usr/bin/env bash
# Only the user who opened a coffer gets in: root opens it on a mountpoint
# every user can reach, and `nobody` cannot list it, stat it, or read
# README.txt or anything in files/ (the kernel's FUSE check, not just the
# mode bits: even stat, which mode bits would allow, is refused). As a
# control, stat works for nobody with --allow-other, so the refusal
# seen first is the mount's, not a path nobody cannot reach.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v runuser >/dev/null || fail "runuser is missing"
id nobody >/dev/null || fail "there is no user nobody"

C=$WORK/other.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir -m 755 "$M"
# Every component of the path must be traversable by nobody.
chmod 755 "$WORK"
p=$WORK
while [[ $p != / ]]; do
  [[ $(($(stat -c '%#a' "$p") & 01)) -ne 0 ]] || fail "$p is not traversable by others"
  p=$(dirname "$p")
done

open_coffer "$C" "$M" --idle-seconds 900
printf 'pupil data' >"$M/files/secret"
chmod 644 "$M/files/secret"
# Sanity: the mounter reads it, so a refusal below is not an empty mount.
[[ $(cat "$M/files/secret") == 'pupil data' ]] || fail "root cannot read its own file"
grep -q 'This folder is a coffer' "$M/README.txt" || fail "root cannot read README.txt"

# as_nobody EXPECT CMD...: runs CMD as nobody; EXPECT is "denied" (it must
# fail with "Permission denied") or "ok" (it must succeed).
as_nobody() {
  local want=$1
  shift
  run_cmd runuser -u nobody -- "$@"
  if [[ $want == ok ]]; then
    [[ $STATUS -eq 0 ]] || { show_last; fail "as nobody, '$*' failed"; }
  else
    [[ $STATUS -ne 0 ]] || { show_last; fail "as nobody, '$*' succeeded"; }
    grep -q 'Permission denied' "$ERR" || { show_last; fail "as nobody, '$*' failed, but not with 'Permission denied'"; }
  fi
}

as_nobody denied ls "$M"
as_nobody denied cat "$M/README.txt"
as_nobody denied stat "$M"
as_nobody denied ls "$M/files"
as_nobody denied cat "$M/files/secret"
as_nobody denied touch "$M/files/planted"
[[ ! -e $M/files/planted ]] || fail "nobody created a file"
lock_coffer "$M"

# Control: with --allow-other (root only) the kernel lets nobody in and only
# the mode bits apply, so stat of the mount works for nobody. (Everything
# else stays refused: the mount root is root's 0500.)
open_coffer "$C" "$M" --idle-seconds 900 --allow-other
as_nobody ok stat "$M"
as_nobody denied ls "$M"
lock_coffer "$M"
fsck_ok "$C"
finish
