#!/usr/bin/env bash
# Side-by-side filesystem benchmark: coffer's FUSE mount against gocryptfs,
# securefs and a plain tmpfs, all on the same disk directory, in one run.
# Not a test (not in ctest): it prints figures and coffer/gocryptfs ratios,
# which are recorded in docs/PERFORMANCE.md.
#
# Usage (as root):  bench/fs.sh [BENCH_DIR]
#   BENCH_DIR  scratch directory on the disk under test
#              (default $BENCH_DIR or /var/tmp/coffer-bench); no whitespace
# Environment:
#   SIZE=1024      MiB for the sequential write / cold read
#   RSS_SIZE=2048  MiB copied while sampling the filesystem process's RSS
#   NFILES=5000    files in the create+stat+unlink test (4 KiB each)
#   MAX_TAR_FILES=20000  cap on the untar tree (built from /usr/include)
#   COFFER=path    coffer binary (default build/cli/coffer of this checkout)
#   ONLY="coffer gocryptfs securefs tmpfs"  which columns to measure
#
# What each test does (same for every filesystem, in MNT/files/):
#   write   dd 1 MiB blocks of a pre-generated random file (kept on a separate
#           tmpfs so generating it is not timed), conv=fsync; MiB/s
#   read    sync + drop_caches, then dd to /dev/null; MiB/s (tmpfs pages are
#           not dropped, so its figure is a memory-copy ceiling); then cmp
#           against the source, untimed, to catch wrong data
#   small   one python3 process: NFILES x (open, write 4 KiB, close), then
#           stat each, then unlink each; seconds (no shell forks timed)
#   untar   tar -xf of an uncompressed tarball of /usr/include, then sync;
#           seconds
#   rss     cp of RSS_SIZE MiB + sync while sampling VmRSS of the filesystem
#           process every 0.2 s; peak MiB (and the copy's MiB/s)
# Every mount is undone on every exit path (trap on EXIT, INT, TERM, HUP).
# Functions are called indirectly (setup_$fs, test_$t, traps):
# shellcheck disable=SC2317
set -uo pipefail

SIZE=${SIZE:-1024}
RSS_SIZE=${RSS_SIZE:-2048}
NFILES=${NFILES:-5000}
MAX_TAR_FILES=${MAX_TAR_FILES:-20000}
ONLY=${ONLY:-"coffer gocryptfs securefs tmpfs"}
here=$(cd "$(dirname "$0")" && pwd)
COFFER=${COFFER:-$here/../build/cli/coffer}
BENCH_DIR=${1:-${BENCH_DIR:-/var/tmp/coffer-bench}}
PASS='Bench-Lantern-Quartz-58'

die() { echo "fs.sh: $*" >&2; exit 1; }
# log() always reaches the terminal; tests' own stderr goes to logs/.
# Every descriptor the measured commands inherit for writing is a pipe or
# the terminal, never a file: coffer's copy guard refuses to serve a reader
# that could print what it reads into a file (docs/GUARD.md, "Scripts").
# So fd 3 is a pipe even when this script's stderr is redirected to a file.
exec 3> >(cat >&2)
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&3; }

[[ $(id -u) == 0 ]] || die "run as root (mounts, drop_caches)"
[[ $BENCH_DIR != *[[:space:]]* ]] || die "BENCH_DIR must not contain whitespace"
for n in SIZE RSS_SIZE NFILES MAX_TAR_FILES; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer"
done
mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)

# One run at a time per directory.
: >>"$BENCH_DIR/.lock"
exec 9<"$BENCH_DIR/.lock"   # read-only: flock needs no write access
flock -n 9 || die "another fs.sh is running in $BENCH_DIR"
read -r load1 _ </proc/loadavg
log "load average (1 min) at start: $load1 on $(nproc) cores"
awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' &&
  log "WARNING: the machine is busy; figures will be noisy (other builds or tests running?)"

