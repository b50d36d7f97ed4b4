#!/usr/bin/env bash
# The copy guard's scenario matrix (issue 6, docs/GUARD.md): the ways people
# actually copy files, each run against every protection layer, with the
# destination a USB stick and a plain unapproved folder on this computer.
#
# Columns (layer configurations):
#   L1   `coffer open` only: layer 1 (standard, always on) in the filesystem.
#   L2   `coffer guard` running and the coffer registered with it
#        (open --guard-socket): layer 2 (guarded), layer 1 still on.
#   G    the guard running and the coffer opened at level `guarded` (a policy
#        raising it): removable media are read-only while it is open.
#   L3   `coffer run ... -- PROGRAM`: layer 3 (sandboxed), layer 1 still on.
#   ALL  the guard running and `coffer run` registered with it.
# Rows: cp, a shell redirect, rsync, dd, gio copy (what file managers use),
# an mmap reader that then writes, cat | tee, read-all-then-save-as, mv of a
# files/ file out of the mount, tar -cf, Python shutil.copy, and data put in
# names and attributes (a folder named with a UPN, a symlink whose target is
# one, a user.* extended attribute on a file that was already there); each to
#   usb   a tmpfs mounted under a `declared_removable` prefix of the school
#         policy (the way tests make a mount look like a USB stick),
#   disk  a plain unapproved folder on the local filesystem,
#   and, as the control, to an approved destination, where every scenario
#   must deliver the data (this also proves each tool works here).
# A row is "blocked" when the record's marker (the pupil's UPN, or a random
# marker written into files/) is in no file, name, link target or user.*
# attribute under the destination (grep -r, find, os.getxattr;
# empty files left behind are allowed). A block by layer 1 or by the guard
# must be audited as copy-blocked naming the program and the destination;
# Landlock denials (layer 3) happen in the kernel and are not audited by
# coffer. The matrix is printed at the end.
#
# The test fails when: a row the design says a layer must block leaks
# (layer 1: cp, redirect, dd, gio copy, tar, shutil.copy, mv; the guard: every
# row to the stick; layer 3 and ALL: every row); a block that should be
# audited is not; a copy to the approved folder fails; a program writing only
# inside the coffer is blocked; a blocked mv loses its source; a scenario
# cannot start, times out, or leaves a session process running after
# `coffer run` returned. Every command is bounded (timeout). Layer 1's known
# gaps (rsync, cat | tee, save-as, mmap: the reader holds no writable
# descriptor while it reads) are reported, not failed.
#
set -euo pipefail
source "$(dirname "$0")/lib.sh"

for tool in rsync gio dd tar python3 cmp timeout; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done
DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
[[ -x $DEMO_SCHOOL ]] || fail "no demo school generator at $DEMO_SCHOOL"

LAYERS=(L1 L2 G L3 ALL)
SCENARIOS=(cp redirect rsync dd gio mmap tee saveas mv tar shutil mkdirname symlink xattr)
KINDS=(usb disk approved)

# ----------------------------------------------------------------- wiring
HELP=$("$COFFER" --help 2>&1) || true
has_command() { grep -qE "^[[:space:]]+$1([[:space:]]|$)" <<<"$HELP"; }
GUARD_WIRED=0 RUN_WIRED=0
has_command guard && GUARD_WIRED=1
has_command run && RUN_WIRED=1
unwired_reason() {  # LAYER: empty when the binary has the layer's commands
  local why=()
  case $1 in
    L2 | G) ((GUARD_WIRED)) || why+=("no 'coffer guard'") ;;
    L3) ((RUN_WIRED)) || why+=("no 'coffer run'") ;;
    ALL)
      ((GUARD_WIRED)) || why+=("no 'coffer guard'")
      ((RUN_WIRED)) || why+=("no 'coffer run'")
      ;;
  esac
  echo "${why[*]}"
}

# ----------------------------------------------------------------- set-up
USB_ROOT=$WORK/media          # declared removable: any mount below counts as a stick
USB=$USB_ROOT/usb
DISK=$WORK/disk               # an ordinary folder on this computer, not approved
APPROVED=$WORK/approved       # the school's approved destination
POLICY=$WORK/policy.toml
GUARD_SOCK=$WORK/guard.sock
GUARD_PIDFILE=$WORK/guard.pid
RESULTS=$WORK/results.tsv
LOGS=$WORK/logs
mkdir -p "$USB" "$DISK" "$APPROVED" "$LOGS"
: >"$RESULTS"

