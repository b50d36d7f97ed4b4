#!/usr/bin/env bash
# `guarded`: removable media read-only while the coffer is open (issue 15 §2).
# The copy guard's open check (fanotify) sees only opens; these ways to the
# stick got past it and must now fail, because while a guarded coffer is
# open the guard remounts every removable filesystem read-only at the
# superblock (for every user, root included):
#   - a directory named from the roster (mkdir "$(sed -n 2p roster.csv)"),
#   - a symlink whose target is a pupil's name,
#   - an extended attribute on an empty file left on the stick earlier,
#   - a shared writable mapping made before the coffer opened (the coffer
#     refuses to open, naming the program; so does an open descriptor),
#   - a mount namespace made earlier with `unshare -Urm` (its copy of the
#     stick's mount shares the read-only superblock),
#   - a stick mounted while the coffer is open, with a racing writer (the
#     window between the mount and its remount is measured and printed).
# Then: locking restores exactly what the guard changed (a stick that was
# read-only before stays so), and a guard killed while holding sticks
# read-only restores them from its record when it starts again.
# The teacher is nobody (the attacks run as nobody); root runs the guard
# and mounts the "sticks" (tmpfs under a prefix the policy declares
# removable). /dev/fuse is made 0666, as on the desktops teachers use, so
# nobody can mount the coffer through fusermount3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

command -v runuser >/dev/null || fail "runuser is missing"
command -v unshare >/dev/null || fail "unshare is missing"

desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)
as_nobody

SOCK=$WORK/guard.sock
RECORD=$WORK/readonly.record
STICKS=$WORK/sticks
GLOG=$WORK/guard.log
mkdir -p "$STICKS/a" "$STICKS/b" "$STICKS/ro"
chmod 755 "$STICKS"
printf '[copy]\ndeclared_removable = ["%s"]\n' "$STICKS" >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"
CLEANUP_HOOKS+=("umount -l '$STICKS/a'" "umount -l '$STICKS/b'" "umount -l '$STICKS/ro'")
mount -t tmpfs -o mode=1777,size=8m,nosuid,nodev coffer-test-stick "$STICKS/a"
mount -t tmpfs -o mode=1777,size=8m coffer-test-stick "$STICKS/ro"
mount -o remount,ro "$STICKS/ro"

GUARD_PID=
STARTS=0
stop_guard_now() { [[ -n $GUARD_PID ]] && kill -9 "$GUARD_PID" 2>/dev/null; return 0; }
CLEANUP_HOOKS+=("stop_guard_now")
guard_ready() { [[ $(grep -c "ready on $SOCK" "$GLOG" 2>/dev/null || true) -ge $STARTS ]]; }
start_guard() {
  STARTS=$((STARTS + 1))
  "$COFFER" --policy "$WORK/policy.toml" guard --socket "$SOCK" --readonly-record "$RECORD" 2>>"$GLOG" &
  GUARD_PID=$!
  wait_until 10 guard_ready || { cat "$GLOG" >&2; fail "the guard did not start"; }
}

