#!/usr/bin/env bash
# POSIX behaviour of files/ on a real mount, one assertion per case (each
# runs on its own, so one failure does not hide the next), plus the
# read-only top level: README.txt cannot be written and nothing can be
# created beside it. System calls the shell cannot make go through python3.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/posix.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900
F=$M/files
cd "$F"

t_create_read_write() {
  printf 'hello\n' >crw
  [[ $(cat crw) == hello ]] || fail "read back '$(cat crw)'"
  printf 'world, longer\n' >crw
  [[ $(cat crw) == 'world, longer' ]] || fail "after rewriting, read back '$(cat crw)'"
  printf 'x' >>crw
  [[ $(stat -c %s crw) -eq 15 ]] || fail "size $(stat -c %s crw) after append"
}

t_overlapping_writes() {
  py '
fd = os.open("ovl", os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"AAAA", 0)
os.pwrite(fd, b"BB", 1)
os.close(fd)
got = open("ovl", "rb").read()
if got != b"ABBA": die("read %r, expected ABBA" % got)'
}

t_truncate_grow() {
  printf 'abc' >tg
  truncate -s 10 tg
  [[ $(stat -c %s tg) -eq 10 ]] || fail "size $(stat -c %s tg) after growing to 10"
  cmp tg <(printf 'abc\0\0\0\0\0\0\0') || fail "grown bytes are not zeros"
  # Across a 128 KiB chunk boundary.
  truncate -s 300000 tg
  cmp -n 299990 -i 10:0 tg /dev/zero || fail "bytes grown across a chunk are not zeros"
}

t_truncate_shrink() {
  head -c 300000 /dev/urandom >"$WORK/ts.src"
  cp "$WORK/ts.src" ts
  truncate -s 1000 ts
  [[ $(stat -c %s ts) -eq 1000 ]] || fail "size $(stat -c %s ts) after shrinking to 1000"
  cmp ts <(head -c 1000 "$WORK/ts.src") || fail "the first 1000 bytes changed"
  # Growing again must not bring back the cut bytes.
  truncate -s 200000 ts
  cmp -n 199000 -i 1000:0 ts /dev/zero || fail "bytes cut by a shrink came back when growing"
}

t_ftruncate_open_fd() {
  py '
fd = os.open("ft", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"0123456789" * 10)
os.ftruncate(fd, 10)
if os.fstat(fd).st_size != 10: die("fstat size %d" % os.fstat(fd).st_size)
if os.stat("ft").st_size != 10: die("stat size %d" % os.stat("ft").st_size)
if os.pread(fd, 100, 0) != b"0123456789": die("read %r" % os.pread(fd, 100, 0))
os.ftruncate(fd, 20)
if os.pread(fd, 100, 0) != b"0123456789" + bytes(10): die("grown by ftruncate: %r" % os.pread(fd, 100, 0))
os.close(fd)'
}

t_rename_replace() {
  printf 'new' >rr.a
  printf 'old contents' >rr.b
  mv -f rr.a rr.b
  [[ ! -e rr.a ]] || fail "the source name still exists"
  [[ $(cat rr.b) == new ]] || fail "the target reads '$(cat rr.b)', expected 'new'"
}

t_rename_dir_across() {
  mkdir -p rd.x/sub rd.y
  printf 'inner' >rd.x/sub/inner
  [[ $(stat -c %h rd.x) -eq 3 && $(stat -c %h rd.y) -eq 2 ]] || fail "nlink before: x $(stat -c %h rd.x), y $(stat -c %h rd.y)"
  mv rd.x/sub rd.y/sub
  [[ ! -e rd.x/sub ]] || fail "rd.x/sub still exists"
  [[ $(cat rd.y/sub/inner) == inner ]] || fail "rd.y/sub/inner does not read back"
  [[ $(stat -c %h rd.x) -eq 2 && $(stat -c %h rd.y) -eq 3 ]] || fail "nlink after: x $(stat -c %h rd.x), y $(stat -c %h rd.y)"
  [[ $(cd rd.y/sub/.. && pwd -P) == "$F/rd.y" ]] || fail "rd.y/sub/.. is not rd.y"
}

t_rename_over_open_file() {
  py '
with open("ro.t", "wb") as f: f.write(b"the old data")
fd = os.open("ro.t", os.O_RDONLY)
with open("ro.u", "wb") as f: f.write(b"new")
os.rename("ro.u", "ro.t")
got = os.pread(fd, 100, 0)
if got != b"the old data": die("the open fd reads %r after the rename, expected the old data" % got)
if open("ro.t", "rb").read() != b"new": die("the name does not read the new data")
os.close(fd)'
}

