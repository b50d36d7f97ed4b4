# shellcheck shell=bash
# Shared helpers for the real-mount tests (tests/integration/*.sh, label
# "mount"). Each test sources this file with the coffer binary as $1 and gets
# a private directory $WORK under /tmp, its own control-socket directory
# (XDG_RUNTIME_DIR), so `status` and `lock --all` see only its own mounts,
# and an EXIT trap that locks, unmounts and kills whatever the test left,
# then removes $WORK. A test ends with `finish`, which fails it if a mount,
# a process of its own or a descriptor onto $WORK is still there, or a
# sanitizer wrote a report.
#
# The tests need root and /dev/fuse (CI has both) and skip (exit 77)
# without them; with them, being unable to mount is a failure, never a skip.
# shellcheck disable=SC2034  # the variables are used by the scripts
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH-TO-COFFER-BINARY" >&2
  exit 2
fi
COFFER=$(readlink -f -- "$1")
SKIP=77
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: the mount tests run as root (as in CI)" >&2
  exit $SKIP
fi
if [[ ! -c /dev/fuse ]]; then
  echo "SKIP: no /dev/fuse" >&2
  exit $SKIP
fi

# ctest hands every test its log file as a writable descriptor (3). To the
# copy guard (layer 1) a process holding a writable descriptor on the local
# disk is a copier, so close whatever we inherited above standard error.
for fd in 3 4 5 6 7 8 9; do
  eval "exec $fd>&-" 2>/dev/null || true
done

# Always /tmp, not $TMPDIR: the control socket path under $WORK must stay
# shorter than sun_path (108 bytes).
WORK=$(mktemp -d /tmp/coffer-mnt.XXXXXXXX)
cd "$WORK"
mkdir -m 700 "$WORK/run" "$WORK/home"
mkdir -m 1777 "$WORK/sanitizer"
export XDG_RUNTIME_DIR=$WORK/run HOME=$WORK/home
unset DISPLAY WAYLAND_DISPLAY
# The daemon detaches its stderr, so sanitizer reports go to files that
# `finish` checks (no effect on a build without sanitizers).
# verify_asan_link_order=0: libfaketime (LD_PRELOAD, the expiry tests) may
# come before the ASan runtime.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$WORK/sanitizer/asan:verify_asan_link_order=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$WORK/sanitizer/ubsan:print_stacktrace=1"
TEST_START=$(date +%s)

PW1='Tr1p-Lantern-Okapi-Paris-26'
PW2='Marking-Lamp-Quartz-77'
# Within every built-in profile's limits (trip-local allows 7 days).
FUTURE=$(date -d '+5 days' +%F)

OUT=$WORK/.last-stdout
ERR=$WORK/.last-stderr
STATUS=0

# Commands run by the EXIT trap before the generic clean-up (a test adds
# its own, e.g. to restore /dev/fuse's mode or lock as another user).
CLEANUP_HOOKS=()
FINISHED=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

note() {
  echo "--- $*"
}

show_last() {
  echo "--- stdout:" >&2
  cat "$OUT" >&2 || true
  echo "--- stderr:" >&2
  cat "$ERR" >&2 || true
  echo "---" >&2
}

# run_cmd CMD...: stdin from /dev/null, output in $OUT/$ERR, status in $STATUS.
run_cmd() {
  set +e
  "$@" </dev/null >"$OUT" 2>"$ERR"
  STATUS=$?
  set -e
}

# expect_exit CODE CMD...
expect_exit() {
  local want=$1
  shift
  run_cmd "$@"
  if [[ $STATUS -ne $want ]]; then
    echo "FAIL: expected exit $want, got $STATUS from: $*" >&2
    show_last
    exit 1
  fi
}

expect_output_contains() {
  if ! grep -qiE -- "$1" "$OUT" "$ERR"; then  # no `cat |`: SIGPIPE under pipefail
    echo "FAIL: the output does not match /$1/" >&2
    show_last
    exit 1
  fi
}