# super_ro MNT: the superblock at MNT is read-only (the mount table's super
# options, not the per-mount flag).
super_ro() { [[ $(awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 3) }' /proc/self/mountinfo | tail -1) == ro* ]]; }
super_rw() { ! super_ro "$1"; }

# nbpy CODE ARGS...: python3 as nobody with the errno helpers.
nbpy() {
  local code=$1
  shift
  nb python3 -c "$PY_PRELUDE
$code" "$@"
}

# The teacher's guarded coffer with a roster in it.
printf '[profile.trip-guarded]\nbased_on = "trip"\nprotection = "guarded"\n' >"$WORK/profiles.toml"
chmod 644 "$WORK/profiles.toml"
C=$U/class.coffer
M=$U/mnt
# Made by root (--profiles is IT's), then handed to the teacher: its
# protection level is the coffer's own from then on.
expect_exit 0 "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip-guarded --expires "$FUTURE" \
  --profiles "$WORK/profiles.toml" --kdf-cost test --passphrase-file "$U/pw"
chown nobody: "$C"*
start_guard
open_guarded() {
  expect_exit "$1" nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --guard-socket "$SOCK" --idle-seconds 900
}

note "before the coffer opens: a leftover empty file, and a namespace made with unshare -Urm"
nb touch "$STICKS/a/leftover.csv"
mkfifo "$WORK/ns.go"
chmod 666 "$WORK/ns.go"
# Waits in its own user and mount namespace, then tries to write there.
nb unshare -Urm sh -c 'read -r _ <"$1"; mkdir "$2/from-namespace" 2>"$3" && echo WROTE >>"$3"; exit 0' sh \
  "$WORK/ns.go" "$STICKS/a" "$U/ns.result" &
NS_PID=$!

note "a program holding a file on the stick open for writing: the guarded coffer refuses to open, naming it"
mkfifo "$WORK/hold.go"
chmod 666 "$WORK/hold.go"
nbpy '
f = open(sys.argv[1] + "/held.csv", "w")
open(sys.argv[2]).read()
' "$STICKS/a" "$WORK/hold.go" &
HOLD_PID=$!
wait_until 5 test -e "$STICKS/a/held.csv" || fail "the holder did not start"
open_guarded 6
expect_output_contains 'could not be made read-only'
expect_output_contains "$STICKS/a: Device or resource busy"
expect_output_contains "process [0-9]+ \\(/usr/bin/python3[.0-9]*\\) writing $STICKS/a/held.csv"
not_mounted "$M" || fail "a refused guarded open left a mount"
wait_until 5 super_rw "$STICKS/a" || fail "the refused open left the stick read-only"
echo >"$WORK/hold.go"
wait "$HOLD_PID"

note "a shared writable mapping made before the coffer opened (no descriptor left): refused too"
mkfifo "$WORK/map.go"
chmod 666 "$WORK/map.go"
nbpy '
# libc mmap, not Python'"'"'s (which keeps a duplicate descriptor).
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
fd = os.open(sys.argv[1] + "/mapped.bin", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 4096)
p = libc.mmap(None, 4096, 3, 1, fd, 0)  # PROT_READ|PROT_WRITE, MAP_SHARED
if p in (None, ctypes.c_void_p(-1).value):
    die("mmap failed")
os.close(fd)
open(sys.argv[3], "w").close()
open(sys.argv[2]).read()
ctypes.memmove(p, b"later", 5)
' "$STICKS/a" "$WORK/map.go" "$U/map.ready" &
MAP_PID=$!
wait_until 5 test -e "$U/map.ready" || fail "the mapper did not start"
open_guarded 6
expect_output_contains 'could not be made read-only'
expect_output_contains 'mapped for writing'
echo >"$WORK/map.go"
wait "$MAP_PID"

note "the guarded coffer opens: removable media read-only for every user"
open_guarded 0
expect_exit 0 nb "$COFFER" status
expect_output_contains 'removable media are read-only for every user while this coffer is open'
wait_until 5 super_ro "$STICKS/a" || fail "the stick was not made read-only"
grep -q "$STICKS/a" "$RECORD" || fail "the change is not recorded in $RECORD"
! grep -q "$STICKS/ro" "$RECORD" || fail "a stick read-only already is recorded as the guard's change"
[[ $(findmnt -no OPTIONS "$STICKS/a") == *nosuid*nodev* ]] || fail "the remount dropped the mount's nosuid/nodev"
printf 'name,class\nAda Lovelace,4B\n' | nb sh -c 'cat >"$1/files/roster.csv"' sh "$M"

note "the guard query (for the polkit rule): a guarded coffer is open; udisks2 mounts of sticks refused"
expect_exit 0 nb "$COFFER" guard --socket "$SOCK" --query guarded-open
expect_output_contains 'a guarded coffer is open'
RULES=$HERE/../../contrib/polkit/50-coffer-guard.rules
polkit_says() {  # ACTION REMOVABLE: the rule's result, run as nobody
  nb node "$HERE/polkit_stub.js" "$RULES" "$COFFER" "$SOCK" "$1" "$2"
}
command -v node >/dev/null || fail "node is missing: it runs the polkit rule (scripts/install-deps.sh installs nodejs)"
[[ $(polkit_says org.freedesktop.udisks2.filesystem-mount false) == no ]] || fail "polkit: a stick mount was not refused"
[[ $(polkit_says org.freedesktop.udisks2.filesystem-mount-system true) == no ]] ||
  fail "polkit: a removable system-device mount was not refused"
[[ $(polkit_says org.freedesktop.udisks2.filesystem-mount-system false) == not_handled ]] ||
  fail "polkit: a fixed disk's mount was refused"
[[ $(polkit_says org.freedesktop.udisks2.encrypted-unlock true) == not_handled ]] ||
  fail "polkit: an action other than mounting was refused"

note "a directory named from the roster: refused"
rc=0
# (sed's standard error is not a file: layer 1 would refuse it the read.)
nb sh -c 'mkdir "$2/$(sed -n 2p "$1/files/roster.csv" 2>/dev/null | cut -d, -f1)" 2>&1' sh "$M" "$STICKS/a" \
  >"$WORK/mkdir.err" || rc=$?
[[ $rc -ne 0 ]] && grep -q 'Read-only file system' "$WORK/mkdir.err" || fail "mkdir of a pupil's name on the stick: rc $rc, $(cat "$WORK/mkdir.err")"
[[ ! -e "$STICKS/a/Ada Lovelace" ]] || fail "a pupil's name reached the stick as a directory"

note "a symlink whose target is a pupil's name: refused"
# (Their output goes through a pipe: layer 1 refuses a reader writing to a file.)
nbpy 'expect_errno(errno.EROFS, os.symlink, open(sys.argv[1]).read().splitlines()[1], sys.argv[2] + "/lnk")' \
  "$M/files/roster.csv" "$STICKS/a" 2>&1 | cat

note "an extended attribute on the empty file left there earlier: refused"
nbpy 'expect_errno(errno.EROFS, os.setxattr, sys.argv[2] + "/leftover.csv", "user.x", open(sys.argv[1], "rb").read())' \
  "$M/files/roster.csv" "$STICKS/a" 2>&1 | cat

note "rename, and root itself: refused (the read-only stick is for everyone)"
nbpy 'expect_errno(errno.EROFS, os.rename, sys.argv[1] + "/leftover.csv", sys.argv[1] + "/Ada Lovelace")' "$STICKS/a"
py 'expect_errno(errno.EROFS, os.mkdir, sys.argv[1] + "/by-root")' "$STICKS/a"

note "the namespace made before the coffer opened: its copy of the mount is read-only too"
echo go >"$WORK/ns.go"
wait "$NS_PID" || true
grep -q 'Read-only file system' "$U/ns.result" && ! grep -q WROTE "$U/ns.result" ||
  fail "a mount namespace made earlier could still write to the stick: $(cat "$U/ns.result")"

note "a stick mounted while the coffer is open, with a racing writer: read-only after a measured window"
# The racer (nobody) makes directories as fast as it can from the moment
# the new filesystem appears: the guard's open check cannot stop mkdir, only
# the remount can. It prints how many landed and for how long.
nb python3 -c '
import os, sys, time
d, parent = sys.argv[1], os.stat(sys.argv[1]).st_dev
end = time.monotonic() + 20
while os.stat(d).st_dev == parent and time.monotonic() < end:
    pass
t0, n, err = time.monotonic_ns(), 0, None
while time.monotonic() < end:
    try:
        os.mkdir("%s/n%d" % (d, n))
        n += 1
    except OSError as e:
        err = e.errno
        break
print(n, (time.monotonic_ns() - t0) // 1000, err, flush=True)
' "$STICKS/b" >"$WORK/race.out" &
RACE_PID=$!
sleep 0.3
mount -t tmpfs -o mode=1777,size=8m coffer-test-stick "$STICKS/b"
wait "$RACE_PID"
read -r landed window_us err <"$WORK/race.out"
note "hot-plug window: $landed directories landed in ${window_us} us before the stick turned read-only (errno $err)"
grep "$STICKS/b" "$GLOG" | sed 's/^/  guard: /' || true
[[ $err == 30 ]] || { tail -20 "$GLOG" >&2; fail "the racing writer was not stopped by a read-only stick (errno $err)"; }
((window_us < 1000000)) || fail "the new stick stayed writable for ${window_us} us"
super_ro "$STICKS/b" || fail "the new stick is not read-only"
grep -q "$STICKS/b" "$RECORD" || fail "the new stick's remount is not recorded"

note "locked: exactly what the guard changed is writable again"
expect_exit 0 nb "$COFFER" lock "$M"
wait_until 10 not_mounted "$M" || fail "the coffer did not lock"
wait_until 5 super_rw "$STICKS/a" || fail "the stick stayed read-only after the coffer locked"
wait_until 5 super_rw "$STICKS/b" || fail "the late stick stayed read-only after the coffer locked"
super_ro "$STICKS/ro" || fail "a stick read-only before the coffer opened was made writable"
wait_until 5 test ! -e "$RECORD" || fail "the record outlived the change"
nb mkdir "$STICKS/a/after"
expect_exit 1 nb "$COFFER" guard --socket "$SOCK" --query guarded-open
expect_output_contains 'no guarded coffer is open'
if command -v node >/dev/null; then
  [[ $(polkit_says org.freedesktop.udisks2.filesystem-mount false) == not_handled ]] ||
    fail "polkit: a stick mount was refused with no guarded coffer open"
fi

note "the guard killed while holding sticks read-only: the coffer locks; a new guard restores them"
open_guarded 0
wait_until 5 super_ro "$STICKS/a" || fail "the stick was not made read-only the second time"
kill -9 "$GUARD_PID"
wait "$GUARD_PID" 2>/dev/null || true
wait_until 10 not_mounted "$M" || fail "the guarded coffer stayed open after its guard died"
super_ro "$STICKS/a" && [[ -s $RECORD ]] || fail "expected the dead guard's change and record to be left"
start_guard
wait_until 5 super_rw "$STICKS/a" || { cat "$GLOG" >&2; fail "a restarted guard did not restore the stick"; }
super_ro "$STICKS/ro" || fail "the restarted guard made writable a stick it never changed"
[[ ! -e $RECORD ]] || fail "the record outlived the restore"
grep -q "restoring what a previous copy guard made read-only" "$GLOG" || fail "the restore is not logged"
note "a standard coffer claims layer 2 in status only while its registration is live"
S=$U/standard.coffer
SM=$U/smnt
expect_exit 0 nb "$COFFER" create "$S" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"
# ... and warns, at open and in status, of a program already writing to a
# stick (the open check cannot stop what it already has open).
mkfifo "$WORK/hold2.go"
chmod 666 "$WORK/hold2.go"
nbpy '
f = open(sys.argv[1] + "/log.txt", "w")
open(sys.argv[2]).read()
' "$STICKS/a" "$WORK/hold2.go" &
HOLD2_PID=$!
wait_until 5 test -e "$STICKS/a/log.txt" || fail "the second holder did not start"
expect_exit 0 nb "$COFFER" open "$S" "$SM" --passphrase-file "$U/pw" --guard-socket "$SOCK" --idle-seconds 900
expect_output_contains "warning: process [0-9]+ \(/usr/bin/python3[.0-9]*\) already had a file open for writing .*: $STICKS/a/log.txt"
super_rw "$STICKS/a" || fail "a standard coffer made the stick read-only"
expect_exit 0 nb "$COFFER" status
expect_output_contains 'layer 2: the copy guard service \(when running\)'
expect_output_contains "warning: process [0-9]+ .* already had a file open for writing"
echo >"$WORK/hold2.go"
wait "$HOLD2_PID"
kill -TERM "$GUARD_PID"
wait "$GUARD_PID" || fail "the guard did not stop cleanly"
GUARD_PID=
expect_exit 0 nb "$COFFER" status
expect_output_contains 'layer 2: off \(this coffer is not registered with the copy guard service\)'
! grep -q 'copy guard service (when running)' "$OUT" || fail "status still claims layer 2 with the guard gone"
expect_exit 0 nb "$COFFER" lock "$SM"
wait_until 10 not_mounted "$SM" || fail "the standard coffer did not lock"
expect_exit 6 nb "$COFFER" guard --socket "$SOCK" --query guarded-open
if command -v node >/dev/null; then
  [[ $(polkit_says org.freedesktop.udisks2.filesystem-mount false) == not_handled ]] ||
    fail "polkit: with no guard, a stick mount was refused"
fi

umount "$STICKS/a" "$STICKS/b" "$STICKS/ro"
finish