mount -t tmpfs -o size=32m,mode=755 coffer-test-usb "$USB" || fail "cannot mount the stand-in stick on $USB"
CLEANUP_HOOKS+=("umount -l '$USB'")
stop_guard() {
  local pid
  [[ -s $GUARD_PIDFILE ]] || return 0
  pid=$(cat "$GUARD_PIDFILE")
  rm -f "$GUARD_PIDFILE"
  pid_alive "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  wait_until 10 pid_gone "$pid" || { kill -9 "$pid" 2>/dev/null || true; wait_until 5 pid_gone "$pid"; }
}
CLEANUP_HOOKS+=("stop_guard")

# minimum_protection stays "standard" in every column but G: the matrix is
# about what each mechanism blocks, not about which level a coffer demands.
# Column G opens the same coffer under a policy that raises it to
# `guarded`, whose registration makes the stick read-only (issue 15 §2).
POLICY_G=$WORK/policy-guarded.toml
for p in "$POLICY" "$POLICY_G"; do
  level=standard
  [[ $p == "$POLICY_G" ]] && level=guarded
  cat >"$p" <<EOF
[copy]
approved_destinations = ["$APPROVED"]
declared_removable = ["$USB_ROOT"]
minimum_protection = "$level"
EOF
  chmod 644 "$p"
done

# Every destination folder exists before any guard runs (mkdir is not an
# open, but the probe below should be the only thing the test writes there).
for layer in "${LAYERS[@]}"; do
  for kind in "${KINDS[@]}"; do
    for scen in "${SCENARIOS[@]}"; do
      case $kind in usb) root=$USB ;; disk) root=$DISK ;; approved) root=$APPROVED ;; esac
      mkdir -p "$root/$layer/$scen"
      if [[ $scen == xattr ]]; then : >"$root/$layer/$scen/existing"; fi   # made before any coffer opens
    done
  done
  mkdir -p "$USB/$layer/probe"
done

# The coffer: the demo school's group 7A, and a marker for files/.
"$DEMO_SCHOOL" --out "$WORK/school" >/dev/null
C=$WORK/matrix.coffer
M=$WORK/mnt
make_coffer "$C"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/school" --group 7A --passphrase-file "$PWFILE"
mkdir "$M"
FILEMARK="coffer-files-marker-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

# The pupil sheet and its UPN, read through the mount (through a pipe: a
# reader whose output goes to a file is a copier to layer 1).
open_plain() {  # [extra open options]
  expect_exit 0 "$COFFER" --policy "${OPEN_POLICY:-$POLICY}" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900 "$@"
  [[ $(mount_line "$M") == *" fuse.coffer "* ]] || { show_last; fail "open exited 0 but $M is not a coffer mount"; }
}
open_plain
PUPIL=$(find "$M/pupils" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | sed -n 1p)
[[ -n $PUPIL ]] || fail "no pupil folder in the mount"
# shellcheck disable=SC2002  # cat on purpose: its output is a pipe
MARK=$(cat "$M/pupils/$PUPIL/profile.txt" 2>&1 </dev/null | awk '$1 == "UPN:" { print $2 }')
[[ $MARK =~ ^[A-Z][0-9A-Z]{12}$ ]] || fail "no UPN in $PUPIL's profile (got '$MARK')"
# shellcheck disable=SC2002
cat "$M/roster.csv" 2>&1 </dev/null | grep -F -- "$MARK" >/dev/null || fail "the roster does not hold the UPN $MARK"
lock_coffer "$M"
note "marker: $MARK (UPN of $PUPIL, in roster.csv and the profile); files/ marker: $FILEMARK"

# Helpers the scenarios run (files, so nothing reads a here-document).
cat >"$WORK/mmap_copy.py" <<'EOF'
# Map the record, read it all through the mapping (the page faults are the
# reads), then open the destination and write from the mapping.
import mmap, os, sys
src, dst = sys.argv[1], sys.argv[2]
fd = os.open(src, os.O_RDONLY)
size = os.fstat(fd).st_size
try:
    m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
except OSError as e:   # direct_io refuses MAP_SHARED (ENODEV)
    print("MAP_SHARED refused (%s); using MAP_PRIVATE" % e.strerror)
    m = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