t_rename_noreplace() {
  py '
libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD, RENAME_NOREPLACE = -100, 1
with open("nr.a", "w") as f: f.write("a")
with open("nr.b", "w") as f: f.write("b")
if libc.renameat2(AT_FDCWD, b"nr.a", AT_FDCWD, b"nr.b", RENAME_NOREPLACE) == 0:
    die("RENAME_NOREPLACE onto an existing name succeeded")
e = ctypes.get_errno()
if e != errno.EEXIST: die("errno %s, expected EEXIST" % errno.errorcode.get(e))
if open("nr.a").read() != "a" or open("nr.b").read() != "b": die("a failed rename changed the files")
if libc.renameat2(AT_FDCWD, b"nr.a", AT_FDCWD, b"nr.c", RENAME_NOREPLACE) != 0:
    die("RENAME_NOREPLACE onto a free name failed: %s" % errno.errorcode.get(ctypes.get_errno()))'
}

t_mkdir_rmdir() {
  mkdir md
  [[ -d md ]] || fail "mkdir made no directory"
  rmdir md
  [[ ! -e md ]] || fail "rmdir left the directory"
  mkdir md2
  : >md2/f
  py 'expect_errno(errno.ENOTEMPTY, os.rmdir, "md2")'
  [[ -e md2/f ]] || fail "a refused rmdir removed the contents"
}

t_unlink_while_open() {
  py '
def inodes(): return os.statvfs(".").f_files
with open("ul", "wb") as f: f.write(b"keep me")
before = inodes()
fd = os.open("ul", os.O_RDWR)
os.unlink("ul")
if os.path.exists("ul") or "ul" in os.listdir("."): die("the name is still there")
if os.pread(fd, 100, 0) != b"keep me": die("the open fd reads %r" % os.pread(fd, 100, 0))
os.pwrite(fd, b"X", 0)
if os.pread(fd, 100, 0) != b"Xeep me": die("a write through the fd reads back %r" % os.pread(fd, 100, 0))
if os.fstat(fd).st_nlink != 0: die("fstat nlink %d" % os.fstat(fd).st_nlink)
os.close(fd)
import time
for _ in range(50):
    if inodes() == before - 1: break
    time.sleep(0.1)
else:
    die("the inode was not reclaimed after the last close (f_files %d -> %d)" % (before, inodes()))'
}

t_hard_links() {
  printf 'shared' >hl.1
  ln hl.1 hl.2
  [[ $(stat -c %h hl.1) -eq 2 && $(stat -c %h hl.2) -eq 2 ]] || fail "nlink $(stat -c %h hl.1)/$(stat -c %h hl.2), expected 2"
  [[ $(stat -c %i hl.1) == "$(stat -c %i hl.2)" ]] || fail "the two names have different inodes"
  printf ' more' >>hl.2
  [[ $(cat hl.1) == 'shared more' ]] || fail "a write through one name is not seen through the other"
  rm hl.1
  [[ $(cat hl.2) == 'shared more' ]] || fail "unlinking one name lost the data"
  [[ $(stat -c %h hl.2) -eq 1 ]] || fail "nlink $(stat -c %h hl.2) after unlinking the other name"
}

t_symlinks() {
  printf 'target data' >sl.target
  ln -s sl.target sl.link
  [[ -L sl.link ]] || fail "not a symlink"
  [[ $(readlink sl.link) == sl.target ]] || fail "readlink gives '$(readlink sl.link)'"
  [[ $(cat sl.link) == 'target data' ]] || fail "following the link reads '$(cat sl.link)'"
  mkdir sl.dir
  ln -s ../sl.target sl.dir/up
  [[ $(cat sl.dir/up) == 'target data' ]] || fail "a relative link through .. does not resolve"
  ln -s "$(printf 'x%.0s' $(seq 1 1000))" sl.long
  [[ $(readlink sl.long | wc -c) -eq 1001 ]] || fail "a 1000-byte link target is not kept"
}

t_chmod() {
  : >cm
  chmod 640 cm
  [[ $(stat -c %a cm) == 640 ]] || fail "mode $(stat -c %a cm) after chmod 640"
  chmod 755 cm
  [[ $(stat -c %a cm) == 755 ]] || fail "mode $(stat -c %a cm) after chmod 755"
  mkdir cm.d
  chmod 700 cm.d
  [[ $(stat -c %A cm.d) == drwx------ ]] || fail "directory mode $(stat -c %A cm.d) after chmod 700"
}

t_utimens_ns() {
  py '
open("ut", "w").close()
os.utime("ut", ns=(1234567890123456789, 1600000000987654321))
st = os.stat("ut")
if (st.st_atime_ns, st.st_mtime_ns) != (1234567890123456789, 1600000000987654321):
    die("times read back as %d, %d" % (st.st_atime_ns, st.st_mtime_ns))'
}

t_statfs() {
  df "$F" >/dev/null || fail "df failed"
  py '
v = os.statvfs(".")
if v.f_namemax != 255: die("f_namemax %d" % v.f_namemax)
if v.f_bsize == 0 or v.f_blocks == 0: die("statvfs reports no space: %r" % (v,))'
}

