#!/usr/bin/env bash
# The record views in a real mount: pupils imported from the demo school's
# coffer-csv export appear as roster.csv, manifest.txt and one
# pupils/<Surname, Forename (key)>/profile.txt each, matching the source,
# and none of them can be changed (writes and new names fail with EACCES;
# in a read-only mount the kernel's EROFS may come first).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
[[ -x $DEMO_SCHOOL ]] || fail "no demo school generator at $DEMO_SCHOOL"
"$DEMO_SCHOOL" --out "$WORK/school" >/dev/null
[[ -s $WORK/school/pupils.csv && -s $WORK/school/contacts.csv ]] || fail "the demo school wrote no export"

# All of group 7A (P00001..P00025, three of them with allergies) and two
# pupils from other groups.
mapfile -t KEYS < <(seq -f 'P%05g' 1 25)
KEYS+=(P00300 P00599)
N=${#KEYS[@]}

C=$WORK/views.coffer
M=$WORK/mnt
make_coffer "$C"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/school" --pupil "${KEYS[@]}" --passphrase-file "$PWFILE"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900

# check_views MNT: every assertion on the views that holds in any mount.
check_views() {
  local mnt=$1
  note "top level of $mnt"
  [[ $(ls "$mnt" | tr '\n' ' ') == 'README.txt files manifest.txt pupils roster.csv ' ]] ||
    fail "the mount lists: $(ls "$mnt" | tr '\n' ' ')"
  [[ -f $mnt/roster.csv && -f $mnt/manifest.txt && -d $mnt/pupils ]] || fail "a view has the wrong type"
  [[ $(stat -c '%a %u' "$mnt/roster.csv") == "$(stat -c '%a %u' "$mnt/README.txt")" ]] ||
    fail "roster.csv has mode/owner $(stat -c '%a %u' "$mnt/roster.csv"), README.txt $(stat -c '%a %u' "$mnt/README.txt")"
  [[ $(stat -c '%a' "$mnt/pupils") == "$(stat -c '%a' "$mnt")" ]] ||
    fail "pupils/ has mode $(stat -c '%a' "$mnt/pupils"), the root $(stat -c '%a' "$mnt")"

  note "roster, folders, profiles and manifest against the source"
  python3 - "$mnt" "$WORK/school/pupils.csv" "${KEYS[@]}" <<'EOF'
import csv, io, os, sys
mnt, source, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
def die(msg):
    raise SystemExit("FAIL: " + msg)
src = {r["PupilKey"]: r for r in csv.DictReader(open(source, newline="", encoding="utf-8"))}

# roster.csv: a header and one row per imported pupil, nobody else.
raw = open(os.path.join(mnt, "roster.csv"), "rb").read()
if os.stat(os.path.join(mnt, "roster.csv")).st_size != len(raw):
    die("roster.csv's size is not the length of what it reads")
rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
if not rows or rows[0][0] != "PupilKey" or "Surname" not in rows[0]:
    die("roster.csv has no header row: %r" % rows[:1])
if len(rows) != len(keys) + 1:
    die("roster.csv has %d rows after its header, expected %d" % (len(rows) - 1, len(keys)))
if sorted(r[0] for r in rows[1:]) != sorted(keys):
    die("roster.csv lists the pupils %s" % sorted(r[0] for r in rows[1:]))
col = rows[0].index("Surname")
for r in rows[1:]:
    if r[col] != src[r[0]]["Surname"]:
        die("roster.csv gives %s the surname %r" % (r[0], r[col]))

# pupils/: exactly one folder per imported pupil, named "Surname, Forename (key)".
def folder(r):
    s = r["PreferredSurname"] or r["Surname"]
    f = r["PreferredForename"] or r["Forename"]
    return "%s, %s (%s)" % (s, f, r["PupilKey"])
listed = sorted(os.listdir(os.path.join(mnt, "pupils")))
want = sorted(folder(src[k]) for k in keys)
if listed != want:
    die("pupils/ lists %d folders %s, expected %s" % (len(listed), listed[:5], want[:5]))
with_allergies = 0
for k in keys:
    d = os.path.join(mnt, "pupils", folder(src[k]))
    if os.listdir(d) != ["profile.txt"]:
        die("%s holds %s" % (d, os.listdir(d)))
    p = os.path.join(d, "profile.txt")
    text = open(p, encoding="utf-8").read()
    if os.stat(p).st_size != len(text.encode("utf-8")):
        die("%s: size %d, reads %d bytes" % (p, os.stat(p).st_size, len(text.encode("utf-8"))))
    if not text.startswith("%s, %s  (%s)" % (src[k]["PreferredSurname"] or src[k]["Surname"],
                                              src[k]["PreferredForename"] or src[k]["Forename"], k)):
        die("%s starts %r" % (p, text[:60]))
    lines = text.splitlines()
    allergies = [a.strip() for a in src[k]["Allergies"].split(";") if a.strip()]
    if allergies:
        with_allergies += 1
        if "!! ALLERGIES" not in lines:
            die("%s has no allergies section, the source lists %s" % (p, allergies))
        for a in allergies:
            if not any(l.startswith("   - ") and a.lower() in l.lower() for l in lines):
                die("%s has no line for the allergy %r" % (p, a))
    elif "ALLERGIES: none recorded" not in lines:
        die("%s does not say no allergies are recorded" % p)
if with_allergies == 0:
    die("no imported pupil has an allergy: the allergy check tested nothing")

# manifest.txt names every imported pupil by key.
manifest = open(os.path.join(mnt, "manifest.txt"), encoding="utf-8").read()
for k in keys:
    if k not in manifest:
        die("manifest.txt does not list %s" % k)
if "P00026" in manifest or "P00026" in raw.decode():
    die("a pupil that was not imported appears")
print("ok: %d pupils, %d with allergies" % (len(keys), with_allergies))
EOF
  # ls -l looks up every folder by name (ls itself is under test here).
  # shellcheck disable=SC2010
  [[ $(ls -l "$mnt/pupils" | grep -c '^d') -eq $N ]] || fail "ls -l pupils does not show $N folders"
}

check_views "$M"

note "the views refuse changes"
if (printf x >>"$M/roster.csv") 2>/dev/null; then fail "appending to roster.csv succeeded"; fi
if touch "$M/pupils/x" 2>/dev/null; then fail "touch pupils/x succeeded"; fi
[[ ! -e $M/pupils/x ]] || fail "pupils/x exists"
PROFILE=$(ls -d "$M"/pupils/*"(P00017)")/profile.txt
py '
m, profile = sys.argv[1], sys.argv[2]
folder = os.path.dirname(profile)
for f in (m + "/roster.csv", m + "/manifest.txt", profile):
    expect_errno(errno.EACCES, os.open, f, os.O_WRONLY)
    expect_errno(errno.EACCES, os.open, f, os.O_RDWR | os.O_APPEND)
for d in (m, m + "/pupils", folder):
    expect_errno(errno.EACCES, os.open, d + "/new", os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.EACCES, os.mkdir, d + "/newdir")
    expect_errno(errno.EACCES, os.symlink, "x", d + "/link")
    expect_errno(errno.EACCES, os.mkfifo, d + "/fifo")
expect_errno(errno.EACCES, os.unlink, m + "/roster.csv")
expect_errno(errno.EACCES, os.unlink, profile)
expect_errno(errno.EACCES, os.rmdir, folder)
expect_errno(errno.EACCES, os.rename, m + "/roster.csv", m + "/files/roster.csv")
expect_errno(errno.EACCES, os.rename, folder, m + "/pupils/renamed")
open(m + "/files/mine", "w").write("mine")
expect_errno(errno.EACCES, os.rename, m + "/files/mine", m + "/pupils/mine")
expect_errno(errno.EACCES, os.link, m + "/files/mine", folder + "/mine")
# chmod, truncate: refused as for README.txt
expect_errno(errno.EPERM, os.chmod, m + "/roster.csv", 0o644)
expect_errno(errno.EPERM, os.truncate, profile, 0)
' "$M" "$PROFILE"
check_views "$M"  # unchanged
lock_coffer "$M"

note "read-only mount"
open_coffer "$C" "$M" --idle-seconds 900 --read-only
check_views "$M"
py '
m = sys.argv[1]
for f in (m + "/roster.csv", m + "/pupils/new"):
    try:
        os.open(f, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EROFS):
            die("opening %s for writing: %s" % (f, e))
    else:
        die("opening %s for writing succeeded" % f)
' "$M"
lock_coffer "$M"
fsck_ok "$C"

# Issue 16 item 1: a OneRoster source carries no health or diet data; the
# mounted sheets say "not provided", never "none recorded".
note "a source without health data: not provided"
OR=$(cd "$(dirname "$0")/../fixtures/import/oneroster-v1p1" && pwd)
C2=$WORK/oneroster.coffer
make_coffer "$C2"
expect_exit 0 "$COFFER" import "$C2" --from "$OR" --pupil stu-1 --pupil stu-2 --allow-missing \
  --passphrase-file "$PWFILE"
open_coffer "$C2" "$M" --idle-seconds 900
py '
import csv, glob
m = sys.argv[1]
sheet = open(glob.glob(m + "/pupils/*(stu-1)/profile.txt")[0], encoding="utf-8").read()
for heading in ("ALLERGIES", "MEDICAL", "DIETARY"):
    want = heading + ": not provided by OneRoster 1.1 \u2014 check with the school office\n"
    if want not in sheet:
        die("profile.txt lacks %r:\n%s" % (want, sheet))
if "none recorded" in sheet or "no conditions or medication recorded" in sheet:
    die("profile.txt says none recorded for a source without the field:\n" + sheet)
rows = list(csv.reader(open(m + "/roster.csv", encoding="utf-8", newline="")))
allergies = rows[0].index("Allergies")
if any(r[allergies] != "NOT PROVIDED" for r in rows[1:]):
    die("roster.csv Allergies: %r" % [r[allergies] for r in rows[1:]])
if "NOT PROVIDED by the source" not in open(m + "/manifest.txt", encoding="utf-8").read():
    die("manifest.txt does not list what the source did not provide")
' "$M"
lock_coffer "$M"
finish