# ---------------------------------------------------------------- peers
need_pkgs=()
command -v gocryptfs >/dev/null || need_pkgs+=(gocryptfs)
command -v securefs >/dev/null || need_pkgs+=(securefs)
command -v fusermount3 >/dev/null || need_pkgs+=(fuse3)
command -v python3 >/dev/null || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null || die "apt-get install ${need_pkgs[*]} failed"
fi
[[ -c /dev/fuse ]] || die "/dev/fuse missing (modprobe fuse?)"

# ---------------------------------------------------------------- layout
SRC=$BENCH_DIR/src                 # tmpfs: random source, tarball, passphrase
PF=$SRC/passphrase
TARBALL=$SRC/tree.tar
RESULTS=$BENCH_DIR/results.tsv     # fs <TAB> key <TAB> value (kept after the run)
LOGS=$BENCH_DIR/logs               # stderr of each column's commands (kept)
C_FILE=$BENCH_DIR/bench.coffer
C_MNT=$BENCH_DIR/coffer-mnt
G_CIPHER=$BENCH_DIR/gocryptfs-cipher
G_MNT=$BENCH_DIR/gocryptfs-mnt
S_DATA=$BENCH_DIR/securefs-data
S_MNT=$BENCH_DIR/securefs-mnt
T_MNT=$BENCH_DIR/tmpfs-mnt
G_PID='' S_PID=''

is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

wait_mounted() {  # MOUNTPOINT PID-or-empty SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    is_mounted "$1" && return 0
    [[ -n $2 ]] && ! kill -0 "$2" 2>/dev/null && return 1
    sleep 0.1
  done
  return 1
}

unmount_one() {  # MOUNTPOINT
  local mp=$1 i
  is_mounted "$mp" || return 0
  for ((i = 0; i < 20; i++)); do
    fusermount3 -u "$mp" 2>/dev/null || fusermount -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null
    is_mounted "$mp" || return 0
    sleep 0.5   # busy: a killed dd/cp may still hold a file open
  done
  umount -l "$mp" 2>/dev/null
  ! is_mounted "$mp"
}

reap() {  # PID: wait for a daemon we started to exit after its unmount
  local pid=$1 i
  [[ -n $pid ]] || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}

coffer_lock() {
  is_mounted "$C_MNT" || return 0
  if [[ -x $COFFER ]]; then
    timeout 120 "$COFFER" lock "$C_MNT" >/dev/null 2>&1
  fi
  unmount_one "$C_MNT"
}

cleanup() {
  local rc=$? failed=0
  trap - EXIT INT TERM HUP
  [[ -n ${bg_job:-} ]] && kill "$bg_job" 2>/dev/null && wait "$bg_job" 2>/dev/null
  coffer_lock || failed=1
  unmount_one "$G_MNT" || failed=1; reap "$G_PID"
  unmount_one "$S_MNT" || failed=1; reap "$S_PID"
  unmount_one "$T_MNT" || failed=1
  unmount_one "$SRC" || failed=1
  if ((failed)); then
    echo "fs.sh: WARNING: something under $BENCH_DIR is still mounted:" >&2
    grep -F "$BENCH_DIR" /proc/mounts >&2
    exit 1
  fi
  # Free the disk space (the results file stays).
  rm -rf -- "$C_FILE" "$C_FILE"-* "$G_CIPHER" "$S_DATA" "$C_MNT" "$G_MNT" "$S_MNT" "$T_MNT" "$SRC"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Leftovers of a run that was killed with SIGKILL.
coffer_lock; unmount_one "$G_MNT"; unmount_one "$S_MNT"; unmount_one "$T_MNT"; unmount_one "$SRC"
for mp in "$C_MNT" "$G_MNT" "$S_MNT" "$T_MNT" "$SRC"; do
  is_mounted "$mp" && die "$mp is still mounted from an earlier run"
done
rm -rf -- "$C_FILE" "$C_FILE"-* "$G_CIPHER" "$S_DATA"
mkdir -p "$SRC" "$C_MNT" "$G_MNT" "$S_MNT" "$T_MNT" "$G_CIPHER" "$S_DATA"

maxsz=$((SIZE > RSS_SIZE ? SIZE : RSS_SIZE))
mount -t tmpfs -o size=$((maxsz + 512))m,mode=700 coffer-bench-src "$SRC" || die "cannot mount source tmpfs"
printf '%s\n' "$PASS" >"$PF"; chmod 600 "$PF"

log "generating ${maxsz} MiB of random source data (untimed)"
dd if=/dev/urandom of="$SRC/random.bin" bs=1M count="$maxsz" status=none || die "random source failed"

log "building the untar tree from /usr/include (untimed)"
(cd /usr && find include -type f -o -type l | LC_ALL=C sort | head -n "$MAX_TAR_FILES") >"$SRC/tree.list"
tar -C /usr -cf "$TARBALL" --no-recursion -T "$SRC/tree.list" || die "cannot build tarball"
TAR_FILES=$(wc -l <"$SRC/tree.list")
TAR_MIB=$(($(stat -c %s "$TARBALL") / 1048576))
((TAR_FILES >= 1000)) || die "/usr/include has only $TAR_FILES files"

: >"$RESULTS"
rm -f "$BENCH_DIR/securefs.log"; mkdir -p "$LOGS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mibps() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.1f", m / s }'; }