data = bytes(m)
with open(dst, "wb") as out:
    out.write(m[:])
print("mmap: %d bytes read" % len(data))
EOF
cat >"$WORK/save_as.py" <<'EOF'
# An editor: open, read everything, close; later "Save as" elsewhere.
import sys
with open(sys.argv[1], "rb") as f:
    data = f.read()
with open(sys.argv[2], "wb") as f:
    f.write(data)
EOF
cat >"$WORK/shutil_copy.py" <<'EOF'
import shutil, sys
shutil.copy(sys.argv[1], sys.argv[2])
EOF

# One scenario: scenario.sh NAME MOUNT DEST TAG (runs in the session for L3).
SCEN_SH=$WORK/scenario.sh
cat >"$SCEN_SH" <<EOF
#!/usr/bin/env bash
set -u
name=\$1 m=\$2 d=\$3 tag=\$4
pupil='$PUPIL'
w='$WORK'
filemark='$FILEMARK'
EOF
cat >>"$SCEN_SH" <<'EOF'
roster=$m/roster.csv
sheet=$m/pupils/$pupil/profile.txt
echo "scenario $name to $d"
case $name in
  cp) cp "$roster" "$d/" ;;
  redirect) cat "$roster" >"$d/roster.csv" ;;
  rsync) rsync "$roster" "$d/" ;;
  dd) dd if="$roster" of="$d/roster.csv" status=none ;;
  gio) gio copy "$sheet" "$d/profile.txt" ;;
  mmap) python3 "$w/mmap_copy.py" "$roster" "$d/roster.csv" ;;
  tee) cat "$roster" | tee "$d/roster.csv" >/dev/null ;;
  saveas) python3 "$w/save_as.py" "$roster" "$d/roster.csv" ;;
  mv)
    f=$m/files/mv-$tag.txt
    printf '%s\n' "$filemark" >"$f" || { echo "could not write $f"; exit 99; }
    mv "$f" "$d/"
    rc=$?
    if [[ -e $f ]]; then echo "mv-source: kept"; else echo "mv-source: gone"; fi
    (exit $rc)
    ;;
  tar) tar -cf "$d/x.tar" -C "$m" roster.csv pupils ;;
  shutil) python3 "$w/shutil_copy.py" "$roster" "$d/" ;;
  # Data in names and attributes, not in file contents: no open for writing.
  mkdirname) mkdir "$d/upn-$(awk '$1 == "UPN:" { print $2; exit }' "$sheet")" ;;
  symlink) ln -s "upn-$(awk '$1 == "UPN:" { print $2; exit }' "$sheet")" "$d/link" ;;
  xattr) python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.note", sys.argv[2].encode())' \
    "$d/existing" "upn-$(awk '$1 == "UPN:" { print $2; exit }' "$sheet")" ;;
  inside)
    cp "$roster" "$m/files/copy-$tag.csv" && cmp "$roster" "$m/files/copy-$tag.csv" &&
      echo "inside: copied and identical"
    ;;
  *) echo "unknown scenario $name"; exit 98 ;;
esac
rc=$?
echo "rc=$rc"
exit $rc
EOF

dest_root() {
  case $1 in usb) echo "$USB" ;; disk) echo "$DISK" ;; approved) echo "$APPROVED" ;; esac
}

# record LAYER KIND SCENARIO OUTCOME RC DEST NOTES
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

leaked() {  # DIR: the marker is in some file, name, link target or user xattr below DIR
  grep -rqF -e "$MARK" -e "$FILEMARK" -- "$1" && return 0
  [[ -n $(find "$1" \( -name "*$MARK*" -o -lname "*$MARK*" \) -print -quit) ]] && return 0
  python3 - "$1" "$MARK" <<'PY'
import os, sys
root, mark = sys.argv[1], sys.argv[2].encode()
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        try:
            if any(mark in os.getxattr(p, a, follow_symlinks=False) for a in os.listxattr(p, follow_symlinks=False)):
                sys.exit(0)
        except OSError:
            pass
sys.exit(1)
PY
}

