#!/usr/bin/env bash
# coffer-demo-school: determinism, the exact coffer-csv headers, group
# layout, UPN check letters, parallel lists and the contact rules that other
# tests rely on (every 97th pupil has one contact and no phone number).
# Usage: demo_school_test.sh PATH-TO-coffer-demo-school
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH-TO-coffer-demo-school" >&2
  exit 2
fi
GEN=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-demo-school-test.XXXXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Same seed twice: byte-identical. Another seed: different.
"$GEN" --out "$WORK/a" >"$WORK/a.out"
"$GEN" --out "$WORK/b" --seed 1 >/dev/null
"$GEN" --out "$WORK/c" --seed 2 >/dev/null
cmp "$WORK/a/pupils.csv" "$WORK/b/pupils.csv" || fail "same seed, different pupils.csv"
cmp "$WORK/a/contacts.csv" "$WORK/b/contacts.csv" || fail "same seed, different contacts.csv"
cmp -s "$WORK/a/pupils.csv" "$WORK/c/pupils.csv" && fail "seeds 1 and 2 gave the same pupils.csv"
cmp -s "$WORK/a/contacts.csv" "$WORK/c/contacts.csv" && fail "seeds 1 and 2 gave the same contacts.csv"
grep -q '^Northwind Academy (fictional): 600 pupils, 24 groups, [0-9]* contacts, [0-9]* allergies ([0-9]* pupils) -> ' \
  "$WORK/a.out" || fail "unexpected summary: $(cat "$WORK/a.out")"

# Refuses to overwrite (exit 1, files untouched) unless --force.
cp "$WORK/a/pupils.csv" "$WORK/before.csv"
status=0
"$GEN" --out "$WORK/a" --seed 2 >/dev/null 2>"$WORK/err" || status=$?
[[ $status -eq 1 ]] || fail "overwrite without --force: exit $status, expected 1"
grep -q -- '--force' "$WORK/err" || fail "refusal does not mention --force"
cmp "$WORK/a/pupils.csv" "$WORK/before.csv" || fail "refusal changed pupils.csv"
"$GEN" --out "$WORK/a" --seed 2 --force >/dev/null
cmp "$WORK/a/pupils.csv" "$WORK/c/pupils.csv" || fail "--force did not overwrite"
"$GEN" --out "$WORK/a" --force >/dev/null  # back to seed 1 for the checks below

# Usage errors exit 2.
status=0
"$GEN" --out "$WORK/z" --pupils 0 >/dev/null 2>&1 || status=$?
[[ $status -eq 2 ]] || fail "--pupils 0: exit $status, expected 2"

"$GEN" --out "$WORK/m" --minimal >/dev/null
"$GEN" --out "$WORK/big" --pupils 10000 --seed 7 >/dev/null

python3 - "$WORK" <<'PY'
import csv, datetime, re, sys

work = sys.argv[1]
PUPILS = ("PupilKey,UPN,Surname,Forename,PreferredSurname,PreferredForename,DOB,Sex,NCyearActual,RegGroup,"
          "Classes,MedicalSummary,Allergies,AllergySeverity,Medication,MedicationAdministeredBy,CarePlan,"
          "EmergencyTreatmentConsent,DietaryNeeds,SwimmingAbility,ActivityNotes,SupportNote,PhotoFile")
EXTRA = ",Ethnicity,FSMeligible,SENProvision"
CONTACTS = ("PupilKey,Order,Title,Forename,Surname,Relationship,Responsibility,MobilePhone,HomePhone,"
            "WorkPhone,DoNotRelease")
LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
errors = []

def check(cond, msg):
    if not cond:
        errors.append(msg)

def upn_valid(u):
    # DfE UPN 2.0: sum of position (2..13) x digit, mod 23, picks the letter.
    if not re.fullmatch(r"[A-Z]\d{12}", u):
        return False
    return LETTERS[sum(i * int(u[i - 1]) for i in range(2, 14)) % 23] == u[0]

assert upn_valid("R674123101121") and not upn_valid("A674123101121")  # the checker itself

def load(path, header):
    raw = open(path, "rb").read()
    check(not raw.startswith(b"\xef\xbb\xbf"), f"{path}: has a BOM")
    text = raw.decode("utf-8")
    check(text.split("\n", 1)[0] == header, f"{path}: header is {text.splitlines()[0]!r}")
    check(not any(l.startswith("#") for l in text.split("\n")), f"{path}: has a # line")
    return list(csv.DictReader(open(path, newline="", encoding="utf-8")))

