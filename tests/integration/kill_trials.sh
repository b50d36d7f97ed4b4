#!/usr/bin/env bash
# Process-level crash trials: kill -9 of the filesystem process at a random
# moment of heavy writes, TRIALS times (argument or COFFER_KILL_TRIALS;
# default 100, ctest runs 10). After every kill: `coffer fsck` passes on the
# crashed file, `coffer open` cleans up the dead mount and opens, every file
# whose fsync returned reads back byte for byte, and files/ as a whole is the
# writer's tree as it was at one moment at or after its last fsync (the
# durability rule of docs/FORMAT.md §8.3: a commit at fsync, after a close or
# every 2 s, is all or nothing, and a crash loses only what came after it).
# COFFER_KILL_SEED replays a run's writes and kill delays (the seed is
# printed at the start; the moment a kill lands still depends on timing).
#
#   tests/integration/kill_trials.sh build/cli/coffer [TRIALS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TRIALS=${2:-${COFFER_KILL_TRIALS:-100}}
[[ $TRIALS =~ ^[1-9][0-9]*$ ]] || fail "TRIALS must be a positive number, not '$TRIALS'"
SEED=${COFFER_KILL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
RANDOM=$SEED
note "$TRIALS trials, seed $SEED"

C=$WORK/kill.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
# Python runs five times a trial: resolved once, past any version-manager
# shim (pyenv's costs seconds a start on a busy machine).
PY3=$(python3 -c 'import sys; print(sys.executable)')
py3() {
  local code=$1
  shift
  "$PY3" -c "$PY_PRELUDE
$code" "$@"
}

# The writer: one process, one operation at a time, so the files/ tree at any
# instant is a prefix of its operation list. It writes nothing but files/ and
# its journal, and never reads coffer data (the copy guard would refuse a
# reader holding the journal open for writing). Each operation is journalled
# before it is issued and again when it returns, so the journal (outside the
# coffer) says which operations may have happened and which fsyncs returned.
# Contents are a deterministic stream per file id, so the checker can
# regenerate every byte. It runs until the mount dies under it: exit 3 for
# ENOTCONN/ECONNABORTED (the kill), 4 for any other error.
WRITER='
import errno, hashlib, json, os, random, sys
d, journal, seed = sys.argv[1], sys.argv[2], sys.argv[3]
rng = random.Random(seed)
j = open(journal, "w", buffering=1)
APPEND_MAX = 8 << 20
def stream(fid, size):
    # Whole 32-bit words keep every stream a prefix of any longer one.
    return random.Random("%s/%s" % (seed, fid)).randbytes((size + 3) // 4 * 4)[:size]
def size_of_new():
    r = rng.random()
    if r < 0.15: return rng.randrange(0, 200)
    if r < 0.45: return rng.randrange(200, 64 << 10)
    if r < 0.85: return rng.randrange(64 << 10, 1 << 20)
    return rng.randrange(1 << 20, 4 << 20)
n = 0
def op(kind, fn, **kw):
    global n
    n += 1
    j.write(json.dumps(dict(i=n, op=kind, **kw)) + "\n")
    try:
        r = fn()
    except OSError as e:
        j.write(json.dumps(dict(err=n, errno=e.errno)) + "\n")
        sys.exit(3 if e.errno in (errno.ENOTCONN, errno.ECONNABORTED) else 4)
    j.write(json.dumps(dict(done=n, ret=r if isinstance(r, int) else None)) + "\n")
    return r
def write_all(fd, name, fid, data, off, fsync_mid):
    # Sequential writes of 1 byte to 1 MiB; short writes are continued.
    mid = rng.randrange(1, len(data)) if fsync_mid and len(data) > 1 else -1
    pos = 0
    while pos < len(data):
        want = min(len(data) - pos, rng.choice([1, 511, 4096, 65536, 131072 + 17, 1 << 20]))
        if 0 <= pos < mid <= pos + want: want = mid - pos
        got = op("write", lambda: os.write(fd, data[pos:pos + want]), name=name, fid=fid, off=off + pos, len=want)
        pos += got
        if pos == mid:
            op("fsync", lambda: os.fsync(fd), name=name)
appended = {}
f = 0
while True:
    f += 1
    r = rng.random()
    if r < 0.6:  # a new file, written once; fsync at the end (or midway) or not
        name = fid = "f-%04d" % f
        data = stream(fid, size_of_new())
        fd = op("create", lambda: os.open(os.path.join(d, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644), name=name, fid=fid)
        write_all(fd, name, fid, data, 0, rng.random() < 0.15)
        if rng.random() < 0.4:
            op("fsync", lambda: os.fsync(fd), name=name, synced=len(data), sha256=hashlib.sha256(data).hexdigest())
        op("close", lambda: os.close(fd), name=name)
    elif r < 0.85:  # replace: write a temporary file, rename it over r-K
        tmp, fid, dst = "tmp-%04d" % f, "t-%04d" % f, "r-%d" % rng.randrange(3)
        data = stream(fid, size_of_new())
        fd = op("create", lambda: os.open(os.path.join(d, tmp), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644), name=tmp, fid=fid)
        write_all(fd, tmp, fid, data, 0, False)
        if rng.random() < 0.5:
            op("fsync", lambda: os.fsync(fd), name=tmp)
        op("close", lambda: os.close(fd), name=tmp)
        op("rename", lambda: os.rename(os.path.join(d, tmp), os.path.join(d, dst)), src=tmp, dst=dst)
        if rng.random() < 0.3:
            dfd = op("opendir", lambda: os.open(d, os.O_RDONLY | os.O_DIRECTORY))
            op("fsyncdir", lambda: os.fsync(dfd))
            op("closedir", lambda: os.close(dfd))
    else:  # append to a-K, continuing its stream; sometimes fsync
        name = fid = "a-%d" % rng.randrange(2)
        have = appended.get(name, 0)
        more = min(rng.randrange(1, 1 << 20), APPEND_MAX - have)
        if more <= 0:
            continue
        data = stream(fid, have + more)[have:]
        fd = op("create", lambda: os.open(os.path.join(d, name), os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o644), name=name, fid=fid)
        write_all(fd, name, fid, data, have, False)
        appended[name] = have + more
        if rng.random() < 0.5:
            op("fsync", lambda: os.fsync(fd), name=name)
        op("close", lambda: os.close(fd), name=name)
'

# The checker (reads the reopened files/, writes only to its stdout, a pipe).
# Replays the journal: the tree must equal the writer's tree after some
# prefix of its operations (the one in flight at the kill may be a write cut
# anywhere), no shorter than the last fsync that returned. Separately, and
# by hash, every file the writer fsynced whole is intact. Prints one summary
# line, or FAIL lines.
CHECKER='
import hashlib, json, os, random, sys
d, journal, seed = sys.argv[1], sys.argv[2], sys.argv[3]
def stream(fid, size):
    # Whole 32-bit words keep every stream a prefix of any longer one.
    return random.Random("%s/%s" % (seed, fid)).randbytes((size + 3) // 4 * 4)[:size]
ops, done, err = [], {}, None
for line in open(journal):
    e = json.loads(line)
    if "op" in e: ops.append(e)
    elif "done" in e: done[e["done"]] = e["ret"]
    else: err = e
found = {}
for name in os.listdir(d):
    with open(os.path.join(d, name), "rb") as f:
        found[name] = f.read()
problems = []
# 1. By hash: files fsynced whole (written once, never touched again).
synced = [e for e in ops if e["op"] == "fsync" and "sha256" in e and e["i"] in done]
for e in synced:
    got = found.get(e["name"])
    if got is None:
        problems.append("%s: fsynced (%d bytes) but missing" % (e["name"], e["synced"]))
    elif hashlib.sha256(got).hexdigest() != e["sha256"]:
        problems.append("%s: fsynced %d bytes, reads back %d bytes that differ" % (e["name"], e["synced"], len(got)))
# 2. The whole tree is a prefix state. Lower bound: the last returned fsync.
low = max([e["i"] for e in ops if e["op"] in ("fsync", "fsyncdir") and e["i"] in done] + [0])
cache = {}
def matches(name, fid, lo, hi):
    got = found[name]
    if not lo <= len(got) <= hi: return False
    key = (fid, len(got), name)
    if key not in cache:
        cache[key] = got == stream(fid, len(got))
    return cache[key]
state = {}  # name -> (fid, length)
def apply(e, length=None):
    if e["op"] == "create":
        state.setdefault(e["name"], (e["fid"], 0))
    elif e["op"] == "write":
        state[e["name"]] = (e["fid"], e["off"] + done[e["i"]])
    elif e["op"] == "rename":
        state[e["dst"]] = state.pop(e["src"])
def equal(partial=None):
    names = set(state) if partial is None else set(state) | {partial["name"]}
    if names != set(found): return False
    for name in names:
        if partial is not None and name == partial["name"]:
            if not matches(name, partial["fid"], partial["off"], partial["off"] + partial["len"]): return False
        elif not matches(name, state[name][0], state[name][1], state[name][1]):
            return False
    return True
match = None
for p in range(0, len(ops) + 1):
    if p >= low and (equal() or (p < len(ops) and ops[p]["op"] == "write" and equal(ops[p]))):
        match = p
        break
    if p == len(ops): break
    e = ops[p]
    if e["i"] not in done:
        # In flight at the kill: the rest of the list never started. A
        # create or rename not done may have happened all the same.
        if e["op"] in ("create", "rename"):
            apply(e)
            if p + 1 >= low and equal(): match = p + 1
        break
    apply(e)
if match is None:
    problems.append("files/ is no state the writer passed through at or after its last fsync (op %d of %d): found %s" %
                    (low, len(ops), sorted((n, len(b)) for n, b in found.items())))
for p in problems: print("FAIL:", p)
print("ops=%d done=%d low=%d match=%s files=%d synced=%d bytes=%d error=%s" % (
    len(ops), len(done), low, match, len(found), len(synced), sum(map(len, found.values())),
    err and err.get("errno")))
'

# reopen WHEN: `coffer open` on the dead mount cleans it up and opens.
reopen() {
  expect_exit 0 "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
  expect_output_contains 'left mounted|did not exit cleanly|stale'
  [[ $(mount_line "$M") == *" fuse.coffer "* ]] || fail "$1: open exited 0 but nothing is mounted"
  [[ $(mount_line "$M" | wc -l) -eq 1 ]] || fail "$1: the mountpoint has stacked mounts"
}

# empty_files: removes the trial's files and commits that (fsync of the
# directory), so the next writer starts from an empty, durable files/. Its
# output goes to a pipe: listing a folder is a read to the copy guard, and
# this shell's own output may be a file.
empty_files() {
  local out
  out=$(py3 '
d = sys.argv[1]
for name in os.listdir(d):
    os.unlink(os.path.join(d, name))
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)
os.close(fd)
if os.listdir(d):
    die("files/ is not empty after the clean-up: %s" % os.listdir(d))
' "$M/files" 2>&1) || fail "could not empty files/ for the next trial: $out"
}

journal_progress() { [[ -s $1 ]]; }

# fs_pid: the pid of the filesystem process on $M (from status --json).
fs_pid() {
  local pid
  expect_exit 0 "$COFFER" status --json
  pid=$(py3 'import json
print(next(m["pid"] for m in json.load(open(sys.argv[1])) if m["mountpoint"] == sys.argv[2]))' "$OUT" "$M") ||
    fail "status --json does not list $M"
  pid_alive "$pid" || fail "status --json gave pid '$pid', not a live process"
  echo "$pid"
}

FAILED=0 SYNCED_CHECKED=0 FILES_CHECKED=0 OPS=0 BYTES=0 TAIL_PAGES=0 LATER=0
open_coffer "$C" "$M" --idle-seconds 900
for ((t = 1; t <= TRIALS; t++)); do
  J=$WORK/journal-$t
  pid=$(fs_pid)
  "$PY3" -c "$WRITER" "$M/files" "$J" "$SEED-$t" &
  writer=$!
  wait_until 20 journal_progress "$J" || fail "trial $t: the writer did not start"
  # A random moment 0 to 2.5 s into the writing (the mount commits at
  # least every 2 s, so some kills land after a periodic commit).
  delay=$((RANDOM % 2500))
  delay=$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))
  sleep "$delay"
  pid_alive "$writer" || { tail -3 "$J" >&2; fail "trial $t: the writer stopped before the kill"; }
  kill -9 "$pid"
  wait_until 10 pid_gone "$pid" || fail "trial $t: the filesystem process survived kill -9"
  wait_until 20 pid_gone "$writer" || fail "trial $t: the writer hangs on the dead mount"
  set +e
  wait "$writer"
  wrc=$?
  set -e
  [[ $wrc -eq 3 ]] || { tail -3 "$J" >&2; fail "trial $t: the writer ended with $wrc, not with the mount's death (3)"; }
  is_mounted "$M" || fail "trial $t: no dead mount left (nothing was crashed)"

  # The crashed file as the kill left it (a rollback journal may be hot).
  # Whole pages SQLite wrote past the database's end are a note, not damage
  # (docs/RELIABILITY.md); counted, to show how often a kill leaves them.
  fsck_ok "$C"
  if grep -q 'unused pages past the end' "$OUT"; then TAIL_PAGES=$((TAIL_PAGES + 1)); fi
  reopen "trial $t"
  result=$("$PY3" -c "$CHECKER" "$M/files" "$J" "$SEED-$t" 2>&1) || result="FAIL: the checker failed: $result"
  if [[ $result == *FAIL* ]]; then
    FAILED=$((FAILED + 1))
    echo "trial $t (kill after ${delay}s, seed $SEED-$t):" >&2
    echo "$result" >&2
  else
    echo "trial $t: kill after ${delay}s: $result"
  fi
  [[ $result =~ synced=([0-9]+) ]] && SYNCED_CHECKED=$((SYNCED_CHECKED + BASH_REMATCH[1]))
  [[ $result =~ files=([0-9]+) ]] && FILES_CHECKED=$((FILES_CHECKED + BASH_REMATCH[1]))
  [[ $result =~ ops=([0-9]+) ]] && OPS=$((OPS + BASH_REMATCH[1]))
  [[ $result =~ bytes=([0-9]+) ]] && BYTES=$((BYTES + BASH_REMATCH[1]))
  # A state past the last fsync: a commit after a close or by the 2 s timer.
  if [[ $result =~ low=([0-9]+)\ match=([0-9]+) ]] && ((BASH_REMATCH[2] > BASH_REMATCH[1])); then
    LATER=$((LATER + 1))
  fi
  empty_files
  rm -f "$J"
done
lock_coffer "$M"
fsck_ok "$C"
note "trials: $TRIALS, failed: $FAILED; fsynced files checked by hash: $SYNCED_CHECKED;" \
  "files checked against the journal: $FILES_CHECKED ($((BYTES >> 20)) MiB); writer operations: $OPS;" \
  "recovered past the last fsync: $LATER; fsck saw unused pages past the end after $TAIL_PAGES kills;" \
  "$((SECONDS)) s, seed $SEED"
((FAILED == 0)) || fail "$FAILED of $TRIALS trials found files/ in a state the durability rule does not allow"
finish