cat >"$SRC/small.py" <<'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(d)
data = os.urandom(4096)
names = [os.path.join(d, "f%05d" % i) for i in range(n)]
t0 = time.perf_counter()
for p in names:
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    if os.write(fd, data) != 4096:
        sys.exit("short write")
    os.close(fd)
t1 = time.perf_counter()
for p in names:
    if os.stat(p).st_size != 4096:
        sys.exit("wrong size from stat")
t2 = time.perf_counter()
for p in names:
    os.unlink(p)
t3 = time.perf_counter()
os.rmdir(d)
print("%.3f %.3f %.3f %.3f" % (t1 - t0, t2 - t1, t3 - t2, t3 - t0))
EOF

# ---------------------------------------------------------------- mounts
coffer_available() {
  [[ -x $COFFER ]] || return 1
  "$COFFER" open --help 2>&1 | grep -qE '^Usage:.*\bopen\b' || return 1
  "$COFFER" lock --help 2>&1 | grep -qE '^Usage:.*\block\b'
}

coffer_pid() {  # pid of the filesystem process serving $C_MNT
  "$COFFER" status --json 2>/dev/null | python3 -c '
import json, os, sys
mnt = sys.argv[1]
try:
    entries = json.load(sys.stdin)
except Exception:
    sys.exit(1)
if isinstance(entries, dict):
    entries = [entries]
with_pid = [e for e in entries if isinstance(e, dict) and "pid" in e]
mine = [e for e in with_pid
        if any(isinstance(v, str) and v.rstrip("/") in (mnt, mnt + "/files") for v in e.values())]
pick = mine or (with_pid if len(with_pid) == 1 else [])
if not pick:
    sys.exit(1)
print(int(pick[0]["pid"]))' "$C_MNT"
}

setup_coffer() {
  coffer_available || { log "coffer: open/lock not available in $COFFER"; return 2; }
  local expires; expires=$(date -d '+30 days' +%F)
  "$COFFER" create "$C_FILE" --owner Bench --purpose trip --expires "$expires" \
    --passphrase-file "$PF" --kdf-cost test >/dev/null || { log "coffer create failed"; return 1; }
  "$COFFER" open "$C_FILE" "$C_MNT" --passphrase-file "$PF" >/dev/null 9>&- || { log "coffer open failed"; return 1; }
  is_mounted "$C_MNT" || { log "coffer open returned but $C_MNT is not mounted"; return 1; }
  [[ -d $C_MNT/files && -w $C_MNT/files ]] || { log "coffer: $C_MNT/files is not a writable folder"; return 1; }
  WORK=$C_MNT/files
  FS_PID=$(coffer_pid) || { log "coffer status --json gave no pid for $C_MNT (RSS not sampled)"; FS_PID=''; }
}
teardown_coffer() { coffer_lock; }

