#!/usr/bin/env bash
# What the source provided, and warnings that reach people (issue 16 items
# 1, 7, 10): a source without health data gives one warning naming the
# fields, and the manifest says "not provided" (never "none"); per-pupil
# special-category field names (never values) and counts in the manifests;
# import warnings in the manifest and on the handover sheet; --json for
# import, provision and keys list; provision --kdf-cost test says INSECURE;
# pupil caps per profile (built in, policy override, warning near the cap).
# Needs DEMO_SCHOOL (the coffer-demo-school binary) in the environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures/import" && pwd)
cd "$WORK"
[[ -x ${DEMO_SCHOOL:-} ]] || fail "DEMO_SCHOOL is not set to the generator"
"$DEMO_SCHOOL" --out mis >/dev/null
pw=$(pwfile pw "$PW1")

# py EXPR FILE: evaluates a Python expression over the JSON in FILE (j);
# prints the result.
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(($1))" "$2"; }

# --- Item 1: OneRoster carries no health or diet data. One warning per
# import names what is missing; --json lists it; nothing says "none".
make_coffer trip.coffer "$PW1"
expect_exit 0 "$COFFER" import trip.coffer --from "$FIX/oneroster-v1p1" --pupil stu-1 --pupil stu-2 \
  --allow-missing --json --passphrase-file "$pw"
cp "$OUT" import.json
n=$(grep -c 'does not provide' "$ERR" || true)
[[ $n == 1 ]] || fail "expected one not-provided warning, got $n"
expect_output_contains "OneRoster 1.1 does not provide preferred names, photo, allergies, medical conditions, medication, care plan"
[[ $(py '[f for f in j["not_provided"] if f in ("allergies", "medical conditions", "dietary needs")]' import.json) == \
   "['allergies', 'medical conditions', 'dietary needs']" ]] ||
  fail "import --json not_provided: $(py 'j["not_provided"]' import.json)"
[[ $(py 'j["imported"], j["in_coffer"], j["selected"], j["source_pupils"]' import.json) == "(2, 2, 2, 2)" ]] ||
  fail "import --json counts"
[[ $(py 'sorted(j["pupil_keys"])' import.json) == "['stu-1', 'stu-2']" ]] || fail "import --json keys"
[[ $(py 'j["dry_run"]' import.json) == False ]] || fail "import --json dry_run"
# Keys only: no pupil's name in import's JSON.
for name in Alex Tester Jordan Sample; do ! grep -q "$name" import.json || fail "import --json names $name"; done
# The unreachable-pupil warning is there too (item 7).
[[ $(py 'any("no emergency contact with a phone" in w for w in j["warnings"])' import.json) == True ]] ||
  fail "import --json lacks the no-phone warning"

# A dry run's JSON: nothing imported.
expect_exit 0 "$COFFER" import trip.coffer --from "$FIX/oneroster-v1p1" --pupil stu-1 --dry-run --json
cp "$OUT" dry.json
[[ $(py 'j["dry_run"], j["imported"]' dry.json) == "(True, 0)" ]] || fail "dry-run --json"

# --- Items 1, 7, 10 through provision: a plan with a OneRoster coffer and a
# coffer-csv one (every column there: "none recorded" is honest).
kp=$(pwfile kp "$PW_SCHOOL" "$PW_SCHOOL")
expect_exit 0 "$COFFER" keygen --out school --passphrase-file "$kp" --kdf-cost test
cat > plan.toml <<TOML
school = "Northwind Academy (fictional)"
handover = "sheet"
[defaults]
recovery_key = "school.pub"

[[coffer]]
name = "or-trip"
owner = "Jo Smith"
purpose = "trip"
trip_end = $FUTURE
source = "$FIX/oneroster-v1p1"
pupils = ["stu-1", "stu-2"]
allow_missing = true

[[coffer]]
name = "csv-trip"
owner = "A Khan"
purpose = "trip"
trip_end = $FUTURE
source = "mis"
groups = ["7B"]
TOML
expect_exit 0 "$COFFER" provision --plan plan.toml --out out --kdf-cost test --json
cp "$OUT" provision.json
# Item 7: the same INSECURE warning create gives (on stderr with --json,
# where the progress goes), and the JSON says so.
expect_output_contains "warning: INSECURE test key-derivation cost; never use it for real data"
[[ $(py 'j["insecure_kdf_cost"], j["made"], j["failed"], j["skipped"]' provision.json) == "(True, 2, 0, 0)" ]] ||
  fail "provision --json totals"
[[ $(py '[(c["name"], c["status"]) for c in j["coffers"]]' provision.json) == \
   "[('or-trip', 'made'), ('csv-trip', 'made')]" ]] || fail "provision --json coffers"
[[ $(py '"allergies" in j["coffers"][0]["not_provided"], j["coffers"][1]["not_provided"]' provision.json) == "(True, [])" ]] ||
  fail "provision --json not_provided"
[[ $(py 'j["coffers"][1]["selected"]' provision.json) == 25 ]] || fail "provision --json pupils"
# Without --json stdout had no JSON; with it stdout is exactly one object.
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' provision.json || fail "provision --json is not JSON"

# Item 1 + 7: the manifest lists what was not provided and the warnings.
m=out/or-trip.manifest.json
[[ $(py '"allergies" in j["not_provided"] and "dietary needs" in j["not_provided"]' $m) == True ]] ||
  fail "manifest.json not_provided: $(py 'j["not_provided"]' $m)"