# pwfile NAME LINE...: a passphrase file; prints its path.
pwfile() {
  local name=$1
  shift
  printf '%s\n' "$@" >"$WORK/$name"
  chmod 600 "$WORK/$name"
  echo "$WORK/$name"
}

PWFILE=$(pwfile pw "$PW1")

# make_coffer PATH: a fresh coffer (test KDF cost) with passphrase $PW1.
make_coffer() {
  expect_exit 0 "$COFFER" create "$1" --owner 'Ms A. Teacher' --purpose trip \
    --expires "$FUTURE" --kdf-cost test --passphrase-file "$PWFILE"
  [[ -f $1 ]] || fail "create exited 0 but $1 does not exist"
}

# mount_line MNT: the /proc/mounts line of MNT (empty if not mounted).
mount_line() {
  awk -v m="$1" '$2 == m' /proc/mounts
}

is_mounted() {
  [[ -n $(mount_line "$1") ]]
}

# my_mounts: every mount point under $WORK.
my_mounts() {
  awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts
}

# my_processes: processes whose command line names $WORK (the daemons this
# test started always get absolute paths, and its helpers too).
my_processes() {
  pgrep -f -- "$WORK" | grep -vx -e "$$" -e "${BASHPID:-$$}" || true
}

pid_alive() {
  [[ -e /proc/$1 ]] && [[ $(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) != Z ]]
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s; false on timeout.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

not_mounted() { ! is_mounted "$1"; }
nothing_left() { [[ -z $(my_processes)$(my_mounts) ]]; }
no_processes() { [[ -z $(my_processes) ]]; }
no_descriptors() { [[ -z $(my_descriptors) ]]; }
pid_gone() { ! pid_alive "$1"; }

# open_coffer COFFER MNT [options...]: mounts, and fails the test unless
# `open` exits 0 with a fuse.coffer mount on MNT.
open_coffer() {
  local coffer=$1 mnt=$2
  shift 2
  expect_exit 0 "$COFFER" open "$coffer" "$mnt" --passphrase-file "$PWFILE" "$@"
  local line
  line=$(mount_line "$mnt")
  [[ $line == *" fuse.coffer "* ]] ||
    { show_last; fail "open exited 0 but $mnt is not a fuse.coffer mount: '$line'"; }
  [[ -f $mnt/README.txt && -d $mnt/files ]] || fail "$mnt has no README.txt and files/"
}

# lock_coffer MNT: `coffer lock MNT` exits 0 and MNT is no longer mounted.
lock_coffer() {
  expect_exit 0 "$COFFER" lock "$1"
  ! is_mounted "$1" || fail "coffer lock $1 exited 0 but $1 is still mounted"
}

# status_field MNT FIELD: a field of MNT's entry in `status --json`.
status_field() {
  expect_exit 0 "$COFFER" status --json
  python3 - "$OUT" "$1" "$2" <<'EOF'
import json, sys
for m in json.load(open(sys.argv[1])):
    if m["mountpoint"] == sys.argv[2]:
        print(m[sys.argv[3]] if not isinstance(m[sys.argv[3]], bool) else str(m[sys.argv[3]]).lower())
        sys.exit(0)
sys.exit("no open coffer at " + sys.argv[2] + " in status --json")
EOF
}

# daemon_pid MNT: the pid of MNT's filesystem process, checked to be alive.
daemon_pid() {
  local pid
  pid=$(status_field "$1" pid) || fail "status --json does not list $1"
  { [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid"; } || fail "status --json gave pid '$pid', not a live process"
  echo "$pid"
}

# fsck_ok COFFER: `coffer fsck` exits 0.
fsck_ok() {
  expect_exit 0 "$COFFER" fsck "$1" --passphrase-file "$PWFILE"
}

# py CODE ARGS...: python3 with helpers for errno assertions.
PY_PRELUDE='
import ctypes, errno, os, socket, stat, sys
def die(msg):
    raise SystemExit("FAIL: " + msg)
def expect_errno(want, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except OSError as e:
        if e.errno != want:
            die("%s%r: errno %s (%s), expected %s" % (fn.__name__, args, errno.errorcode.get(e.errno), e.strerror, errno.errorcode[want]))
        return
    die("%s%r succeeded, expected %s" % (fn.__name__, args, errno.errorcode[want]))
'
py() {
  local code=$1
  shift
  python3 -c "$PY_PRELUDE
$code" "$@"
}

# Soft checks: a case runs in a subshell; a failure is reported and counted
# but does not stop the script (so one product bug cannot hide the next).
# (The subshell is not run as an `if` condition: there bash would ignore
# set -e inside it, and a failing command in mid-case would go unnoticed.)
SOFT_FAILED=()
soft_check() {
  local rc
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  if [[ $rc -eq 0 ]]; then
    echo "ok: $1"
  else
    echo "FAILED: $1" >&2
    SOFT_FAILED+=("$1")
  fi
}
soft_check_summary() {
  if [[ ${#SOFT_FAILED[@]} -gt 0 ]]; then
    fail "${#SOFT_FAILED[@]} case(s) failed: ${SOFT_FAILED[*]}"
  fi
}

# parent_of PID: sets PARENT to its parent's pid (empty once it has gone),
# without a fork (a command substitution would add a process to the tree
# being walked).
parent_of() {
  local stat
  PARENT=
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
  stat=${stat##*) }  # past "(comm)", which may hold spaces
  stat=${stat#* }    # past the state letter: the parent's pid comes next
  PARENT=${stat%% *}
}

# my_descriptors: descriptors onto $WORK or anything below it, held by any
# process: a reader or writer the test started and forgot (its command line
# need not name $WORK, so my_processes can miss it), or a file a daemon never
# closed. One line each: COMMAND[PID] fd/N -> TARGET. Not counted: the test
# shell, the subshells between it and this check, and the check's own
# commands: they inherit the shell's descriptors, and the shell ends with
# the test. No python here: finish polls this, and python3 may take seconds
# to start on a busy machine.
my_descriptors() {
  local me=$BASHPID line pid p comm PARENT
  local -A ours=(["$$"]=1)
  for ((p = me; p > 1 && p != $$; )); do
    ours[$p]=1
    parent_of "$p"
    p=$PARENT
    [[ $p =~ ^[0-9]+$ ]] || break
  done
  while read -r line; do
    pid=${line#/proc/}
    pid=${pid%%/*}
    [[ -n ${ours[$pid]:-} ]] && continue
    # A descendant of this check (find, its subshell) is ours too. A chain
    # cut short means a process that has just exited: it holds nothing.
    for ((p = pid; p > 1; )); do
      [[ $p == "$me" || $p == "$$" ]] && break
      parent_of "$p"
      p=$PARENT
      [[ $p =~ ^[0-9]+$ ]] || break
    done
    [[ $p == "$me" || ! $p =~ ^[0-9]+$ ]] && continue
    read -r comm 2>/dev/null <"/proc/$pid/comm" || comm=gone
    echo "${comm}[$pid] ${line#/proc/"$pid"/}"
  done < <(find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 \( -lname "$WORK" -o -lname "$WORK/*" \) \
             -printf '%h/%f -> %l\n' 2>/dev/null)
}

# leftovers: describes mounts, processes and descriptors of this test still present.
leftovers() {
  local m p d
  m=$(my_mounts)
  p=$(my_processes)
  d=$(my_descriptors)
  [[ -n $m ]] && echo "mounts left: $m"
  [[ -n $p ]] && echo "processes left: $(for x in $p; do tr '\0' ' ' <"/proc/$x/cmdline" 2>/dev/null; echo "[$x]"; done)"
  [[ -n $d ]] && echo "descriptors left open onto $WORK: $(echo "$d" | tr '\n' ';')"
  return 0
}

sanitizer_reports() {
  local f
  for f in "$WORK"/sanitizer/*; do
    [[ -e $f ]] || continue
    echo "=== sanitizer report $f:"
    cat "$f"
  done
}

# finish: the last line of every test. Nothing of ours may be left mounted
# or running or holding a descriptor open onto $WORK, and no sanitizer may
# have reported.
finish() {
  local left reports
  # The kernel may take a moment to reap a process that just exited.
  wait_until 5 no_processes || true
  wait_until 5 no_descriptors || true
  left=$(leftovers)
  [[ -z $left ]] || fail "the test left something behind: $left"
  reports=$(sanitizer_reports)
  [[ -z $reports ]] || { echo "$reports" >&2; fail "a sanitizer reported an error"; }
  FINISHED=1
  echo "PASS ($((SECONDS)) s)"
}

cleanup() {
  local rc=$? left hook m p
  set +e
  trap - EXIT
  if [[ $rc -eq 0 && $FINISHED -ne 1 ]]; then
    echo "FAIL: the test exited without calling finish" >&2
    rc=1
  fi
  left=$(leftovers)
  [[ -n $left ]] && echo "cleanup: removing what the test left: $left" >&2
  [[ -n $WATCHDOG ]] && kill "$WATCHDOG" 2>/dev/null
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" >/dev/null 2>&1; done
  timeout 40 "$COFFER" lock --all >/dev/null 2>&1
  for m in $(my_mounts); do
    umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
  done
  for p in $(my_processes) $(jobs -p); do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  wait_until 5 nothing_left
  left=$(leftovers)
  if [[ -n $left ]]; then
    echo "cleanup: could not remove: $left" >&2
    rc=1
  fi
  [[ -z $(my_mounts) ]] && rm -rf --one-file-system -- "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'echo "FAIL: terminated" >&2; exit 143' TERM INT HUP
# ctest kills a test that overruns its TIMEOUT with SIGKILL, which no trap
# survives: a watchdog sends SIGTERM 20 s before to this shell and to the
# commands it is running (bash handles the signal only once its foreground
# command ends), so the clean-up still runs.
WATCHDOG=
if [[ ${COFFER_TEST_TIMEOUT:-} =~ ^[0-9]+$ ]] && ((COFFER_TEST_TIMEOUT > 30)); then
  python3 - $((COFFER_TEST_TIMEOUT - 20)) $$ <<'EOF' &
import os, sys, time
time.sleep(int(sys.argv[1]))
shell, me = int(sys.argv[2]), os.getpid()
children = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        ppid = int(open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        continue
    children.setdefault(ppid, []).append(int(p))
todo, victims = [shell], []
while todo:
    p = todo.pop()
    victims.append(p)
    todo.extend(children.get(p, []))
print("FAIL: the test is about to overrun its timeout; terminating it", file=sys.stderr)
for p in victims:
    if p != me:
        try:
            os.kill(p, 15)
        except OSError:
            pass
EOF
  WATCHDOG=$!
fi
# Name the command when set -e ends a test (or a soft case) unexpectedly.
set -E
on_error() {
  [[ $- == *e* ]] && echo "FAIL: exit $1 from line $2 of $3: $4" >&2
  return 0
}
trap 'on_error $? $LINENO "$(basename "${BASH_SOURCE[0]:-?}")" "$BASH_COMMAND"' ERR

# desktop_fuse_mode: gives /dev/fuse the mode Debian and Ubuntu desktops
# ship (0666, so a teacher's fusermount3 can mount), for as long as this
# test runs. This machine's is 0600 (root only). Tests run in parallel, so
# the mode is shared: each test registers itself under a lock, and the
# original mode comes back only when the last live test lets go (before,
# each test restored what it had seen, and one could put 0600 back while
# another was still mounting as nobody).
FUSE_MODE_DIR=/run/coffer-tests-fuse-mode
desktop_fuse_mode() {
  local fd p
  mkdir -p "$FUSE_MODE_DIR"
  exec {fd}>"$FUSE_MODE_DIR/lock"
  flock "$fd"
  for p in "$FUSE_MODE_DIR"/holder.*; do
    [[ -e $p ]] && ! kill -0 "${p##*.}" 2>/dev/null && rm -f "$p"
  done
  if ! compgen -G "$FUSE_MODE_DIR/holder.*" >/dev/null; then stat -c %a /dev/fuse >"$FUSE_MODE_DIR/saved"; fi
  : >"$FUSE_MODE_DIR/holder.$$"
  chmod 0666 /dev/fuse
  exec {fd}>&-
  CLEANUP_HOOKS+=("release_fuse_mode")
}
release_fuse_mode() {
  local fd p
  exec {fd}>"$FUSE_MODE_DIR/lock"
  flock "$fd"
  rm -f "$FUSE_MODE_DIR/holder.$$"
  for p in "$FUSE_MODE_DIR"/holder.*; do
    [[ -e $p ]] && ! kill -0 "${p##*.}" 2>/dev/null && rm -f "$p"
  done
  if ! compgen -G "$FUSE_MODE_DIR/holder.*" >/dev/null && [[ -s $FUSE_MODE_DIR/saved ]]; then
    chmod "$(cat "$FUSE_MODE_DIR/saved")" /dev/fuse
    rm -f "$FUSE_MODE_DIR/saved"
  fi
  exec {fd}>&-
}

# as_nobody [--no-runtime-dir]: the teacher as an ordinary user. Makes $U,
# nobody's private folder with a HOME (and an XDG_RUNTIME_DIR unless told
# not to) and a passphrase file $U/pw holding PW1; `nb CMD...` then runs
# CMD as nobody with that environment. The cleanup locks nobody's mounts
# as nobody (root's `lock --all` does not see them).
as_nobody() {
  NB_RUNTIME_DIR=yes
  [[ ${1:-} == --no-runtime-dir ]] && NB_RUNTIME_DIR=no
  chmod 755 "$WORK"
  U=$WORK/nobody
  mkdir -m 700 "$U" "$U/home"
  [[ $NB_RUNTIME_DIR == no ]] || mkdir -m 700 "$U/run"
  printf '%s\n' "$PW1" >"$U/pw"
  chmod 600 "$U/pw"
  chown -R nobody: "$U"
  CLEANUP_HOOKS=("nb timeout 40 \"\$COFFER\" lock --all" "${CLEANUP_HOOKS[@]}")
}
nb() {
  local env=(PATH=/usr/bin:/bin HOME="$U/home")
  [[ $NB_RUNTIME_DIR == no ]] || env+=(XDG_RUNTIME_DIR="$U/run")
  runuser -u nobody -- env -i "${env[@]}" ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS" "$@"
}

# on_terminal [nb] CMD...: runs CMD (as nobody, with nb's environment, if the
# first word is nb) with a terminal as its standard streams, a pty from
# script(1), as a teacher at a terminal would: a protected session refuses
# to start with a pipe or socket to a program outside (issue 15). Prints
# CMD's output, the terminal's \r removed, once it has ended; returns CMD's
# status.
on_terminal() {
  local argv=("$@") cmd raw rc=0
  if [[ ${argv[0]} == nb ]]; then
    local env=(PATH=/usr/bin:/bin HOME="$U/home")
    [[ $NB_RUNTIME_DIR == no ]] || env+=(XDG_RUNTIME_DIR="$U/run")
    argv=(runuser -u nobody -- env -i "${env[@]}" ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS"
      "${argv[@]:1}")
  fi
  printf -v cmd '%q ' "${argv[@]}"
  raw=$(mktemp "$WORK/.terminal.XXXXXX")
  SHELL=/bin/bash script -qefc "$cmd" /dev/null </dev/null >"$raw" || rc=$?
  tr -d '\r' <"$raw"
  rm -f "$raw"
  return $rc
}
