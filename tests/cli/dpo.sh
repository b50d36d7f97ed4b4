#!/usr/bin/env bash
# coffer dpo lost|find|breach and coffer sweep --manifests, over a manifest
# store made by a real `provision`, a drop copy of a real trail (the
# sidecar as the mount copies it), a real check-in of a held coffer, and a
# reported loss. Needs DEMO_SCHOOL; root for the policy file (check-in's
# approved destination, school_copies_days).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WORK"
[[ -x ${DEMO_SCHOOL:-} ]] || fail "DEMO_SCHOOL is not set to the generator"
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs a root-owned policy file" >&2; exit 77; }
command -v faketime >/dev/null || fail "faketime is not installed"
command -v jq >/dev/null || fail "jq is not installed"
"$DEMO_SCHOOL" --out mis >/dev/null
PA='Audit-Lamp-Quartz-77'
expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test --passphrase-file "$(pwfile k1 "$PW_SCHOOL")"
expect_exit 0 "$COFFER" keygen --out audit --role audit --kdf-cost test --passphrase-file "$(pwfile k2 "$PA")"
AK=$(pwfile ak "$PA")
BOTH=$(pwfile both "$PW_SCHOOL" "$PA")
mkdir -p store laptop drop returns
printf '[retention]\nschool_copies_days = 30\n[copy]\napproved_destinations = ["%s"]\n' "$WORK/returns" >policy.toml
chmod 644 policy.toml
POLICY=(--policy "$WORK/policy.toml")
cat >plan.toml <<TOML
school = "Northwind Academy (fictional)"
[defaults]
source = "mis"
recovery_key = "school.pub"
audit_key = "audit.pub"

[[coffer]]
name = "trip-paris"
owner = "Jo Smith"
purpose = "trip"
trip_end = $FUTURE
groups = ["7B"]

[[coffer]]
name = "marking-7a"
owner = "A Khan"
purpose = "marking"
groups = ["7A"]
TOML
expect_exit 0 "$COFFER" provision --plan plan.toml --out store --kdf-cost test
# The coffers (and their sidecars) go to the laptops; the manifests stay.
mv store/*.coffer store/*.coffer.audit laptop/
otp() { sed -n 's/^One-time passphrase: *//p' "store/$1.passphrase.txt"; }
VID=$(jq -r .vault_id store/trip-paris.manifest.json)
[[ $VID =~ ^[0-9a-f]{32}$ ]] || fail "no vault id in the manifest"

# The teacher opens it (replacing the one-time passphrase); the laptop
# reaches the share: the drop copy is the sidecar as it stands.
expect_exit 0 "$COFFER" passwd laptop/trip-paris.coffer --passphrase-file "$(pwfile p1 "$(otp trip-paris)" "$PW2")"
drop_copy() { cp laptop/trip-paris.coffer.audit "drop/trip-paris.coffer.$VID.audit"; }
drop_copy

# --- dpo lost: refuses an unknown coffer, records a known one.
expect_exit 2 "$COFFER" dpo lost trip-rome --manifests store
expect_output_contains 'no coffer "trip-rome" in the manifest store'
[[ ! -e store/coffer-losses.jsonl ]] || fail "a refused loss was recorded"
REPORTED=$(date -d '-2 hours' '+%F %H:%M')
expect_exit 0 "$COFFER" dpo lost trip-paris --manifests store --by 'Jo Smith' --when "$REPORTED"
expect_output_contains 'reported lost'
expect_output_contains 'within 72 hours'
[[ $(wc -l <store/coffer-losses.jsonl) -eq 1 ]] || fail "not one loss record"
jq -e --arg v "$VID" 'select(.vault_id == $v and .reported_by == "Jo Smith")' store/coffer-losses.jsonl >/dev/null ||
  fail "the loss record lacks the vault id or the reporter"
expect_exit 2 "$COFFER" dpo lost trip-paris --manifests store --when 'tomorrow at noon'
[[ $(wc -l <store/coffer-losses.jsonl) -eq 1 ]] || fail "a refused --when was recorded"