t_fsync_fsyncdir() {
  py '
fd = os.open("fs", os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"data")
os.fsync(fd)
os.fdatasync(fd)
os.close(fd)
d = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
os.fsync(d)
os.close(d)'
}

t_o_append() {
  py '
with open("ap", "wb") as f: f.write(b"one\n")
fd = os.open("ap", os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"two\n")
os.close(fd)
got = open("ap", "rb").read()
if got != b"one\ntwo\n": die("read %r" % got)'
}

t_name_max() {
  py '
n255, n256 = "n" * 255, "n" * 256
open(n255, "w").close()
if n255 not in os.listdir("."): die("a 255-byte name is not listed")
expect_errno(errno.ENAMETOOLONG, os.open, n256, os.O_CREAT | os.O_WRONLY, 0o644)
expect_errno(errno.ENAMETOOLONG, os.mkdir, n256)
expect_errno(errno.ENAMETOOLONG, os.rename, n255, n256)'
}

t_mkfifo() {
  py '
os.mkfifo("fifo")
if not stat.S_ISFIFO(os.lstat("fifo").st_mode): die("mode %o" % os.lstat("fifo").st_mode)'
}

t_unix_socket() {
  py '
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("sock")
s.close()
if not stat.S_ISSOCK(os.lstat("sock").st_mode): die("mode %o" % os.lstat("sock").st_mode)'
}

t_mknod_chardev() {
  py '
expect_errno(errno.EPERM, os.mknod, "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
if os.path.lexists("null"): die("a device node was created")'
}

t_setgid_dir() {
  mkdir sg
  chgrp 100 sg
  chmod g+s sg
  [[ $(stat -c %A sg) == drwxr-sr-x ]] || fail "mode $(stat -c %A sg) after chmod g+s"
  : >sg/f
  mkdir sg/sub
  [[ $(stat -c %g sg/f) -eq 100 ]] || fail "a new file in a setgid directory has gid $(stat -c %g sg/f), expected 100"
  [[ $(stat -c %g sg/sub) -eq 100 ]] || fail "a new subdirectory has gid $(stat -c %g sg/sub), expected 100"
  [[ $(( 0$(stat -c %a sg/sub) & 02000 )) -ne 0 ]] || fail "the subdirectory did not inherit S_ISGID (mode $(stat -c %a sg/sub))"
}

t_sticky_dir() {
  mkdir st
  chmod 1777 st
  [[ $(stat -c %a st) == 1777 && $(stat -c %A st) == drwxrwxrwt ]] || fail "mode $(stat -c %a st) $(stat -c %A st)"
}

t_readme_readable() {
  grep -q 'This folder is a coffer' "$M/README.txt" || fail "README.txt does not read as the README"
  [[ $(stat -c %s "$M/README.txt") -eq $(wc -c <"$M/README.txt") ]] || fail "README.txt's size differs from its contents"
}

t_readme_not_writable() {
  local before
  before=$(sha256sum <"$M/README.txt")
  py '
p = sys.argv[1]
expect_errno(errno.EACCES, os.open, p, os.O_WRONLY)
expect_errno(errno.EACCES, os.open, p, os.O_RDWR)
expect_errno(errno.EACCES, os.open, p, os.O_WRONLY | os.O_APPEND)
expect_errno(errno.EACCES, os.open, p, os.O_WRONLY | os.O_TRUNC)' "$M/README.txt"
  [[ $(sha256sum <"$M/README.txt") == "$before" ]] || fail "README.txt changed"
}

t_top_level_readonly() {
  py '
m = sys.argv[1]
expect_errno(errno.EACCES, os.open, m + "/new", os.O_CREAT | os.O_WRONLY, 0o644)
expect_errno(errno.EACCES, os.mkdir, m + "/newdir")
expect_errno(errno.EACCES, os.symlink, "files", m + "/link")
expect_errno(errno.EACCES, os.unlink, m + "/README.txt")
expect_errno(errno.EACCES, os.rename, m + "/files", m + "/other")' "$M"
  [[ $(ls -A "$M" | tr '\n' ' ') == 'README.txt files manifest.txt pupils roster.csv ' ]] || fail "the top level lists: $(ls -A "$M")"
}

for t in t_create_read_write t_overlapping_writes t_truncate_grow t_truncate_shrink \
  t_ftruncate_open_fd t_rename_replace t_rename_dir_across t_rename_over_open_file \
  t_rename_noreplace t_mkdir_rmdir t_unlink_while_open t_hard_links t_symlinks t_chmod \
  t_utimens_ns t_statfs t_fsync_fsyncdir t_o_append t_name_max t_mkfifo t_unix_socket \
  t_mknod_chardev t_setgid_dir t_sticky_dir t_readme_readable t_readme_not_writable \
  t_top_level_readonly; do
  soft_check "$t"
done

cd "$WORK"
lock_coffer "$M"
soft_check_summary
fsck_ok "$C"
finish
