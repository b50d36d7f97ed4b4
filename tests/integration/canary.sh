#!/usr/bin/env bash
# What is saved in files/ never reaches the disk in the clear: a unique
# canary string, written through the mount (once in a small file, and
# repeated through a 5 MiB file), must not appear in the coffer file or its
# journal while mounted or after lock, nor in any file under /tmp, /var/tmp
# or /dev/shm modified during the test. The canary exists only in this
# shell's memory and the pipes to the mount: the test writes it to no file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/canary.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
touch "$WORK/.start-marker"
sleep 1  # so "newer than the marker" cannot miss a file written in the same second

CANARY="CANARY-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
# A distinctive chunk of it too, in case only part of a record leaks.
PART=${CANARY:7:16}

open_coffer "$C" "$M" --idle-seconds 900
printf 'pupil record: %s\n' "$CANARY" >"$M/files/record.txt"
{ yes "$CANARY" || true; } | head -c $((5 << 20)) >"$M/files/bulk.txt"
py '
for name in ("record.txt", "bulk.txt"):
    fd = os.open(sys.argv[1] + "/" + name, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)' "$M/files"
grep -qF "$CANARY" "$M/files/record.txt" || fail "the canary does not read back through the mount"
[[ $(stat -c %s "$M/files/bulk.txt") -eq $((5 << 20)) ]] || fail "bulk.txt is not 5 MiB"

# leaks WHEN FILE...: fails if any FILE contains the canary or its part.
leaks() {
  local when=$1 f
  shift
  for f in "$@"; do
    [[ -f $f ]] || continue
    if grep -qaF -e "$CANARY" -e "$PART" -- "$f"; then
      fail "$when: the canary is in $f"
    fi
  done
}
siblings() {
  echo "$C"
  for f in "$C"-journal "$C"-wal "$C"-shm "$C".*; do [[ -e $f ]] && echo "$f"; done
  return 0
}

note "while mounted"
mapfile -t files < <(siblings)
leaks "while mounted" "${files[@]}"
# Keep writing (uncommitted) and look again: spilled pages must be encrypted.
{ yes "$CANARY" || true; } | head -c $((3 << 20)) >>"$M/files/bulk.txt"
mapfile -t files < <(siblings)
leaks "while mounted, mid-transaction" "${files[@]}"

lock_coffer "$M"
note "after lock"
mapfile -t files < <(siblings)
leaks "after lock" "${files[@]}"

# Files anywhere in the shared temporary directories written meanwhile
# (-xdev: not into other mounts).
count=0
while IFS= read -r -d '' f; do
  count=$((count + 1))
  leaks "temporary files" "$f"
done < <(find /tmp /var/tmp /dev/shm -xdev -type f -newer "$WORK/.start-marker" -print0 2>/dev/null)
note "checked $count files under /tmp, /var/tmp, /dev/shm"

# The check itself works: the canary is found where it is in the clear.
open_coffer "$C" "$M" --idle-seconds 900
grep -qF "$CANARY" "$M/files/record.txt" || fail "the canary is lost after reopening"
[[ $(grep -cF "$CANARY" "$M/files/bulk.txt") -gt 100000 ]] || fail "bulk.txt lost its canaries"
lock_coffer "$M"
fsck_ok "$C"
finish