[[ $(py 'any("does not provide" in w for w in j["warnings"])' $m) == True ]] || fail "manifest.json warnings"
[[ $(py 'any("no emergency contact with a phone" in w for w in j["warnings"])' $m) == True ]] ||
  fail "manifest.json lacks the no-phone warning"
grep -q 'NOT PROVIDED by the source.*allergies' out/or-trip.manifest.txt || fail "manifest.txt not provided"
grep -q 'no emergency contact with a phone' out/or-trip.manifest.txt || fail "manifest.txt warnings"
# The coffer-csv source has every column: nothing "not provided".
[[ $(py 'j["not_provided"], j["not_known"]' out/csv-trip.manifest.json) == "([], [])" ]] ||
  fail "csv-trip not_provided: $(py 'j["not_provided"]' out/csv-trip.manifest.json)"

# Item 7: the warnings are on the handover sheet, under the coffer's entry.
sheet=out/handover-sheets.txt
grep -q 'Before you rely on it, check with the school office' "$sheet" || fail "no warnings on the handover sheet"
awk '/^For: Jo Smith/,/\f/' "$sheet" | grep -q 'does not provide.*allergies' ||
  fail "or-trip's handover entry lacks the not-provided warning"
awk '/^For: Jo Smith/,/\f/' "$sheet" | grep -q 'no emergency contact with a phone' ||
  fail "or-trip's handover entry lacks the no-phone warning"

# Item 10: per pupil, the special-category field names, never values; the
# counts in the text agree with the JSON.
c=out/csv-trip.manifest.json
[[ $(py 'all(isinstance(p["special_category"], list) and p["key"] == p["id"] for p in j["pupils"])' $c) == True ]] ||
  fail "manifest pupils lack key/special_category"
[[ $(py 'all(p["special_category"] == [] for p in j["pupils"])' out/or-trip.manifest.json) == True ]] ||
  fail "OneRoster pupils have special-category fields"
with=$(py 'sum(1 for p in j["pupils"] if "allergies" in p["special_category"])' $c)
[[ $with -gt 0 && $with -lt 25 ]] || fail "expected some 7B pupils with allergies, got $with"
[[ $(py 'j["special_category_counts"]["allergies"]' $c) == "$with" ]] || fail "special_category_counts"
grep -q "allergies: $with of 25 pupils" out/csv-trip.manifest.txt || fail "manifest.txt lacks 'allergies: $with of 25 pupils'"
labels=$(py 'sorted({l for p in j["pupils"] for l in p["special_category"]})' $c)
[[ $labels == *"'allergies'"* && $labels == *"'medical conditions'"* ]] || fail "special_category labels: $labels"
for word in anaphylaxis Asthma inhaler vegetarian halal peanut; do
  ! grep -qi "$word" out/*.manifest.* || fail "a manifest carries a special-category value ($word)"
done

# --- keys list --json.
expect_exit 0 "$COFFER" keys list trip.coffer --json
cp "$OUT" keys.json
[[ $(py '[s["state"] for s in j["slots"]].count("passphrase"), len(j["slots"]), j["recovery"]' keys.json) == "(1, 8, False)" ]] ||
  fail "keys list --json"
[[ $(py 'j["slots"][0]["kdf"]["insecure"], j["slots"][0]["kdf"]["algorithm"]' keys.json) == "(True, 'argon2id')" ]] ||
  fail "keys list --json kdf"

# --- Pupil caps. Built in: a home-working coffer (no selection needed)
# refuses a whole school of 600, naming the cap and how to raise it.
f=$(pwfile create-pw "$PW1")
expect_exit 0 "$COFFER" create hw.coffer --owner 'Ms A. Teacher' --purpose home-working --kdf-cost test \
  --passphrase-file "$f"
before=$(sha256sum hw.coffer)
expect_exit 6 "$COFFER" import hw.coffer --from mis --passphrase-file "$pw"
expect_output_contains "600 pupils, more than the home-working profile's cap of 240 pupils (built in)"
expect_output_contains "[pupil_caps] home-working = N"
[[ $(sha256sum hw.coffer) == "$before" ]] || fail "a refused import changed the coffer"

# A policy override raises (or lowers) it; 90 % of the cap or more warns.
printf '[pupil_caps]\ntrip = 30\n' >policy.toml
chmod 644 policy.toml
expect_exit 0 "$COFFER" --policy policy.toml import trip.coffer --from mis --group 7A --allow-missing --passphrase-file "$pw"
expect_output_contains "this coffer holds 27 pupils, close to the trip profile's cap of 30 pupils (the school policy's [pupil_caps])"
# Existing pupils count: 27 inside plus 25 of 7B is over 30.
expect_exit 6 "$COFFER" --policy policy.toml import trip.coffer --from mis --group 7B --allow-missing --passphrase-file "$pw"
expect_output_contains "would hold 52 pupils, more than the trip profile's cap of 30"
# Re-importing pupils already inside adds none.
expect_exit 0 "$COFFER" --policy policy.toml import trip.coffer --from mis --group 7A --allow-missing --passphrase-file "$pw"
# Provision refuses that coffer only, naming the cap.
printf '[pupil_caps]\ntrip = 20\n' >policy.toml
expect_exit 6 "$COFFER" --policy policy.toml provision --plan plan.toml --out out2 --kdf-cost test
expect_output_contains "csv-trip FAILED"
expect_output_contains "cap of 20 pupils"
[[ ! -e out2/csv-trip.coffer ]] || fail "a coffer over its cap was made"
[[ -e out2/or-trip.coffer ]] || fail "the coffer under its cap was not made"
echo "source_fields: ok"
