#!/usr/bin/env bash
# Every way a mount ends: the idle lock (and use postponing it), `coffer
# lock` while a file is held open (it must not wait for the file, and the
# open descriptor must stop giving data), and SIGTERM to the filesystem
# process. Each time the mount and the process must be gone, and the coffer
# must reopen at once with the data written before.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/lock.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"

# reopen_and_check WHEN: the coffer opens again right away and holds what
# was written before (including the file written last, just before locking).
reopen_and_check() {
  open_coffer "$C" "$M" --idle-seconds 900
  [[ $(cat "$M/files/first" 2>/dev/null) == first-data ]] || fail "$1: files/first is lost after reopening"
  if [[ -n ${LAST:-} ]]; then
    [[ $(cat "$M/files/$LAST" 2>/dev/null) == "$LAST-data" ]] || fail "$1: files/$LAST is lost after reopening"
  fi
}

# gone PID WHEN: the mount and the process are gone, status lists nothing.
assert_gone() {
  local pid=$1 when=$2
  ! is_mounted "$M" || fail "$when: $M is still mounted"
  pid_gone "$pid" || fail "$when: the filesystem process $pid still exists"
  # (e) Not even as a process whose memory could still be read. An exited
  # process stays a zombie until its parent (init, after `open` forked and
  # returned) reaps it, which some inits do lazily; a zombie maps nothing.
  if ! wait_until 5 test ! -e "/proc/$pid"; then
    [[ $(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) == Z ]] ||
      fail "$when: /proc/$pid still exists and is not a zombie"
    [[ ! -s /proc/$pid/maps ]] || fail "$when: /proc/$pid/maps still lists mappings"
    note "$when: process $pid has exited but is not yet reaped by its parent"
  fi
  expect_exit 0 "$COFFER" status --json
  [[ $(tr -d ' \n' <"$OUT") == '[]' ]] || { show_last; fail "$when: status --json still lists a coffer"; }
  expect_exit 0 "$COFFER" status
  expect_output_contains 'no coffer is open'
}

open_coffer "$C" "$M" --idle-seconds 900
printf 'first-data' >"$M/files/first"
lock_coffer "$M"

# --- (a) The idle lock: 6 s without use (room for a slow, sanitized build
# between the open and the first write below).
note "(a) idle lock"
open_coffer "$C" "$M" --idle-seconds 6
pid=$(daemon_pid "$M")
[[ $(status_field "$M" idle_timeout_seconds) -eq 6 ]] || fail "status shows idle_timeout_seconds $(status_field "$M" idle_timeout_seconds)"
LAST=idle
printf 'idle-data' >"$M/files/idle"
start=$SECONDS
wait_until 12 not_mounted "$M" || fail "(a) still mounted 12 s after the last use with --idle-seconds 6"
wait_until 2 pid_gone "$pid" || fail "(a) the filesystem process $pid did not exit after the idle lock"
((SECONDS - start >= 5)) || fail "(a) locked after $((SECONDS - start)) s, before 6 s of idleness"
assert_gone "$pid" "(a)"
reopen_and_check "(a)"
lock_coffer "$M"

# --- (a') Use postpones the idle lock: read a file every second for 6 s.
note "(a') use postpones the idle lock"
open_coffer "$C" "$M" --idle-seconds 3
pid=$(daemon_pid "$M")
for _ in 1 2 3 4 5 6; do
  sleep 1
  cat "$M/files/first" >/dev/null || fail "(a') reading failed while in use"
done
is_mounted "$M" || fail "(a') locked as idle after 6 s while a file was read every second"
wait_until 8 not_mounted "$M" || fail "(a') not locked 8 s after the last use"
wait_until 2 pid_gone "$pid" || fail "(a') the filesystem process $pid did not exit"
assert_gone "$pid" "(a')"

# --- (a'') Metadata polling is not use: df, stat and ls every second (as
# disk monitors and file managers do) must not hold the idle lock off.
note "(a'') df, stat and ls polling do not postpone the idle lock"
open_coffer "$C" "$M" --idle-seconds 3
pid=$(daemon_pid "$M")
start=$SECONDS
while is_mounted "$M" && ((SECONDS - start < 12)); do
  df "$M" >/dev/null 2>&1 || true
  stat "$M" "$M/files" "$M/roster.csv" >/dev/null 2>&1 || true
  ls -la "$M" "$M/files" >/dev/null 2>&1 || true
  sleep 1
done
wait_until 2 not_mounted "$M" || fail "(a'') still mounted $((SECONDS - start)) s into df/stat/ls polling with --idle-seconds 3"
((SECONDS - start >= 2)) || fail "(a'') locked after $((SECONDS - start)) s, before 3 s of idleness"
wait_until 2 pid_gone "$pid" || fail "(a'') the filesystem process $pid did not exit"
assert_gone "$pid" "(a'')"

# --- (b) coffer lock with a file held open by another process.
note "(b) lock while a file is open"
reopen_and_check "(b) before"
LAST=held
head -c 300000 /dev/urandom | base64 -w0 >"$M/files/held.big"
printf 'held-data' >"$M/files/held"
pid=$(daemon_pid "$M")
# The holder reads once (filling the page cache), says it is ready, then
# waits for "go" and reads again from the start: that read must fail.
python3 - "$M/files/held.big" "$WORK/holder" <<'EOF' &
import os, sys, time
path, state = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY)
first = os.pread(fd, 4096, 0)
open(state + ".ready", "w").write(str(len(first)))
while not os.path.exists(state + ".go"):
    time.sleep(0.05)
try:
    data = os.pread(fd, 4096, 0)
    result = "DATA %d" % len(data)
except OSError as e:
    result = "ERROR %s" % e.strerror
open(state + ".result", "w").write(result)
time.sleep(60)  # keeps the descriptor open until killed
EOF
holder=$!
wait_until 10 test -e "$WORK/holder.ready" || fail "(b) the holder process did not open the file"
[[ $(cat "$WORK/holder.ready") -eq 4096 ]] || fail "(b) the holder's first read got $(cat "$WORK/holder.ready") bytes"
start=$(date +%s%N)
expect_exit 0 "$COFFER" lock "$M"
ms=$((($(date +%s%N) - start) / 1000000))
note "(b) lock took $ms ms with a file open"
((ms < 8000)) || fail "(b) coffer lock took $ms ms with a file open (it must not wait for the file)"
assert_gone "$pid" "(b)"
touch "$WORK/holder.go"
wait_until 10 test -e "$WORK/holder.result" || fail "(b) the holder's read after lock did not return"
result=$(cat "$WORK/holder.result")
note "(b) a read on the held descriptor after lock: $result"
[[ $result == ERROR* ]] || fail "(b) a read on a descriptor opened before the lock returned: $result"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
reopen_and_check "(b)"

# --- (c) SIGTERM to the filesystem process locks and exits.
note "(c) SIGTERM"
LAST=term
printf 'term-data' >"$M/files/term"
pid=$(daemon_pid "$M")
kill -TERM "$pid"
wait_until 10 pid_gone "$pid" || fail "(c) the filesystem process did not exit within 10 s of SIGTERM"
wait_until 2 not_mounted "$M" || fail "(c) still mounted after the process exited on SIGTERM"
assert_gone "$pid" "(c)"
reopen_and_check "(c)"
pid=$(daemon_pid "$M")
lock_coffer "$M"
assert_gone "$pid" "(d)"

fsck_ok "$C"
finish