setup_gocryptfs() {
  # -passfile rather than -extpass "cat PF": same effect, no word splitting.
  gocryptfs -q -init -passfile "$PF" "$G_CIPHER" >/dev/null || { log "gocryptfs -init failed"; return 1; }
  gocryptfs -q -fg -passfile "$PF" "$G_CIPHER" "$G_MNT" 9>&- &
  G_PID=$!
  wait_mounted "$G_MNT" "$G_PID" 30 || { log "gocryptfs did not mount"; return 1; }
  mkdir -p "$G_MNT/files"; WORK=$G_MNT/files; FS_PID=$G_PID
}
teardown_gocryptfs() { unmount_one "$G_MNT"; reap "$G_PID"; G_PID=''; }

setup_securefs() {
  # Debian's securefs 0.13 reads the password from --pass (no file option);
  # a bench-only passphrase, so being visible in ps does not matter here.
  securefs create --pass "$PASS" "$S_DATA" >/dev/null || { log "securefs create failed"; return 1; }
  securefs mount --pass "$PASS" "$S_DATA" "$S_MNT" >"$LOGS/securefs.log" 2>&1 9>&- &
  S_PID=$!
  wait_mounted "$S_MNT" "$S_PID" 60 || { log "securefs did not mount: $(tail -3 "$LOGS/securefs.log")"; return 1; }
  mkdir -p "$S_MNT/files"; WORK=$S_MNT/files; FS_PID=$S_PID
}
teardown_securefs() { unmount_one "$S_MNT"; reap "$S_PID"; S_PID=''; }

setup_tmpfs() {
  local sz=$(( (maxsz + 512) > 3072 ? maxsz + 512 : 3072 ))
  mount -t tmpfs -o size="${sz}m" coffer-bench-tmpfs "$T_MNT" || { log "tmpfs mount failed"; return 1; }
  mkdir -p "$T_MNT/files"; WORK=$T_MNT/files; FS_PID=''
}
teardown_tmpfs() { unmount_one "$T_MNT"; }

# ---------------------------------------------------------------- tests
test_write_read() {  # FS
  local f=$WORK/seq.bin t0 t1 s
  drop_caches
  t0=$(now)
  dd if="$SRC/random.bin" of="$f" bs=1M count="$SIZE" conv=fsync status=none || return 1
  t1=$(now); s=$(elapsed "$t0" "$t1")
  record "$1" write "$(mibps "$SIZE" "$s")"
  log "  write  $SIZE MiB in ${s}s"
  drop_caches
  t0=$(now)
  dd if="$f" of=/dev/null bs=1M status=none || return 1
  t1=$(now); s=$(elapsed "$t0" "$t1")
  [[ $(stat -c %s "$f") == $((SIZE * 1048576)) ]] || { log "  read: wrong size"; return 1; }
  record "$1" read "$(mibps "$SIZE" "$s")"
  log "  read   $SIZE MiB in ${s}s (cold)"
  cmp -s -n $((SIZE * 1048576)) "$SRC/random.bin" "$f"
  case $? in
    0) ;;
    1) log "  read: CONTENT DIFFERS from what was written"; record "$1" corrupt 1 ;;
    *) cmp -n $((SIZE * 1048576)) "$SRC/random.bin" "$f" >/dev/null; log "  read-back compare failed"; return 1 ;;
  esac
  rm -f "$f"; sync
}

test_small() {  # FS
  local out c st u tot
  drop_caches
  out=$(python3 "$SRC/small.py" "$WORK/small" "$NFILES") || return 1
  read -r c st u tot <<<"$out"
  record "$1" small "$tot"; record "$1" small_create "$c"
  record "$1" small_stat "$st"; record "$1" small_unlink "$u"
  log "  small  $NFILES files: create ${c}s stat ${st}s unlink ${u}s total ${tot}s"
}

