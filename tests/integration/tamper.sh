#!/usr/bin/env bash
# Byte-level damage read through a real mount: damaged data reads as EIO,
# never as other bytes. The coffer gets four pupils (coffer-csv fixture),
# then one pupil whose support note (40,000 bytes) overflows onto pages of
# its own, a three-chunk file and a small one, then in a session of its own
# one whole 128 KiB chunk (victim.bin). Where one commit inserts one large
# row, the pages it adds are that row's overflow chain in chain order
# (SQLite appends a new cell's overflow pages one after the other, and
# auto_vacuum leaves no free page; see tests/tamper/population.cpp), so the
# last page of each chain is known. Each case damages a fresh copy:
#  - the victim chunk's last chain page zeroed (SQLCipher alone reads zeros),
#  - that page cut off the end of the file (SQLite reads it back as zeros),
#  - one byte flipped in the middle of the chunk's chain,
#  - one byte flipped in the last page of the pupil's note (it fails
#    SQLCipher's HMAC, which decodes it as zeros), and that page zeroed,
#  - a random page appended (no data damaged: fsck must say so),
#  - each page the fixture import changed zeroed in turn (the record views),
#  - the same byte flipped in both header copies (open must refuse).
# Every file and view then reads back identical or fails with EIO (the
# damaged one must fail), `coffer fsck` exits 4 without naming a file or a
# pupil, and a refused open exits 4 saying what is damaged. Each case runs
# on its own (soft_check), so one failure does not hide the next.
set -euo pipefail
FIXTURE=$(cd "$(dirname "$0")/../fixtures/import/coffer-csv" && pwd)
source "$(dirname "$0")/lib.sh"

C=$WORK/base.coffer
PAGE=16384
LONG_PUPIL='pupils/Longnote, Tamsin (T001)/profile.txt'
make_coffer "$C"
head -c 300000 /dev/urandom >"$WORK/keep.bin"
head -c 131072 /dev/urandom >"$WORK/victim.bin"
printf 'a small file\n' >"$WORK/small.txt"

pages() { echo $((($(stat -c %s "$1") - 8192) / PAGE)); }
page_offset() { echo $((8192 + ($1 - 1) * PAGE)); }

# views MODE MNT [EXPECTED [MUST-FAIL...]]: MODE snapshot prints, as JSON,
# every view's and file's SHA-256 (or EIO) and the listings of pupils/ and
# files/; MODE compare checks MNT against such a snapshot: each entry the
# same or EIO (an EIO listing hides its entries), nothing else, and the
# entries named after it EIO. Output goes through a pipe: the copy guard
# refuses reads to a process writing to the local disk.
views() {
  python3 - "$@" <<'EOF' 2>&1 | cat
import errno, hashlib, json, os, sys
mode, mnt = sys.argv[1], sys.argv[2]
def read(p):
    try:
        with open(p, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        return "EIO" if e.errno == errno.EIO else "errno " + errno.errorcode.get(e.errno, str(e.errno))
def walk():
    out = {}
    for top in ("README.txt", "roster.csv", "manifest.txt"):
        out[top] = read(os.path.join(mnt, top))
    for d in ("pupils", "files"):
        try:
            names = sorted(os.listdir(os.path.join(mnt, d)))
        except OSError as e:
            out[d + "/"] = "EIO" if e.errno == errno.EIO else "errno %d" % e.errno
            continue
        out[d + "/"] = "|".join(names)
        for n in names:
            key = d + "/" + n + ("/profile.txt" if d == "pupils" else "")
            out[key] = read(os.path.join(mnt, key))
    return out
got = walk()
if mode == "snapshot":
    print(json.dumps(got))
    sys.exit(0)
want, must_fail = json.loads(sys.argv[3]), sys.argv[4:]
bad, eio = [], []
for k, v in want.items():
    if got.get(k) == "EIO" or (k not in got and got.get(k.split("/")[0] + "/") == "EIO"):
        eio.append(k)
    elif got.get(k) != v:
        bad.append("%s: %s" % (k, "missing" if k not in got else
                               "WRONG DATA (other content, no error)" if len(got[k]) == 64 else got[k]))
bad += ["%s: not in the undamaged coffer" % k for k in got if k not in want]
bad += ["%s: read without an error, expected EIO" % k for k in must_fail if k not in eio]
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
print("same: %d, EIO: %d (%s)" % (len(want) - len(eio), len(eio), ", ".join(eio)))
EOF
}

# mutate FILE OP ARGS: zero PAGE... | flip OFFSET... | cut-last-page | append-page
mutate() {
  python3 - "$@" <<'EOF'
import os, sys
path, op, args = sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]
with open(path, "r+b") as f:
    if op == "zero":
        for p in args:
            f.seek(8192 + (p - 1) * 16384)
            f.write(bytes(16384))
    elif op == "flip":
        for off in args:
            f.seek(off)
            b = f.read(1)[0]
            f.seek(off)
            f.write(bytes([b ^ 0x5a]))
    elif op == "cut-last-page":
        f.truncate(os.fstat(f.fileno()).st_size - 16384)
    elif op == "append-page":
        f.seek(0, 2)
        f.write(os.urandom(16384))
EOF
}

