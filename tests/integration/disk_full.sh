#!/usr/bin/env bash
# Disk full under a mounted coffer, for real: the coffer file lives on a
# 48 MiB tmpfs. Writing into files/ until the disk is full must give the
# writer ENOSPC (never EIO, never silence); files fsync'd before stay
# intact; the coffer locks, reopens and passes fsck; and once space is
# freed it takes writes again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root to mount a small tmpfs (CI runs as root)"; finish; exit 77; }

T=$WORK/small
M=$WORK/mnt
mkdir "$T" "$M"
mount -t tmpfs -o size=48m,mode=0700 tmpfs "$T"
CLEANUP_HOOKS+=("umount -l '$T'")
C=$T/full.coffer
make_coffer "$C"
# Other things on the disk, freed later to make room. Half the disk: deleting
# inside a coffer needs free room for what it deletes (secure_delete zeroes
# every freed page, and the rollback journal keeps each page first).
head -c $((24 << 20)) /dev/zero >"$T/ballast"
open_coffer "$C" "$M"

# Two files fsync'd while there is room; their checksums are kept outside.
py '
import hashlib
d, manifest = sys.argv[1], sys.argv[2]
with open(manifest, "w") as m:
    for n in range(2):
        data = os.urandom(1 << 20)
        fd = os.open(os.path.join(d, "kept-%d" % n), os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        m.write("%s  kept-%d\n" % (hashlib.sha256(data).hexdigest(), n))
' "$M/files" "$WORK/kept.sha256"

# Fill: 1 MiB writes, fsync every 4 MiB, until an error; it must be ENOSPC.
py '
d = sys.argv[1]
fd = os.open(os.path.join(d, "filler"), os.O_CREAT | os.O_WRONLY, 0o644)
block = os.urandom(1 << 20)
try:
    for i in range(200):
        os.write(fd, block)
        if i % 4 == 3:
            os.fsync(fd)
    die("wrote 200 MiB onto a 48 MiB disk without an error")
except OSError as e:
    if e.errno != errno.ENOSPC:
        die("the writer got %s (%s), expected ENOSPC" % (errno.errorcode.get(e.errno), e.strerror))
    print("ENOSPC after about %d MiB" % i)
try:
    os.close(fd)
except OSError:
    pass
# While the disk stays full, a new file is refused the same way (not EIO).
def create_and_sync():
    f = os.open(os.path.join(d, "more"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.fsync(f)
    finally:
        os.close(f)
expect_errno(errno.ENOSPC, create_and_sync)
' "$M/files"

lock_coffer "$M"
rm "$T/ballast"
open_coffer "$C" "$M"
(cd "$M/files" && sha256sum --quiet -c "$WORK/kept.sha256" 2>&1 | cat) ||
  fail "a file fsync'd before the disk filled is damaged or lost"
# With room again (the ballast went), the coffer takes changes: the
# part-written filler goes and a new file is saved.
rm -f "$M/files/filler"
py '
fd = os.open(os.path.join(sys.argv[1], "after"), os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"written after space was freed\n")
os.fsync(fd)
os.close(fd)
' "$M/files"
lock_coffer "$M"
fsck_ok "$C"
umount "$T"
finish