# run_logged LOG SECONDS CMD...: CMD's output goes through a pipe into LOG
# (a reader whose output is a file would itself be a copier to layer 1).
# Bounded: CMD gets SIGTERM after SECONDS and SIGKILL 10 s later, and the
# pipe's reader is waited for at most 10 s more (a process CMD left behind
# may hold the pipe open). Sets RC.
run_logged() {
  local log=$1 secs=$2 rcfile=$WORK/.scenario-rc reader
  shift 2
  rm -f "$rcfile"
  {
    set +e
    timeout -k 10 "$secs" "$@" </dev/null
    echo $? >"$rcfile"
  } 2>&1 | cat >"$log" &
  reader=$!   # the last command of the pipeline: cat
  if ! wait_until $((secs + 20)) test -s "$rcfile"; then
    echo "(no exit status $((secs + 20)) s after the start)" >>"$log"
    echo 137 >"$rcfile"
  fi
  RC=$(cat "$rcfile")
  if ! wait_until 10 pid_gone "$reader"; then
    echo "(the output pipe was still held open 10 s after the command ended)" >>"$log"
    kill "$reader" 2>/dev/null || true
  fi
  wait "$reader" 2>/dev/null || true
  [[ $RC -ne 124 && $RC -ne 137 ]] || echo "(timed out after $secs s)" >>"$log"
}

# left_behind: processes still running from a session that has ended (their
# command line names the mount, e.g. the session's dbus-daemon); they are
# listed in the log and killed.
left_behind() {  # LOG
  local p found=1
  for p in $(pgrep -f -- "$M/" || true); do
    [[ $p == "$$" || $p == "${BASHPID:-$$}" ]] && continue
    echo "(left behind after the session ended: [$p] $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null))" >>"$1"
    kill -9 "$p" 2>/dev/null || true
    found=0
  done
  return $found
}

# run_one LAYER KIND SCENARIO: runs it, then judges the destination.
run_one() {
  local layer=$1 kind=$2 scen=$3 d log outcome notes='' t0=$SECONDS
  if [[ $scen == inside ]]; then d=$M/files; else d=$(dest_root "$kind")/$layer/$scen; fi
  log=$LOGS/$layer.$kind.$scen.log
  case $layer in
    L1 | L2 | G)
      run_logged "$log" 60 bash "$SCEN_SH" "$scen" "$M" "$d" "$layer-$kind"
      ;;
    L3 | ALL)
      local opts=()
      [[ $layer == ALL ]] && opts=(--guard-socket "$GUARD_SOCK")
      is_mounted "$M" && fail "$M is still mounted before 'coffer run' of $scen"
      # A session's writable standard streams must be a terminal or
      # /dev/null (a pipe would carry data to a process outside it), so it
      # runs on a pseudo-terminal from script(1); -e returns its status.
      local cmd
      printf -v cmd '%q ' "$COFFER" --policy "$POLICY" run "$C" --mountpoint "$M" --passphrase-file "$PWFILE" \
        "${opts[@]}" -- bash "$SCEN_SH" "$scen" "$M" "$d" "$layer-$kind"
      run_logged "$log" 120 script -qefc "$cmd" /dev/null
      wait_until 30 not_mounted "$M" || fail "$M is still mounted 30 s after 'coffer run' of $scen ended"
      left_behind "$log" && notes+="left-behind;"
      ;;
  esac
  local rc=$RC
  # Not anchored: a session's dbus-daemon may write a warning ("Failed to set
  # fd limit") into the same log without a newline before the marker.
  if ! grep -q "scenario $scen to " "$log"; then
    outcome=error   # the scenario never started (the session did not open...)
  elif [[ $scen == inside ]]; then
    if [[ $rc -eq 0 ]] && grep -q 'inside: copied and identical' "$log"; then outcome=ok; else outcome=failed; fi
  elif [[ $kind == approved ]]; then
    if leaked "$d"; then outcome=ok; else outcome=failed; fi
  else
    if leaked "$d"; then outcome=leaked; else outcome=blocked; fi
    [[ $outcome == blocked ]] && grep -rqF -- "${PUPIL%% (*}" "$d" && notes+="names;"
    [[ -n $(find "$d" -type f -size 0 ! -name existing -print -quit) ]] && notes+="empty-file;"
  fi
  [[ $scen == mv ]] && grep -q 'mv-source: gone' "$log" && notes+="mv-source-gone;"
  ((rc == 124 || rc == 137)) && notes+="timeout;"
  record "$layer" "$kind" "$scen" "$outcome" "$rc" "$d" "$notes"
  printf '%-4s %-8s %-9s %-8s rc=%-3s %3d s %s\n' "$layer" "$kind" "$scen" "$outcome" "$rc" $((SECONDS - t0)) "$notes"
}