test_untar() {  # FS
  local t0 t1 s
  mkdir "$WORK/untar" || return 1
  drop_caches
  t0=$(now)
  tar -xf "$TARBALL" -C "$WORK/untar" --no-same-owner --no-same-permissions || return 1
  sync
  t1=$(now); s=$(elapsed "$t0" "$t1")
  record "$1" untar "$s"
  log "  untar  $TAR_FILES files in ${s}s"
  rm -rf "$WORK/untar"; sync
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

test_rss() {  # FS: copy RSS_SIZE MiB, sample the fs process's RSS every 0.2 s
  local f=$WORK/big.bin t0 t1 s peak=0 r ok=1
  drop_caches
  if [[ -n $FS_PID ]]; then peak=$(rss_kib "$FS_PID"); peak=${peak:-0}; fi
  t0=$(now)
  if ((RSS_SIZE == maxsz)); then
    (cp "$SRC/random.bin" "$f" && sync) &
  else
    (dd if="$SRC/random.bin" of="$f" bs=1M count="$RSS_SIZE" status=none && sync) &
  fi
  bg_job=$!
  while kill -0 "$bg_job" 2>/dev/null; do
    if [[ -n $FS_PID ]]; then
      r=$(rss_kib "$FS_PID"); [[ -n $r ]] && ((r > peak)) && peak=$r
    fi
    sleep 0.2
  done
  wait "$bg_job" || ok=0
  bg_job=''
  t1=$(now); s=$(elapsed "$t0" "$t1")
  ((ok)) || return 1
  record "$1" copy "$(mibps "$RSS_SIZE" "$s")"
  if [[ -n $FS_PID ]]; then
    record "$1" rss "$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')"
    log "  copy   $RSS_SIZE MiB in ${s}s, peak RSS of pid $FS_PID: $((peak / 1024)) MiB"
  else
    log "  copy   $RSS_SIZE MiB in ${s}s"
  fi
  rm -f "$f"; sync
}

run_fs() {  # FS
  local fs=$1 t err=$LOGS/$1.err lines
  WORK='' FS_PID=''
  : >"$err"
  log "== $fs"
  # Standard error goes to the log through a pipe, never as the file
  # itself: coffer's copy guard refuses a reader whose stderr is a file
  # (any program can print what it read there; docs/GUARD.md).
  "setup_$fs" >/dev/null 2> >(cat >>"$err")
  local rc=$?
  wait $!   # the cat, so the log is complete before it is read
  case $rc in
    0) ;;
    2) record "$fs" status unavailable; return ;;
    *) record "$fs" status setup_failed; "teardown_$fs"; return ;;
  esac
  record "$fs" status ok
  for t in write_read small untar rss; do
    if [[ ! -d $WORK ]]; then   # the mount went away (crash, lock by someone else)
      log "  $t skipped on $fs: $WORK is gone"; record "$fs" "failed_$t" 1
      continue
    fi
    lines=$(wc -l <"$err")
    "test_$t" "$fs" >/dev/null 2> >(cat >>"$err")
    local rc=$?
    wait $!
    if ((rc != 0)); then
      log "  $t FAILED on $fs; first errors (all in $err):"
      tail -n +$((lines + 1)) "$err" | head -n 5 | sed 's/^/    /' >&3
      record "$fs" "failed_$t" 1
      rm -rf "$WORK/seq.bin" "$WORK/small" "$WORK/untar" "$WORK/big.bin" 2>/dev/null
    fi
  done
  "teardown_$fs" || log "$fs: unmount failed"
}

for fs in coffer gocryptfs securefs tmpfs; do
  [[ " $ONLY " == *" $fs "* ]] || continue
  run_fs "$fs"
done

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$SIZE" "$RSS_SIZE" "$NFILES" "$TAR_FILES" "$TAR_MIB" <<'EOF'
import sys
path, size, rss_size, nfiles, tar_files, tar_mib = sys.argv[1:]
res = {}
for line in open(path):
    fs, key, val = line.rstrip("\n").split("\t")
    res.setdefault(fs, {})[key] = val
