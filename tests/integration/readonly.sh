#!/usr/bin/env bash
# `coffer open --read-only`: everything reads, nothing writes. Every kind of
# change in files/ fails with EROFS ("Read-only file system"), and the
# coffer's contents are unchanged afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/ro.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900
head -c 200000 /dev/urandom >"$WORK/data"
cp "$WORK/data" "$M/files/data"
mkdir "$M/files/dir"
printf 'inside' >"$M/files/dir/inside"
lock_coffer "$M"

open_coffer "$C" "$M" --idle-seconds 900 --read-only
[[ $(status_field "$M" read_only) == true ]] || fail "status --json does not show read_only true"
[[ $(mount_line "$M" | awk '{ print $4 }') == ro,* ]] || fail "the mount is not read-only: $(mount_line "$M")"

# Reading works.
cmp "$WORK/data" "$M/files/data" || fail "files/data does not read back"
[[ $(cat "$M/files/dir/inside") == inside ]] || fail "files/dir/inside does not read back"
[[ $(ls "$M/files" | tr '\n' ' ') == 'data dir ' ]] || fail "files/ lists: $(ls "$M/files")"
grep -q 'This folder is a coffer' "$M/README.txt" || fail "README.txt does not read"

# The shell's own message.
if msg=$( (printf x >"$M/files/new") 2>&1); then fail "creating a file succeeded"; fi
[[ $msg == *'Read-only file system'* ]] || fail "creating a file failed with '$msg', not 'Read-only file system'"

# Every kind of change: EROFS.
py '
f = sys.argv[1]
expect_errno(errno.EROFS, os.open, f + "/new", os.O_CREAT | os.O_WRONLY, 0o644)
expect_errno(errno.EROFS, os.open, f + "/data", os.O_WRONLY)
expect_errno(errno.EROFS, os.open, f + "/data", os.O_RDWR)
expect_errno(errno.EROFS, os.open, f + "/data", os.O_WRONLY | os.O_APPEND)
expect_errno(errno.EROFS, os.truncate, f + "/data", 0)
expect_errno(errno.EROFS, os.mkdir, f + "/newdir")
expect_errno(errno.EROFS, os.rmdir, f + "/dir")
expect_errno(errno.EROFS, os.unlink, f + "/data")
expect_errno(errno.EROFS, os.unlink, f + "/dir/inside")
expect_errno(errno.EROFS, os.rename, f + "/data", f + "/renamed")
expect_errno(errno.EROFS, os.link, f + "/data", f + "/hardlink")
expect_errno(errno.EROFS, os.symlink, "data", f + "/symlink")
expect_errno(errno.EROFS, os.mkfifo, f + "/fifo")
expect_errno(errno.EROFS, os.chmod, f + "/data", 0o600)
expect_errno(errno.EROFS, os.chown, f + "/data", 0, 100)
expect_errno(errno.EROFS, os.utime, f + "/data", ns=(1, 1))
' "$M/files"

lock_coffer "$M"
# Nothing changed: reopened read-write, the same files with the same data.
open_coffer "$C" "$M" --idle-seconds 900
cmp "$WORK/data" "$M/files/data" || fail "files/data changed"
[[ $(ls -A "$M/files" | tr '\n' ' ') == 'data dir ' ]] || fail "files/ now lists: $(ls -A "$M/files")"
lock_coffer "$M"
fsck_ok "$C"
finish