run_all_rows() {  # LAYER
  local kind scen
  for kind in "${KINDS[@]}"; do
    for scen in "${SCENARIOS[@]}"; do run_one "$1" "$kind" "$scen"; done
  done
  run_one "$1" approved inside
}

start_guard() {
  rm -f "$GUARD_SOCK"
  "$COFFER" --policy "$POLICY" guard --socket "$GUARD_SOCK" </dev/null >>"$LOGS/guard.log" 2>&1 &
  echo $! >"$GUARD_PIDFILE"
  wait_until 15 test -S "$GUARD_SOCK" || { cat "$LOGS/guard.log" >&2; fail "coffer guard made no socket $GUARD_SOCK in 15 s"; }
}

# The guard marks the stick (it was mounted before the guard started) and
# denies write opens once a coffer is registered: wait until it does.
wait_guard_denies() {  # LAYER
  local i=0 probe err=''
  local deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    probe=$USB/$1/probe/p$((i++))
    if ! err=$( (: >"$probe") 2>&1); then
      [[ $err == *"Operation not permitted"* ]] && return 0
      fail "a write open on the stick failed, but not with EPERM from the guard: $err"
    fi
    sleep 0.2
  done
  fail "the guard did not deny a write open on the stick within 15 s of the coffer registering"
}

column_L1() {
  open_plain
  run_all_rows L1
  lock_coffer "$M"
}

column_L2() {
  start_guard
  open_plain --guard-socket "$GUARD_SOCK"
  wait_guard_denies L2
  run_all_rows L2
  lock_coffer "$M"
  stop_guard
}

# A guarded coffer open: the stick read-only at the superblock for every
# writer (EROFS, which the kernel decides alone: nothing to audit), made
# writable again when it locks.
column_G() {
  start_guard
  OPEN_POLICY=$POLICY_G open_plain --guard-socket "$GUARD_SOCK"
  [[ $(status_field "$M" protection) == guarded ]] || fail "column G: the coffer did not open as guarded"
  local err
  err=$( (: >"$USB/G/probe/p0") 2>&1) && fail "column G: the stick is writable while a guarded coffer is open"
  [[ $err == *"Read-only file system"* ]] || fail "column G: a write on the stick failed, but not as read-only: $err"
  run_all_rows G
  lock_coffer "$M"
  wait_until 5 bash -c ': >"$1"' _ "$USB/G/probe/after-lock" ||
    fail "column G: the stick stayed read-only after the guarded coffer locked"
  stop_guard
}

column_L3() {
  run_all_rows L3
}

column_ALL() {
  # (No probe here: a coffer registers only inside each `coffer run`, and
  # there Landlock would refuse the probe first.)
  start_guard
  run_all_rows ALL
  stop_guard
}

# Whatever a column left: the coffer locked, the guard stopped.
after_column() {
  if is_mounted "$M"; then
    timeout 40 "$COFFER" lock "$M" >/dev/null 2>&1 || true
    wait_until 10 not_mounted "$M" || umount -l "$M" 2>/dev/null || true
  fi
  stop_guard
}

for layer in "${LAYERS[@]}"; do
  reason=$(unwired_reason "$layer")
  [[ -z $reason ]] || fail "column $layer cannot run: $reason"
  note "column $layer"
  soft_check "column_$layer"
  after_column
done

# ----------------------------------------------------------------- audit
# Every coffer is locked now: read the whole trail once.
expect_exit 0 "$COFFER" audit "$C" --passphrase-file "$PWFILE" --json
cp "$OUT" "$WORK/audit.jsonl"

# ----------------------------------------------------------------- verdict
set +e
python3 - "$RESULTS" "$WORK/audit.jsonl" "$WORK/failing-rows.txt" <<'EOF'
import json, os, re, sys

results_path, audit_path, failing_path = sys.argv[1], sys.argv[2], sys.argv[3]
SCEN = ["cp", "redirect", "rsync", "dd", "gio", "mmap", "tee", "saveas", "mv", "tar", "shutil",
        "mkdirname", "symlink", "xattr"]
