#!/usr/bin/env bash
# Data survives a lock and a reopen, byte for byte: 200 small files of random
# sizes, a 1 GiB file, a sparse file larger than 4 GiB with a hole that reads
# as zeros, 10,000 files in one directory and a tree 60 directories deep.
# Checksums are taken from the source data, then checked through the mount
# before locking and again after reopening; fsck passes at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/roundtrip.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900
F=$M/files

# --- 200 small files, 0..70 KiB (both ends included), from a host copy.
note "small files"
mkdir "$WORK/small"
python3 - "$WORK/small" <<'EOF'
import os, sys
sizes = [0, 70 * 1024] + [int.from_bytes(os.urandom(4), "little") % (70 * 1024 + 1) for _ in range(198)]
for n, size in enumerate(sizes):
    with open(os.path.join(sys.argv[1], "s%03d.bin" % n), "wb") as f:
        f.write(os.urandom(size))
EOF
(cd "$WORK/small" && sha256sum -- *) >"$WORK/small.sha256"
cp -r "$WORK/small" "$F/small"

# --- 1 GiB: a random 64 MiB block written 16 times, each copy stamped with
# its number (so a chunk index that wrapped would not go unnoticed).
note "1 GiB file"
head -c $((64 << 20)) /dev/urandom >"$WORK/r64"
gen_big() {
  python3 - "$WORK/r64" <<'EOF'
import sys
block = bytearray(open(sys.argv[1], "rb").read())
out = sys.stdout.buffer
for i in range(16):
    block[0:16] = b"segment %07d\n" % i
    out.write(block)
EOF
}
big_sum=$(gen_big | sha256sum | cut -d' ' -f1)
gen_big | dd of="$F/big.bin" bs=1M iflag=fullblock status=none
[[ $(stat -c %s "$F/big.bin") -eq $((1 << 30)) ]] || fail "big.bin has size $(stat -c %s "$F/big.bin")"

# --- Sparse: data at 0 (crossing a 128 KiB chunk boundary) and at
# 5 GiB + 123 (not chunk-aligned), nothing in between.
note "sparse file"
OFF=$(((5 << 30) + 123))
head -c 200000 /dev/urandom >"$WORK/p0"
head -c 300000 /dev/urandom >"$WORK/p1"
dd if="$WORK/p0" of="$F/sparse" bs=64K conv=notrunc status=none
dd if="$WORK/p1" of="$F/sparse" bs=64K seek="$OFF" oflag=seek_bytes conv=notrunc status=none
SPARSE_SIZE=$((OFF + 300000))

# --- 10,000 files in one directory, and a tree 60 levels deep.
note "10,000 files"
mkdir "$F/many"
python3 - "$F/many" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(10000):
    with open(os.path.join(d, "f%05d" % i), "w") as f:
        f.write("file %05d\n" % i)
EOF
note "deep tree"
DEEP=$(printf 'd%02d/' $(seq 1 60))
mkdir -p "$F/$DEEP"
head -c 5000 /dev/urandom >"$WORK/bottom"
cp "$WORK/bottom" "$F/${DEEP}bottom.bin"

# verify: every check of the written data, through the mount.
verify() {
  local when=$1
  note "verify ($when)"
  (cd "$F/small" && sha256sum --quiet -c "$WORK/small.sha256") ||
    fail "$when: a small file's checksum differs"
  [[ $(ls -A "$F/small" | wc -l) -eq 200 ]] || fail "$when: files/small does not hold 200 entries"
  [[ $(stat -c %s "$F/small/s000.bin") -eq 0 && $(stat -c %s "$F/small/s001.bin") -eq 71680 ]] ||
    fail "$when: the 0-byte or the 70 KiB file has the wrong size"

  [[ $(stat -c %s "$F/big.bin") -eq $((1 << 30)) ]] || fail "$when: big.bin has size $(stat -c %s "$F/big.bin")"
  [[ $(sha256sum <"$F/big.bin" | cut -d' ' -f1) == "$big_sum" ]] || fail "$when: big.bin's checksum differs"

  [[ $(stat -c %s "$F/sparse") -eq $SPARSE_SIZE ]] ||
    fail "$when: sparse has size $(stat -c %s "$F/sparse"), expected $SPARSE_SIZE"
  ((SPARSE_SIZE > 1 << 32)) || fail "the sparse file is not larger than 4 GiB"
  cmp -n 200000 "$WORK/p0" "$F/sparse" || fail "$when: the data at offset 0 differs"
  cmp -n 300000 -i "$OFF:0" "$F/sparse" "$WORK/p1" || fail "$when: the data at 5 GiB+123 differs"
  # The hole: right after the first part (the rest of its chunk), in the
  # middle, across the 4 GiB mark, and up to the second part.
  cmp -n $((4 << 20)) -i 200000:0 "$F/sparse" /dev/zero || fail "$when: the hole after offset 200000 is not zeros"
  cmp -n $((1 << 20)) -i $(((2 << 30) + 7)):0 "$F/sparse" /dev/zero || fail "$when: the hole at 2 GiB is not zeros"
  cmp -n $((1 << 20)) -i $(((4 << 30) - 4096)):0 "$F/sparse" /dev/zero || fail "$when: the hole at 4 GiB is not zeros"
  cmp -n $((1 << 20)) -i $((OFF - (1 << 20))):0 "$F/sparse" /dev/zero || fail "$when: the hole before 5 GiB+123 is not zeros"

  [[ $(ls "$F/many" | wc -l) -eq 10000 ]] || fail "$when: files/many lists $(ls "$F/many" | wc -l) entries, not 10000"
  diff <(ls "$F/many") <(printf 'f%05d\n' $(seq 0 9999)) >/dev/null || fail "$when: files/many lists the wrong names"
  python3 - "$F/many" <<'EOF' || fail "$when: a file in files/many has the wrong contents"
import os, sys
d = sys.argv[1]
bad = [i for i in range(10000) if open(os.path.join(d, "f%05d" % i)).read() != "file %05d\n" % i]
if bad:
    sys.exit("wrong contents: f%05d and %d more" % (bad[0], len(bad) - 1))
EOF

  cmp "$WORK/bottom" "$F/${DEEP}bottom.bin" || fail "$when: the file 60 levels deep differs"
  [[ $(find "$F/d01" -type d | wc -l) -eq 60 ]] || fail "$when: the deep tree does not have 60 directories"
}

verify "before locking"
pid=$(daemon_pid "$M")
lock_coffer "$M"
pid_gone "$pid" || fail "the filesystem process $pid is still running after lock"

# Holes are not stored: the coffer holds ~1.2 GiB of data, not 6 GiB.
size=$(stat -c %s "$C")
((size < (2 << 30))) || fail "the coffer file is $size bytes: the sparse file's hole was stored"

open_coffer "$C" "$M" --idle-seconds 900
verify "after reopening"
# Saving a shorter version over a file (O_TRUNC) leaves no old tail.
printf '%0100d' 0 >"$F/resaved.txt"
printf 'short' >"$F/resaved.txt"
[[ $(cat "$F/resaved.txt") == short ]] || fail "a file rewritten shorter kept its old tail: $(cat "$F/resaved.txt" | head -c 120)"
lock_coffer "$M"
fsck_ok "$C"
finish
