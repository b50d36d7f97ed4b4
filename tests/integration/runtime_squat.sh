#!/usr/bin/env bash
# Another user's /tmp/coffer-UID does not lock the teacher out (issue 14,
# item 10). With no usable XDG_RUNTIME_DIR the control sockets went to
# /tmp/coffer-UID, and a directory of that name made first by someone else
# (any user can) stopped the teacher's open and status (exit 6). Now they
# fall back to ~/.coffer-run (0700), which later status and lock calls find
# too, also after the squatter's directory is gone. Run as user nobody.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v runuser >/dev/null || fail "runuser is missing"
command -v fusermount3 >/dev/null || fail "fusermount3 is missing"
[[ -u $(command -v fusermount3) ]] || fail "fusermount3 is not setuid root"
NOBODY_UID=$(id -u nobody) || fail "there is no user nobody"
SQUAT=/tmp/coffer-$NOBODY_UID

desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)

# Whatever is at /tmp/coffer-NOBODY now (another test's) is put back after.
if [[ -e $SQUAT || -L $SQUAT ]]; then
  mv -T "$SQUAT" "$WORK/squat-was-here"
  CLEANUP_HOOKS+=("rm -rf -- '$SQUAT'; mv -T '$WORK/squat-was-here' '$SQUAT'")
else
  CLEANUP_HOOKS+=("rm -rf -- '$SQUAT'")
fi

# nobody with a home but no XDG_RUNTIME_DIR.
as_nobody --no-runtime-dir
C=$U/class.coffer
M=$U/mnt

expect_exit 0 nb "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"

# Another user (root here; any user can) takes the name first.
mkdir -m 755 "$SQUAT"
expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
is_mounted "$M" || { show_last; fail "open exited 0 but $M is not mounted"; }
[[ $(stat -c '%U %a' "$U/home/.coffer-run") == "nobody 700" ]] \
  || fail "the fallback directory is not nobody's 0700: $(stat -c '%U %a' "$U/home/.coffer-run")"
[[ -z $(ls -A "$SQUAT") ]] || fail "something was put in the squatted directory"
expect_exit 0 nb "$COFFER" status
expect_output_contains "$M"
expect_exit 0 nb "$COFFER" lock "$M"
! is_mounted "$M" || fail "still mounted after lock with a squatted /tmp/coffer-UID"
expect_exit 0 nb "$COFFER" status
expect_output_contains 'no coffer is open'

# A squatter's link (to a directory of the teacher's) is not followed either.
rmdir "$SQUAT"
ln -s "$U/home" "$SQUAT"
expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
is_mounted "$M" || { show_last; fail "open with a squatted link: not mounted"; }
# The squatter gives the name up: status and lock still find the mount.
rm "$SQUAT"
expect_exit 0 nb "$COFFER" status
expect_output_contains "$M"
expect_exit 0 nb "$COFFER" lock --all
! is_mounted "$M" || fail "still mounted after lock --all once the squatter left"
expect_exit 0 nb "$COFFER" fsck "$C" --passphrase-file "$U/pw"
finish