LABEL = {
    "cp": "cp", "redirect": "cat f > dest", "rsync": "rsync", "dd": "dd", "gio": "gio copy",
    "mmap": "mmap reader, then write", "tee": "cat f | tee dest", "saveas": "read all, close, save as",
    "mv": "mv files/x dest", "tar": "tar -cf dest/x.tar", "shutil": "python shutil.copy",
    "mkdirname": "mkdir named from a sheet", "symlink": "symlink, target from a sheet",
    "xattr": "xattr from a sheet on a file",
}
LAYERS = ["L1", "L2", "G", "L3", "ALL"]
NAMES = {"mkdirname", "symlink", "xattr"}  # data in names and attributes: no open for writing
L1_MUST = {"cp", "redirect", "dd", "gio", "mv", "tar", "shutil"}
MUST = {
    ("L1", "usb"): L1_MUST, ("L1", "disk"): L1_MUST,
    # The guard denies every write open on the stick; on this computer's own
    # disk only layer 1 is there.
    ("L2", "usb"): set(SCEN) - NAMES, ("L2", "disk"): L1_MUST,
    # A guarded coffer: the stick read-only, so nothing at all reaches it.
    ("G", "usb"): set(SCEN), ("G", "disk"): L1_MUST,
    ("L3", "usb"): set(SCEN), ("L3", "disk"): set(SCEN),
    ("ALL", "usb"): set(SCEN), ("ALL", "disk"): set(SCEN),
}
PY = r"python3(\.[0-9]+)*"
# Who reads the record (layer 1 refuses the read) and who opens the
# destination (the guard refuses the open).
READER = {"cp": "cp", "redirect": "cat", "rsync": "rsync", "dd": "dd", "gio": "gio", "mmap": PY,
          "tee": "cat", "saveas": PY, "mv": "mv", "tar": "tar", "shutil": PY,
          "mkdirname": "awk", "symlink": "awk", "xattr": "awk"}
WRITER = dict(READER, redirect="bash", tee="tee")

rows = {}
for line in open(results_path):
    layer, kind, scen, outcome, rc, dest, notes = line.rstrip("\n").split("\t")
    rows[(layer, kind, scen)] = dict(outcome=outcome, rc=rc, dest=dest, notes=notes)

events = []
for line in open(audit_path):
    line = line.strip()
    if line.startswith("{"):
        e = json.loads(line)
        if e.get("kind") == "copy-blocked":
            events.append(e)

def audited(dest, exe_re, guard):
    for e in events:
        detail = e.get("detail", "")
        if dest + "/" not in detail:
            continue
        if not re.fullmatch(exe_re, os.path.basename(e.get("exe", ""))):
            continue
        if guard and "guard" not in detail:
            continue
        return True
    return False

failures, known, not_run, errors = [], [], {}, {}
failing_rows = []

def cell(layer, kind, scen):
    n = len(failures) + sum(map(len, errors.values()))
    v = cell_(layer, kind, scen)
    if len(failures) + sum(map(len, errors.values())) > n:
        failing_rows.append(f"{layer}.{kind}.{scen}")
    return v

