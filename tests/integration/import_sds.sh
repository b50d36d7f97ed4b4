#!/usr/bin/env bash
# An SDS v2.1 set imported through the real binary (auto-detected) into a
# trip coffer, read back through a real mount (issue 16): roster.csv lists
# exactly the selected students (never the teacher or a parent), each
# pupil's profile.txt names its guardians as emergency contacts with their
# phones, and no value of userFlags.csv (iep, freeLunch, 504, ell), of
# demographics.csv's birth place and race/ethnicity columns, or of users.csv's
# password and email columns is anywhere in the mount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

FIX=$(cd "$(dirname "$0")/../fixtures/import" && pwd)
cp -r "$FIX/sds-v2.1" "$WORK/sds"
C=$WORK/trip.coffer
M=$WORK/mnt
make_coffer "$C"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/sds" --group '7A Geography' --passphrase-file "$PWFILE"
expect_output_contains "imported 3 pupils"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900

note "roster, profiles and the whole mount against the SDS set"
python3 - "$M" <<'PY'
import csv, io, os, sys
mnt = sys.argv[1]
def die(msg):
    raise SystemExit("FAIL: " + msg)
rows = list(csv.DictReader(io.StringIO(open(os.path.join(mnt, "roster.csv"), encoding="utf-8").read())))
keys = sorted(r["PupilKey"] for r in rows)
if keys != ["stu-001", "stu-002", "stu-003"]:
    die("roster.csv lists %s" % keys)
for r in rows:
    if r["PupilKey"] == "stu-001" and (r["Surname"], r["Forename"]) != ("Ashdown", "Amelia"):
        die("stu-001 is %s, %s" % (r["Surname"], r["Forename"]))
folders = os.listdir(os.path.join(mnt, "pupils"))
if len(folders) != 3 or any(("Teacher" in f or "tch-" in f or "par-" in f) for f in folders):
    die("pupils/ holds %s" % folders)
def profile(key):
    [f] = [f for f in folders if f.endswith("(%s)" % key)]
    return open(os.path.join(mnt, "pupils", f, "profile.txt"), encoding="utf-8").read()
expect = {
    "stu-001": ["Gina Ashdown (Guardian)", "01632 960111", "mobile 07700 900111"],
    "stu-002": ["Huw Brown (Relative)", "mobile 07700 900222", "Gina Ashdown (Parent)"],
    "stu-003": ["Iris Cole (Parent)", "mobile 07700 900333"],
}
for key, needles in expect.items():
    text = profile(key)
    if "EMERGENCY CONTACTS (the source gave no order)" not in text:
        die("%s's profile has no unranked contacts section:\n%s" % (key, text))
    for n in needles:
        if n not in text:
            die("%s's profile lacks %r:\n%s" % (key, n, text))
    if "Tess Teacher" in text:
        die("%s's profile names the teacher (an aide link is not an emergency contact)" % key)
    # SDS carries no health or diet: a trip leader must never read "none".
    for line in ("ALLERGIES: not provided by SDS v2.1", "MEDICAL: not provided by SDS v2.1"):
        if line not in text:
            die("%s's profile lacks %r:\n%s" % (key, line, text))
    if "none recorded" in text or "no conditions" in text:
        die("%s's profile says none for what SDS never said:\n%s" % (key, text))
# No flag, demographic, credential or email value anywhere in the mount.
leaks = ["iep", "freeLunch", "LEAK", "Leakcity", "Synthetic-Pass", "@synthetic", "@example"]
for root, dirs, files in os.walk(mnt):
    if os.path.relpath(root, mnt).startswith("files"):
        continue
    for f in files:
        text = open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
        for v in leaks:
            if v in text:
                die("%r is in %s" % (v, os.path.join(root, f)))
        if f in ("roster.csv", "profile.txt") and "504" in text:
            die("a 504 flag is in %s" % os.path.join(root, f))
print("ok: 3 pupils, guardians as contacts, no flag values")
PY
lock_coffer "$M"
fsck_ok "$C"
finish