# fsck_reports COFFER: fsck exits 4 (damaged), saying so, naming no file or pupil.
fsck_reports() {
  expect_exit 4 "$COFFER" fsck "$1" --passphrase-file "$PWFILE"
  expect_output_contains 'integrity|damaged|malformed|appended or lost'
  ! grep -qE 'victim|keep\.bin|small\.txt|Ashdown|Okafor|Brien|Longnote|Tamsin' "$OUT" "$ERR" ||
    { show_last; fail "fsck names a file or a pupil"; }
}

# damaged NAME OP ARGS: a fresh copy of the base coffer, damaged; prints its
# path. Same file name in a directory of its own: manifest.txt names the file.
damaged() {
  mkdir "$WORK/$1"
  local copy=$WORK/$1/base.coffer
  shift
  cp "$C" "$copy"
  mutate "$copy" "$@"
  echo "$copy"
}

# import_one_long_pupil: T001, whose support note is 40,000 bytes.
import_one_long_pupil() {
  mkdir "$WORK/long"
  python3 - "$FIXTURE/pupils.csv" "$WORK/long/pupils.csv" <<'EOF'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
header = [l for l in lines if not l.startswith("#")][0]
cols = header.split(",")
note = "".join("%d. quiet room, movement breaks, key adult named. " % n for n in range(1, 2000))[:40000]
row = dict.fromkeys(cols, "")
row.update(PupilKey="T001", Surname="Longnote", Forename="Tamsin", DOB="2012-05-01", Sex="F",
           NCyearActual="9", RegGroup="9A", SupportNote=note)
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("# dates: YYYY-MM-DD\n" + header + "\n" + ",".join('"%s"' % row[c] for c in cols) + "\n")
EOF
  expect_exit 0 "$COFFER" import "$C" --from "$WORK/long" --pupil T001 --allow-missing --passphrase-file "$PWFILE"
}

# --- The base coffer, recording which pages each step added or changed.
# The fixture import changes pages in place (its rows are small); each is
# zeroed in turn below, so they are recorded now.
cp "$C" "$WORK/before-import.copy"
expect_exit 0 "$COFFER" import "$C" --from "$FIXTURE" --pupil F001 F002 F003 F004 --passphrase-file "$PWFILE"
cp "$C" "$WORK/after-import.copy"
P_IMPORT=$(pages "$C")
BEFORE_NOTE=$P_IMPORT
import_one_long_pupil
NOTE_PAGES=$(($(pages "$C") - BEFORE_NOTE))
((NOTE_PAGES == 2)) ||
  fail "importing one pupil with a 40,000-byte note added $NOTE_PAGES pages, not its 2-page overflow chain"
NOTE_TAIL=$(pages "$C")
M=$WORK/mnt
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900
cp "$WORK/keep.bin" "$WORK/small.txt" "$M/files/"
lock_coffer "$M"
BEFORE=$(pages "$C")
open_coffer "$C" "$M" --idle-seconds 900
cp "$WORK/victim.bin" "$M/files/"
lock_coffer "$M"
AFTER=$(pages "$C")
((AFTER - BEFORE == 8)) ||
  fail "the session writing one 128 KiB chunk added $((AFTER - BEFORE)) pages, not its 8-page overflow chain"
TAIL=$AFTER
cp "$C" "$WORK/check.coffer"
fsck_ok "$WORK/check.coffer"
open_coffer "$C" "$M" --idle-seconds 900
EXPECTED=$(views snapshot "$M")
lock_coffer "$M"
[[ $EXPECTED == *'"files/victim.bin": "'*[0-9a-f]'"'* && $EXPECTED == *"\"$LONG_PUPIL\": \""*[0-9a-f]'"'* ]] ||
  fail "the undamaged coffer does not read back: $EXPECTED"

