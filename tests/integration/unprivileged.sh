#!/usr/bin/env bash
# The ordinary teacher's flow, as an unprivileged user (nobody): open with
# an explicit mountpoint, write and read a file, status, lock. The mount must
# be made through the setuid fusermount3 (it shows user_id=65534 in
# /proc/mounts) and be gone after lock. Only the set-up runs as root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v runuser >/dev/null || fail "runuser is missing"
command -v fusermount3 >/dev/null || fail "fusermount3 is missing"
[[ -u $(command -v fusermount3) ]] || fail "fusermount3 is not setuid root"
NOBODY_UID=$(id -u nobody) || fail "there is no user nobody"

desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)

# nobody's own directory, with a private HOME and XDG_RUNTIME_DIR.
as_nobody
C=$U/class.coffer
M=$U/mnt

expect_exit 0 nb "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"
[[ $(stat -c %u "$C") -eq $NOBODY_UID ]] || fail "the coffer is not owned by nobody"

expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
line=$(mount_line "$M")
[[ -n $line ]] || { show_last; fail "open exited 0 but $M is not mounted"; }
[[ $line == *" fuse.coffer "* ]] || fail "the mount is not of type fuse.coffer: $line"
[[ $line == *"user_id=$NOBODY_UID,"* ]] || fail "the mount was not made for nobody through fusermount3: $line"
[[ $line == *nosuid* && $line == *nodev* ]] || fail "the mount lacks nosuid/nodev: $line"

# Reads go through a pipe: run_cmd's $OUT and $ERR are files on the local
# disk, and the copy guard refuses a reader whose output goes to one.
expect_exit 0 nb sh -c 'printf "written by nobody" >"$1/files/note" && cat "$1/files/note" 2>&1 | cat' sh "$M"
[[ $(cat "$OUT") == 'written by nobody' ]] || { show_last; fail "nobody's file does not read back"; }
expect_exit 0 nb stat -c '%u %a' "$M/files/note"
[[ $(cat "$OUT") == "$NOBODY_UID 644" ]] || { show_last; fail "nobody's file is not nobody's 0644"; }

expect_exit 0 nb "$COFFER" status --json
python3 - "$OUT" "$M" <<'EOF' || fail "status --json run by nobody does not list the mount"
import json, sys
mounts = json.load(open(sys.argv[1]))
sys.exit(0 if [m for m in mounts if m["mountpoint"] == sys.argv[2]] else 1)
EOF
pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["pid"])' "$OUT")
[[ $(stat -c %u "/proc/$pid") -eq $NOBODY_UID ]] || fail "the filesystem process does not run as nobody"
# The process holding the keys: no core dumps, not dumpable (its /proc files
# then belong to root, so nobody's other processes cannot ptrace or read it),
# and the keys in locked memory.
grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits" || fail "the filesystem process may dump core"
[[ $(stat -c %u "/proc/$pid/environ") -eq 0 ]] || fail "the filesystem process is dumpable"
# AddressSanitizer replaces mlock() with a no-op (its shadow memory cannot be
# locked), so an ASan build cannot show locked memory; the release run checks it.
if grep -q 'libasan' "/proc/$pid/maps"; then
  echo "note: ASan build: mlock is a no-op under AddressSanitizer, VmLck not checked"
else
  (($(awk '/^VmLck:/ { print $2 }' "/proc/$pid/status") > 0)) || fail "the filesystem process has no locked memory"
fi
expect_exit 0 nb "$COFFER" status
expect_output_contains "$M"

expect_exit 0 nb "$COFFER" lock "$M"
! is_mounted "$M" || fail "still mounted after nobody's coffer lock"
wait_until 5 pid_gone "$pid" || fail "the filesystem process $pid is still running after lock"
expect_exit 0 nb "$COFFER" status
expect_output_contains 'no coffer is open'

# The data is there for the next open, and the coffer is sound.
expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
expect_exit 0 nb sh -c 'cat "$1" 2>&1 | cat' sh "$M/files/note"
[[ $(cat "$OUT") == 'written by nobody' ]] || fail "nobody's file is lost after reopening"
expect_exit 0 nb "$COFFER" lock "$M"
! is_mounted "$M" || fail "still mounted after the second lock"
expect_exit 0 nb "$COFFER" fsck "$C" --passphrase-file "$U/pw"
finish