def items(cell):
    return [x for x in cell.split(";") if x]

def check_export(d, n, groups, extra=True):
    pupils = load(f"{d}/pupils.csv", PUPILS + (EXTRA if extra else ""))
    contacts = load(f"{d}/contacts.csv", CONTACTS)
    check(len(pupils) == n, f"{d}: {len(pupils)} pupils, expected {n}")
    keys = [p["PupilKey"] for p in pupils]
    check(len(set(keys)) == n, f"{d}: duplicate PupilKey")
    upns = [p["UPN"] for p in pupils]
    check(len(set(upns)) == n, f"{d}: duplicate UPN")
    bad = [u for u in upns if not upn_valid(u) or u[1:4] != "999"]  # LA 999: fictional
    check(not bad, f"{d}: invalid UPNs {bad[:5]}")
    check(len({p["RegGroup"] for p in pupils}) == groups, f"{d}: expected {groups} RegGroups")
    for p in pupils:
        k, y = p["PupilKey"], int(p["NCyearActual"])
        check(7 <= y <= 12 and p["RegGroup"].startswith(str(y)), f"{k}: year {y} group {p['RegGroup']}")
        born = 2014 - (y - 7)
        dob = datetime.date.fromisoformat(p["DOB"])
        check(datetime.date(born, 9, 1) <= dob <= datetime.date(born + 1, 8, 31), f"{k}: DOB {dob} for Year {y}")
        check(p["Sex"] in ("M", "F"), f"{k}: sex")
        check(len(items(p["AllergySeverity"])) == len(items(p["Allergies"])), f"{k}: allergy lists differ")
        check(len(items(p["MedicationAdministeredBy"])) == len(items(p["Medication"])), f"{k}: medication lists differ")
        check(2 <= len(items(p["Classes"])) <= 3, f"{k}: classes")
        check(p["SwimmingAbility"] in ("non-swimmer", "weak swimmer", "25m", "confident"), f"{k}: swimming")
        check(p["EmergencyTreatmentConsent"] in ("yes", "no"), f"{k}: consent")
        check(p["PhotoFile"] == f"photos/{k}.jpg", f"{k}: photo")
    by_pupil, known = {}, set(keys)
    for c in contacts:
        check(c["PupilKey"] in known, f"contact for unknown pupil {c['PupilKey']}")
        by_pupil.setdefault(c["PupilKey"], []).append(c)
    phone = re.compile(r"(?:07700900\d{3}|01632960\d{3}|02079460\d{3})")
    for i, k in enumerate(keys, 1):
        cs = by_pupil.get(k, [])
        check(1 <= len(cs) <= 3, f"{k}: {len(cs)} contacts")
        check([c["Order"] for c in cs] == [str(j) for j in range(1, len(cs) + 1)], f"{k}: contact order")
        for c in cs:
            for col in ("MobilePhone", "HomePhone", "WorkPhone"):
                num = re.sub(r"\s", "", c[col]).replace("+44", "0")
                check(not num or phone.fullmatch(num), f"{k}: {col} {c[col]!r} outside the drama ranges")
        if i % 97 == 0:
            check(len(cs) == 1 and not any(cs[0][col] for col in ("MobilePhone", "HomePhone", "WorkPhone")),
                  f"{k}: every 97th pupil must have one contact without a phone")
        else:
            check(any(c["MobilePhone"] for c in cs), f"{k}: no contact with a mobile")
    return pupils

pupils = check_export(f"{work}/a", 600, 24)
groups = {p["PupilKey"]: p["RegGroup"] for p in pupils}
check(sorted(set(groups.values())) == sorted(f"{y}{f}" for y in range(7, 13) for f in "ABCD"), "groups 7A..12D")
check(groups["P00001"] == "7A" and groups["P00025"] == "7A" and groups["P00026"] == "7B"
      and groups["P00600"] == "12D", "pupils fill groups in order, 25 each")
check(any(p["Allergies"] for p in pupils) and any(p["Medication"] for p in pupils), "some medical data")
check_export(f"{work}/m", 600, 24, extra=False)
big = check_export(f"{work}/big", 10000, 402)
check({p["RegGroup"] for p in big} >= {"7A", "7Z", "7AA", "7BO", "12BO"}, "forms beyond Z are AA, AB, ... BO")

if errors:
    print("\n".join(errors[:20]), file=sys.stderr)
    sys.exit(1)
PY
echo "demo_school: ok"