def cell_(layer, kind, scen):
    r = rows.get((layer, kind, scen))
    if r is None:
        not_run.setdefault(layer, []).append(f"{scen} -> {kind}")
        return "NOT RUN"
    o = r["outcome"]
    notes = [n for n in r["notes"].split(";") if n]
    if o == "error":
        errors.setdefault(layer, []).append(f"{scen} -> {kind} (rc {r['rc']})")
        return "ERROR"
    if "left-behind" in notes:
        failures.append(f"{layer} {scen} -> {kind}: 'coffer run' returned while a process of its session was still running (see the log)")
    if "timeout" in notes:
        failures.append(f"{layer} {scen} -> {kind}: timed out (rc {r['rc']})")
    if "mv-source-gone" in notes and o == "blocked":
        failures.append(f"{layer} mv -> {kind}: blocked, but the file is gone from files/ (data lost)")
    if scen == "inside":
        if o != "ok":
            failures.append(f"{layer}: a program writing only inside the coffer (cp roster.csv files/) was blocked (rc {r['rc']})")
            return "BLOCKED"
        return "ok"
    if kind == "approved" and scen == "xattr" and layer in ("L3", "ALL"):
        # A session sets no extended attribute anywhere (Landlock does not
        # cover them; a seccomp filter answers ENOTSUP), approved places too.
        if o == "ok":
            failures.append(f"{layer} xattr -> approved folder: a session program set an extended attribute")
            return "SET"
        return "refused (no xattrs in a session)"
    if kind == "approved":
        if o != "ok":
            failures.append(f"{layer} {scen} -> approved folder: nothing arrived (rc {r['rc']})")
            return "FAILED"
        return "copied"
    extra = "".join(f" [{m}]" for m in ("names", "left-behind", "timeout") if m in notes)
    if o == "leaked":
        if scen in MUST[(layer, kind)]:
            failures.append(f"{layer} {scen} -> {kind}: LEAKED (the layer must block it)")
            return "LEAKED"
        known.append(f"{layer} {scen} -> {kind}")
        return "leaked (known gap)"
    # blocked: audited where the layer audits
    if layer == "L1" or (layer in ("L2", "G") and kind == "disk"):
        ok = audited(r["dest"], READER[scen], False)
        if not ok:
            failures.append(f"{layer} {scen} -> {kind}: blocked but no copy-blocked event names {READER[scen]} and {r['dest']}/")
        return ("blocked, audited" if ok else "blocked, NOT AUDITED") + extra
    if layer == "L2" and kind == "usb":
        ok = audited(r["dest"], WRITER[scen], True)
        if not ok:
            failures.append(f"{layer} {scen} -> {kind}: blocked but no guard copy-blocked event names {WRITER[scen]} and {r['dest']}/")
        return ("blocked, audited" if ok else "blocked, NOT AUDITED") + extra
    return "blocked" + extra

table = [["scenario", "to"] + LAYERS]
for kind in ["usb", "disk", "approved"]:
    for scen in SCEN:
        table.append([LABEL[scen], {"usb": "USB stick", "disk": "local folder", "approved": "approved folder"}[kind]]
                     + [cell(l, kind, scen) for l in LAYERS])
table.append(["cp roster.csv files/ (inside)", "the coffer"] + [cell(l, "approved", "inside") for l in LAYERS])

w = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
fmt = lambda r: " | ".join(s.ljust(w[i]) for i, s in enumerate(r))
print()
print("Copy guard scenario matrix (blocked = the marker reached no file of the destination;")
print("audited = a copy-blocked event names the program and the destination; [names] = pupil")
print("names reached the destination although the content did not; [left-behind] = a session")
print("process outlived 'coffer run')")
print()
print(fmt(table[0]))
print("-+-".join("-" * x for x in w))
for i, r in enumerate(table[1:], 1):
    if i > 1 and (i - 1) % len(SCEN) == 0:
        print("-+-".join("-" * x for x in w))
    print(fmt(r))
for label, pick in (("layer 1", lambda e: "guard" not in e["detail"]), ("guard", lambda e: "guard" in e["detail"])):
    sample = next((e for e in events if pick(e)), None)
    if sample:
        print(f"a {label} copy-blocked event: exe {sample.get('exe')}, object {sample.get('object')!r}, detail {sample.get('detail')!r}")
print()
for layer, what in not_run.items():
    failures.append(f"{layer}: {len(what)} row(s) not run: the column failed before them (see the FAIL above the table)")
for layer, what in errors.items():
    listed = ", ".join(what[:4]) + (f" and {len(what) - 4} more" if len(what) > 4 else "")
    failures.append(f"{layer}: {len(what)} row(s) could not start the scenario (see the logs below): {listed}")
if known:
    print("Known gaps of the layer (reported, not failed): " + ", ".join(known))
if failures:
    print("MATRIX FAILURES:")
    for f in failures:
        print("  - " + f)
with open(failing_path, "w") as f:
    f.write("".join(r + "\n" for r in failing_rows))
sys.exit(1 if failures else 0)
EOF
verdict=$?
set -e

if [[ $verdict -ne 0 ]]; then
  echo "--- the last lines of the failing rows' logs (they are removed with \$WORK):" >&2
  shown=0
  while read -r row; do
    ((++shown <= 20)) || { echo "(more rows: not shown)" >&2; break; }
    echo "== $row: $(tail -n 4 "$LOGS/$row.log" 2>/dev/null | tr '\n' ' ')" >&2
  done <"$WORK/failing-rows.txt"
fi
soft_check_summary
[[ $verdict -eq 0 ]] || fail "the copy matrix has failures (listed above)"

umount "$USB" || fail "cannot unmount the stand-in stick"
finish