# open_damaged COPY MNT: mounts COPY (true), or checks that open refused it
# with exit 4 saying what is damaged, and mounted nothing (false).
open_damaged() {
  run_cmd "$COFFER" open "$1" "$2" --passphrase-file "$PWFILE" --idle-seconds 900
  if [[ $STATUS -eq 0 ]]; then
    [[ $(mount_line "$2") == *" fuse.coffer "* ]] || { show_last; fail "open exited 0 but $2 is not mounted"; }
    return 0
  fi
  if is_mounted "$2"; then
    show_last
    fusermount3 -u -z "$2" || umount -l "$2" || true  # so that the other cases still run
    fail "open of a damaged coffer exited $STATUS but left $2 mounted"
  fi
  [[ $STATUS -eq 4 ]] || { show_last; fail "open of a damaged coffer exited $STATUS, expected 0 or 4 (damaged)"; }
  expect_output_contains 'damaged|malformed|integrity|tamper|truncated'
  return 1
}

# mounted_case NAME OP ARGS -- MUST-FAIL...: damage a copy and open it. If
# open refuses (exit 4), fine; if it mounts, every view and file must read
# as in the undamaged coffer or fail with EIO, those named after -- must
# fail, and after the lock fsck must report the damage.
mounted_case() {
  local name=$1 copy result rc=0 op=()
  shift
  while [[ $1 != -- ]]; do op+=("$1"); shift; done
  shift
  copy=$(damaged "$name" "${op[@]}")
  local mnt=$WORK/$name/mnt
  mkdir "$mnt"
  if ! open_damaged "$copy" "$mnt"; then
    echo "$name: open refused: $(cat "$ERR")"
    return 0
  fi
  result=$(views compare "$mnt" "$EXPECTED" "$@") || rc=$?
  echo "$name: $result"
  lock_coffer "$mnt"
  ((rc == 0)) || fail "$name: $result"
  fsck_reports "$copy"
}

chunk_chain_tail_zeroed() { mounted_case chunk-tail-zeroed zero "$TAIL" -- files/victim.bin; }
chunk_chain_tail_cut_off() { mounted_case chunk-tail-cut cut-last-page -- files/victim.bin; }
chunk_chain_middle_flipped() {
  mounted_case chunk-middle-flipped flip $(($(page_offset $((BEFORE + 4))) + 5000)) -- files/victim.bin
}
note_chain_tail_zeroed() { mounted_case note-tail-zeroed zero "$NOTE_TAIL" -- "$LONG_PUPIL"; }
note_chain_tail_flipped() {
  mounted_case note-tail-flipped flip $(($(page_offset "$NOTE_TAIL") + 5000)) -- "$LONG_PUPIL"
}
page_appended() { mounted_case page-appended append-page --; }
for c in chunk_chain_tail_zeroed chunk_chain_tail_cut_off chunk_chain_middle_flipped note_chain_tail_zeroed \
    note_chain_tail_flipped page_appended; do
  soft_check "$c"
done

# Each page the fixture import changed (after page 1), zeroed in turn: open
# refuses (exit 4, saying so), or every view reads the same or EIO and fsck
# reports the damage.
record_page_zeroed() {
  local p=$1 copy result rc=0
  copy=$(damaged "records-$p" zero "$p")
  local mnt=$WORK/records-$p/mnt
  mkdir "$mnt"
  if ! open_damaged "$copy" "$mnt"; then
    echo "page $p zeroed: open refused: $(cat "$ERR")"
    return 0
  fi
  result=$(views compare "$mnt" "$EXPECTED") || rc=$?
  echo "page $p zeroed: $result"
  lock_coffer "$mnt"
  ((rc == 0)) || fail "page $p zeroed: $result"
  fsck_reports "$copy"
}
CHANGED=$(python3 - "$WORK/before-import.copy" "$WORK/after-import.copy" "$P_IMPORT" <<'EOF'
import sys
a, b, n = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), int(sys.argv[3])
page = lambda d, p: d[8192 + (p - 1) * 16384: 8192 + p * 16384]
print(" ".join(str(p) for p in range(2, n + 1) if page(a, p) != page(b, p)))
EOF
)
[[ -n $CHANGED ]] || fail "the import changed no page after page 1"
note "pages the fixture import changed: $CHANGED"
for p in $CHANGED; do
  soft_check record_page_zeroed "$p"
done

header_flipped_in_both_copies() {
  local copy
  copy=$(damaged header flip 85 $((4096 + 85)))
  mkdir "$WORK/header/mnt"
  expect_exit 4 "$COFFER" open "$copy" "$WORK/header/mnt" --passphrase-file "$PWFILE" --idle-seconds 900
  expect_output_contains 'both header copies are damaged'
  ! is_mounted "$WORK/header/mnt" || fail "a coffer with both header copies damaged was mounted"
}
soft_check header_flipped_in_both_copies

soft_check_summary
finish