# The thief guesses twice; the share is reachable once more.
expect_exit 3 "$COFFER" fsck laptop/trip-paris.coffer --passphrase-file "$(pwfile bad1 "$PW3")"
expect_exit 3 "$COFFER" fsck laptop/trip-paris.coffer --passphrase-file "$(pwfile bad2 "$PW4")"
drop_copy

# --- dpo breach: the facts, text and JSON.
expect_exit 0 "$COFFER" dpo breach trip-paris --manifests store --drop drop --audit-key audit.key --passphrase-file "$AK"
expect_output_contains 'BREACH FACTS for trip-paris.coffer'
expect_output_contains '25 pupil(s)'
expect_output_contains 'Jo Smith'
expect_output_contains 'AES-256'
expect_output_contains 'SPECIAL CATEGORY'
expect_output_contains '2 since the last contact with the key, 2 since the loss was reported'
expect_output_contains 'ANCHORED and verified'
expect_output_contains 'LOCKED'
expect_output_contains 'h '
expect_output_lacks 'NOT RECORDED'
expect_exit 0 "$COFFER" dpo breach "$VID" --manifests store --drop drop --audit-key audit.key --passphrase-file "$AK" --json
jq -e '.pupils == 25 and .state == "lost" and .trail.failed_unlocks_since_loss == 2 and .trail.anchored_and_verified
       and .trail.locked_at_last_contact and .encrypted.encrypted and (.data.special_category_groups | length > 0)
       and .trail.last_used.kind == "unlock" and .loss.reported_by == "Jo Smith"' "$OUT" >/dev/null ||
  { show_last; fail "breach --json lacks a fact"; }
deadline=$(jq -r .ico_deadline_unix "$OUT")
reported=$(jq -r .loss.reported_at_unix "$OUT")
[[ $((deadline - reported)) -eq $((72 * 3600)) ]] || fail "the ICO deadline is not 72 hours after the report"
[[ $reported -eq $(date -d "$REPORTED" +%s) ]] || fail "the reported time is not --when"
# A trail replaced on the share is not called anchored.
cp "drop/trip-paris.coffer.$VID.audit" good.audit
expect_exit 0 "$COFFER" create other.coffer --owner X --purpose trip --expires "$FUTURE" --audit-key audit.pub \
  --kdf-cost test --passphrase-file "$(pwfile c.pw "$PW1")"
cp other.coffer.audit "drop/trip-paris.coffer.$VID.audit"
run_cmd "$COFFER" dpo breach trip-paris --manifests store --drop drop --audit-key audit.key --passphrase-file "$AK" --json
jq -e '.trail.anchored_and_verified | not' "$OUT" >/dev/null || { show_last; fail "another coffer's trail counted as anchored"; }
cp good.audit "drop/trip-paris.coffer.$VID.audit"
# Without the audit key: the store's facts, and how to get the rest.
expect_exit 0 "$COFFER" dpo breach trip-paris.coffer --manifests store
expect_output_contains 'give --audit-key'
expect_exit 2 "$COFFER" dpo breach trip-rome --manifests store

# --- A held coffer comes back and is checked in into the store.
expect_exit 0 "$COFFER" passwd laptop/marking-7a.coffer --passphrase-file "$(pwfile p2 "$(otp marking-7a)" "$PW3")"
expect_exit 0 "$COFFER" hold laptop/marking-7a.coffer --reason 'complaint' --passphrase-file "$(pwfile p3 "$PW3")"
expect_exit 0 "$COFFER" "${POLICY[@]}" checkin laptop/marking-7a.coffer --recovery-key school.key \
  --audit-key audit.key --manifests store --export returns/r1 --passphrase-file "$BOTH"
mv returns/r1/marking-7a.checkin.* store/

# --- dpo find: every coffer that held the pupil, and its state.
P7B=$(jq -r '.pupils[0] | (.key // .id)' store/trip-paris.manifest.json)
P7A=$(jq -r '.pupils[0] | (.key // .id)' store/marking-7a.manifest.json)
expect_exit 0 "$COFFER" dpo find "$P7B" --manifests store
expect_output_contains '1 coffer(s)'
expect_output_contains 'trip-paris.coffer'
expect_output_contains 'state: lost'
expect_output_lacks 'marking-7a'
expect_exit 0 "$COFFER" dpo find "$P7A" --manifests store --json
jq -e '.coffers | length == 1 and .[0].coffer == "marking-7a.coffer" and .[0].state == "returned"
       and .[0].owner == "A Khan" and (.[0].field_groups | length > 0)
       and (.[0].special_category | type == "array")' "$OUT" >/dev/null ||
  { show_last; fail "find --json: the returned coffer"; }
