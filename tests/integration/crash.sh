#!/usr/bin/env bash
# kill -9 of the filesystem process in the middle of a large write, five
# times. Each time `coffer open` on the same mountpoint must clean up the
# dead mount (and say so), every file fsync'd before any of the crashes must
# read back intact, what was being written must read without an integrity
# error, and at the end fsck must pass.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/crash.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
: >"$WORK/synced.sha256"

# write_synced ROUND: three files of random sizes (up to 3 chunks), each
# fsync'd through the mount; their checksums go into the manifest.
write_synced() {
  python3 - "$M/files" "$1" "$WORK/synced.sha256" <<'EOF'
import hashlib, os, sys
d, r, manifest = sys.argv[1], sys.argv[2], sys.argv[3]
for n in range(3):
    size = int.from_bytes(os.urandom(3), "little") % 400000
    data = os.urandom(size)
    name = "synced-%s-%d" % (r, n)
    fd = os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    with open(manifest, "a") as m:
        m.write("%s  %s\n" % (hashlib.sha256(data).hexdigest(), name))
EOF
}

check_synced() {
  (cd "$M/files" && sha256sum --quiet -c "$WORK/synced.sha256") ||
    fail "$1: a file fsync'd before the crash is damaged or lost"
}

heavy_size() { stat -c %s "$M/files/heavy-$1" 2>/dev/null || echo 0; }
heavy_started() { (($(heavy_size "$1") >= 24 << 20)); }

# reopen WHEN: `coffer open` right after a crash must work at once. If it
# does not, the failure is kept for the end and the open retried after the
# kernel's 1 s attribute cache has expired, so the rest is still checked.
IMMEDIATE_FAILURES=()
reopen() {
  run_cmd "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
  if [[ $STATUS -ne 0 ]]; then
    echo "FAIL (kept for the end): $1: open right after the crash exited $STATUS: $(cat "$ERR")" >&2
    IMMEDIATE_FAILURES+=("$1: exit $STATUS: $(cat "$ERR")")
    sleep 1.5
    expect_exit 0 "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
  fi
  [[ $(mount_line "$M") == *" fuse.coffer "* ]] || { show_last; fail "$1: open exited 0 but nothing is mounted"; }
  [[ $(mount_line "$M" | wc -l) -eq 1 ]] || fail "$1: the mountpoint has stacked mounts: $(mount_line "$M")"
  expect_output_contains 'left mounted|did not exit cleanly|stale'
}

for round in 1 2 3 4 5; do
  note "round $round"
  if ((round == 1)); then
    open_coffer "$C" "$M" --idle-seconds 900
  else
    reopen "round $round"
    check_synced "round $round"
    # The interrupted writes: whatever was committed reads without error.
    for f in "$M"/files/heavy-*; do
      [[ -e $f ]] || continue
      cat "$f" >/dev/null || fail "round $round: $(basename "$f") (written when killed) does not read back"
    done
  fi
  write_synced "$round"
  pid=$(daemon_pid "$M")

  dd if=/dev/urandom of="$M/files/heavy-$round" bs=1M count=3000 status=none 2>/dev/null &
  writer=$!
  wait_until 60 heavy_started "$round" || fail "round $round: the heavy write did not get going"
  # Odd rounds kill before the first periodic commit (the file is lost),
  # even rounds after a few (part of it is committed).
  ((round % 2 == 0)) && sleep 3
  kill -9 "$pid"
  wait_until 10 pid_gone "$pid" || fail "round $round: the filesystem process survived kill -9"
  # The writer must not hang on the dead mount.
  wait_until 20 pid_gone "$writer" || fail "round $round: the writer hangs after the filesystem process died"
  wait "$writer" 2>/dev/null && fail "round $round: the heavy write completed before the kill"
  is_mounted "$M" || fail "round $round: no stale mount left to clean up (the test did not crash anything)"
  # statfs is never answered from the kernel's caches.
  py 'expect_errno(errno.ENOTCONN, os.statvfs, sys.argv[1])' "$M" ||
    fail "round $round: the dead mount does not give ENOTCONN"
done

note "final reopen"
reopen "final"
check_synced "final"
[[ $(wc -l <"$WORK/synced.sha256") -eq 15 ]] || fail "the manifest does not list 15 files"
for f in "$M"/files/heavy-*; do
  [[ -e $f ]] || continue
  note "$(basename "$f"): $(stat -c %s "$f") bytes survived"
  cat "$f" >/dev/null || fail "$(basename "$f") (written when killed) does not read back"
done
lock_coffer "$M"
fsck_ok "$C"
if [[ ${#IMMEDIATE_FAILURES[@]} -gt 0 ]]; then
  printf '  %s\n' "${IMMEDIATE_FAILURES[@]}" >&2
  fail "${#IMMEDIATE_FAILURES[@]} of 5 reopens right after a crash failed (see above)"
fi
finish
