#!/usr/bin/env bash
# No plaintext to unencrypted swap: `open` refuses (exit 6, before the
# passphrase is used, nothing mounted) on a machine whose swap or
# hibernation image is on an unencrypted device, read from /proc/swaps,
# /proc/cmdline and sysfs (injected here with the root-only hidden
# --system-root: CI has no swap). A swap on dm-crypt or zram opens; the
# school policy's [memory] unencrypted_swap = "warn" opens with a warning.
# A teacher cannot use --system-root to point the check at a tree of their
# own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/swap.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"

# A fake /proc and /sys: one plain partition (sda2), one LUKS device (dm-0
# on sda3), zram0.
R=$WORK/root
mkdir -p "$R/proc" "$R/sys/dev/block" "$R/sys/class/block" "$R/sys/block" "$R/sys/power"
dev() {  # DEVPATH MAJ:MIN [partition]
  local d=$R/sys/devices/$1 name
  name=$(basename "$1")
  mkdir -p "$d"
  echo "$2" >"$d/dev"
  ln -s "../../devices/$1" "$R/sys/dev/block/$2"
  ln -s "../../devices/$1" "$R/sys/class/block/$name"
  [[ ${3:-} == partition ]] || ln -s "../devices/$1" "$R/sys/block/$name"
}
dev pci0000:00/ata1/sda 8:0
dev pci0000:00/ata1/sda/sda2 8:2 partition
dev pci0000:00/ata1/sda/sda3 8:3 partition
dev virtual/block/dm-0 254:0
mkdir -p "$R/sys/devices/virtual/block/dm-0/dm" "$R/sys/devices/virtual/block/dm-0/slaves"
echo cryptswap >"$R/sys/devices/virtual/block/dm-0/dm/name"
echo CRYPT-LUKS2-0123456789abcdef0123456789abcdef-cryptswap >"$R/sys/devices/virtual/block/dm-0/dm/uuid"
ln -s ../../../../pci0000:00/ata1/sda/sda3 "$R/sys/devices/virtual/block/dm-0/slaves/sda3"
dev virtual/block/zram0 252:0
echo "quiet" >"$R/proc/cmdline"
swaps() { printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n%s' "$1" >"$R/proc/swaps"; }

# Unencrypted swap: refused, nothing mounted, no unlock recorded.
swaps $'/dev/sda2                               partition\t8388604\t\t0\t\t-2\n'
expect_exit 6 "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --system-root "$R"
expect_output_contains 'swap partition /dev/sda2 is not encrypted'
expect_output_contains 'in the clear'
! is_mounted "$M" || fail "open mounted over unencrypted swap"

# A hibernation image on the plain partition, swap encrypted: refused too.
swaps $'/dev/mapper/cryptswap partition 8388604 0 -2\n'
echo "quiet resume=/dev/sda2" >"$R/proc/cmdline"
expect_exit 6 "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --system-root "$R"
expect_output_contains 'hibernation image \(resume=/dev/sda2\)'
! is_mounted "$M" || fail "open mounted with a hibernation image on an unencrypted device"

# dm-crypt swap and zram, hibernation to the encrypted device: opens.
swaps $'/dev/dm-0 partition 8388604 0 -2\n/dev/zram0 partition 4194300 0 100\n'
echo "quiet resume=/dev/mapper/cryptswap" >"$R/proc/cmdline"
open_coffer "$C" "$M" --system-root "$R"
lock_coffer "$M"

# The school policy may downgrade the refusal to a warning.
swaps $'/dev/sda2 partition 8388604 0 -2\n'
printf '[memory]\nunencrypted_swap = "warn"\n' >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"
expect_exit 0 "$COFFER" --policy "$WORK/policy.toml" open "$C" "$M" --passphrase-file "$PWFILE" --system-root "$R"
expect_output_contains 'warning: swap partition /dev/sda2 is not encrypted'
is_mounted "$M" || fail "the policy's warn did not open"
lock_coffer "$M"

# A teacher cannot point the check elsewhere (refused before anything is
# read).
chmod 755 "$WORK"
expect_exit 6 runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$WORK" \
  "$COFFER" open "$C" "$M" --passphrase-file "$WORK/pw" --system-root "$R"
expect_output_contains 'root only'
! is_mounted "$M" || fail "a teacher's --system-root mounted"
finish