expect_exit 0 "$COFFER" dpo find P99999 --manifests store
expect_output_contains '0 coffer(s)'
# Expired, once its expiry has passed (the marking coffer is returned whatever the date).
expect_exit 0 at 400 "$COFFER" dpo find "$P7A" --manifests store
expect_output_contains 'state: returned'

# --- sweep --manifests: nothing before the school's 30 days are over.
expect_exit 0 "$COFFER" "${POLICY[@]}" sweep --manifests store
expect_output_contains 'removed the school'"'"'s copies of 0 coffer(s)'
[[ -f store/trip-paris.manifest.json ]] || fail "swept before its time"
# Without a policy key it refuses.
expect_exit 6 "$COFFER" sweep --manifests store
expect_output_contains 'school_copies_days'
# After 30 days from the expiry (and the loss): the trip's copies go; the
# held coffer's stay; the anchor stays while its drop copy does.
expect_exit 0 at 45 "$COFFER" "${POLICY[@]}" sweep --manifests store --dry-run --json
jq -e '.school_copies.coffers | map(select(.coffer == "trip-paris.coffer"))[0].action == "would-remove"' "$OUT" >/dev/null ||
  { show_last; fail "dry run"; }
[[ -f store/trip-paris.manifest.json && $(wc -l <store/coffer-sweep-log.jsonl) -eq 1 ]] || fail "a dry run removed or logged"
expect_exit 0 at 45 "$COFFER" "${POLICY[@]}" sweep --manifests store --json
jq -e '.school_copies.coffers | map(select(.coffer == "trip-paris.coffer"))[0] | .action == "removed"
       and (.anchor_kept | endswith("trip-paris.anchor.json"))' "$OUT" >/dev/null || { show_last; fail "sweep --json"; }
jq -e '.school_copies.coffers | map(select(.coffer == "marking-7a.coffer"))[0].action == "held"' "$OUT" >/dev/null ||
  { show_last; fail "the held coffer was not kept"; }
for f in trip-paris.manifest.json trip-paris.manifest.txt; do [[ ! -e store/$f ]] || fail "store/$f not removed"; done
[[ -f store/marking-7a.manifest.json && -f store/marking-7a.checkin.json ]] || fail "the held coffer's copies went"
[[ -f store/trip-paris.anchor.json ]] || fail "no anchor kept"
! grep -q "$P7B" store/trip-paris.anchor.json || fail "the kept anchor names a pupil"
[[ $(wc -l <store/coffer-sweep-log.jsonl) -eq 2 ]] || fail "the sweep log does not hold both runs"
! grep -q "$P7B" store/coffer-sweep-log.jsonl || fail "the sweep log names a pupil"
# The drop copy still verifies against the kept anchor.
expect_exit 0 "$COFFER" audit "drop/trip-paris.coffer.$VID.audit" --audit-key audit.key --passphrase-file "$AK" \
  --manifests store --verify
expect_output_contains 'ANCHORED and verified'
# The trip is gone from the store's answers.
expect_exit 0 "$COFFER" dpo find "$P7B" --manifests store
expect_output_contains '0 coffer(s)'

# --- plain sweep --json.
mkdir old
expect_exit 0 "$COFFER" create old/old.coffer --owner X --purpose trip --expires "$FUTURE" --kdf-cost test \
  --passphrase-file "$(pwfile c2.pw "$PW1")"
expect_exit 0 at 30 "$COFFER" sweep old --json
jq -e '.wiped == 1 and (.coffers | map(select(.path | endswith("old.coffer")))[0].action == "wiped")' "$OUT" >/dev/null ||
  { show_last; fail "sweep --json"; }
[[ ! -e old/old.coffer ]] || fail "not wiped"
echo "dpo: ok"