cols = ["coffer", "gocryptfs", "securefs", "tmpfs"]

def failed_key(key):
    return {"write": "failed_write_read", "read": "failed_write_read",
            "small": "failed_small", "small_create": "failed_small",
            "small_stat": "failed_small", "small_unlink": "failed_small",
            "untar": "failed_untar", "copy": "failed_rss", "rss": "failed_rss"}[key]

def cell(fs, key):
    r = res.get(fs)
    if r is None:
        return None, "not run"
    if r.get("status") == "unavailable":
        return None, "not available"
    if r.get("status") != "ok":
        return None, "setup FAILED"
    if key in r:
        return float(r[key]), None
    if failed_key(key) in r:
        return None, "FAILED"
    return None, "n/a"

# key, label, unit, kind ("rate": higher better, "time": lower better, "mem"),
# target (ratio for rate/time, absolute MiB for mem)
rows = [
    ("write", f"seq write {size} MiB + fsync", "MiB/s", "rate", 1.2),
    ("read", f"seq read {size} MiB, cold cache", "MiB/s", "rate", 1.0),
    ("small", f"{nfiles} x 4 KiB create+stat+unlink", "s", "time", 1.5),
    ("small_create", "  of which create", "s", "time", None),
    ("small_stat", "  of which stat", "s", "time", None),
    ("small_unlink", "  of which unlink", "s", "time", None),
    ("untar", f"untar {tar_files} files ({tar_mib} MiB) + sync", "s", "time", None),
    ("copy", f"cp {rss_size} MiB + sync", "MiB/s", "rate", None),
    ("rss", f"fs process peak RSS during that copy", "MiB", "mem", 64),
]
table = [["test", "unit"] + cols + ["coffer/gocryptfs", "target", "status"]]
for key, label, unit, kind, target in rows:
    vals = {c: cell(c, key) for c in cols}
    line = [label, unit]
    for c in cols:
        v, why = vals[c]
        if v is None:
            line.append("coffer: " + why if c == "coffer" and why == "not available" else why)
        else:
            line.append(f"{v:.1f}" if kind != "time" else f"{v:.2f}")
    cv, gv = vals["coffer"][0], vals["gocryptfs"][0]
    ratio = None
    if cv is not None and gv is not None and cv > 0 and gv > 0:
        if kind == "rate":
            ratio = cv / gv
        elif kind == "time":
            ratio = gv / cv
    line.append(f"{ratio:.2f}x" if ratio is not None else "-")
    if target is None:
        line += ["-", ""]
    elif kind == "mem":
        line.append(f"coffer < {target} MiB")
        line.append("not measured" if cv is None else ("met" if cv < target else "NOT MET"))
    else:
        line.append(f">= {target}x")
        line.append("not measured" if ratio is None else ("met" if ratio >= target else "NOT MET"))
    table.append(line)

w = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
def fmt(r):
    return " | ".join(s.ljust(w[i]) if i == 0 else s.rjust(w[i]) for i, s in enumerate(r))
print()
print("coffer/gocryptfs ratio: throughput = coffer MiB/s / gocryptfs MiB/s;")
print("times = gocryptfs s / coffer s. Above 1 means coffer is faster.")
print("RSS: of the FUSE daemon (gocryptfs, securefs, coffer's filesystem process).")
print()
print(fmt(table[0]))
print("-+-".join("-" * x for x in w))
for r in table[1:]:
    print(fmt(r))
bad = [fs for fs in cols if res.get(fs, {}).get("corrupt")]
if bad:
    print("\nWARNING: data read back differed from data written on: " + ", ".join(bad))
broken = [fs for fs in cols if fs in res and (res[fs].get("status") == "setup_failed"
          or any(k.startswith("failed_") for k in res[fs]))]
if broken:
    print("\nFAILED (see the log above): " + ", ".join(broken))
sys.exit(1 if bad or broken else 0)
EOF
table_rc=$?

log "raw results: $RESULTS"
exit "$table_rc"
