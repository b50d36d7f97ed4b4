#!/usr/bin/env bash
# The audit trail anchored at school (issue 14, item 1). create writes
# NAME.anchor.json, IT files it in its manifest store, and `audit` and
# `checkin` check the sidecar's genesis against it, found by vault id:
#  (a) after `coffer wipe`, another coffer's sidecar copied over, or a trail
#      fabricated from the vault id and the public audit key: REPLACED
#      (exit 4), though a genuine drop copy exists;
#  (b) the teacher (user nobody) with the passphrase rewriting the sidecar
#      and the coffer's audit_sidecar row, a genuine key-added record
#      dropped: REPLACED through audit --manifests and checkin;
#  a sidecar deleted and the coffer opened again (a mount): RESTARTED, the
#  earlier part from the drop copy; a coffer with no anchor, and the frozen
#  schema-5 fixture: "not anchored: internally consistent only", never
#  "verified"; two anchors for one vault id: CONFLICT; a non-failure record
#  written without the key: forged, and still so after the next unlock.
# The attacker is coffer-audit-forger (audit_forger.cpp), built from
# coffer's own library. Mounts only for the drop copies (the daemon makes
# them at open and lock).
set -euo pipefail
FIXTURES=$(cd "$(dirname "$0")/../fixtures" && pwd)
source "$(dirname "$0")/lib.sh"
FORGER=${AUDIT_FORGER:?AUDIT_FORGER must name coffer-audit-forger}
command -v runuser >/dev/null || fail "runuser is missing"

expect_output_lacks() {
  if grep -qiE -- "$1" "$OUT" "$ERR"; then
    echo "FAIL: the output unexpectedly matches /$1/" >&2
    show_last
    exit 1
  fi
}

PA='Audit-Lamp-Quartz-77'
PS='Recovery-Oak-Harbour-31'
AK=$(pwfile ak.pw "$PA")
BOTH=$(pwfile both.pw "$PS" "$PA")
expect_exit 0 "$COFFER" keygen --out "$WORK/audit" --role audit --kdf-cost test --passphrase-file "$(pwfile k1 "$PA")"
expect_exit 0 "$COFFER" keygen --out "$WORK/school" --role recovery --kdf-cost test --passphrase-file "$(pwfile k2 "$PS")"
# IT's manifest store (root's, teachers cannot write it) and the drop
# directory (every laptop writes it).
STORE=$WORK/store
DROP=$WORK/drop
mkdir -m 755 "$STORE"
mkdir -m 1777 "$DROP"
mkdir "$WORK/back"
printf '[audit]\ndrop_dir = "%s"\n[copy]\napproved_destinations = ["%s"]\n' "$DROP" "$WORK/back" >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"
POLICY=(--policy "$WORK/policy.toml")
chmod 755 "$WORK"
L=$WORK/laptop
mkdir -m 1777 "$L"

# mk PATH: a coffer with both school keys; its anchor is filed in the store.
mk() {
  expect_exit 0 "$COFFER" create "$1" --owner 'Ms A. Teacher' --purpose trip --expires "$FUTURE" \
    --audit-key "$WORK/audit.pub" --recovery-key "$WORK/school.pub" --kdf-cost test --passphrase-file "$PWFILE"
  local anchor=${1%.coffer}.anchor.json
  [[ -f $anchor ]] || fail "create with an audit key wrote no anchor $anchor"
  expect_output_contains 'audit anchor'
  mv "$anchor" "$STORE/"
}
vault_id_of() {  # ANCHOR-FILE
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vault_id"])' "$1"
}
# audit_dpo PATH [options]: the DPO reads the sidecar with the audit key.
audit_dpo() {
  local p=$1
  shift
  run_cmd "$COFFER" audit "$p" --audit-key "$WORK/audit.key" --passphrase-file "$AK" "$@"
}
expect_audit() {  # CODE PATH [options]
  local want=$1
  shift
  audit_dpo "$@"
  [[ $STATUS -eq $want ]] || { show_last; fail "expected audit $* to exit $want, got $STATUS"; }
}
open_and_lock() {  # COFFER
  mkdir -p "$WORK/mnt"
  expect_exit 0 "$COFFER" "${POLICY[@]}" open "$1" "$WORK/mnt" --passphrase-file "$PWFILE" --idle-seconds 900
  lock_coffer "$WORK/mnt"
}

note "(a) after a wipe: another coffer's sidecar copied over, a fabricated trail"
mk "$L/trip.coffer"
mk "$L/other.coffer"
open_and_lock "$L/trip.coffer"
VID=$(vault_id_of "$STORE/trip.anchor.json")
[[ -f $DROP/trip.coffer.$VID.audit ]] || fail "no drop copy of trip.coffer"
expect_audit 0 "$L/trip.coffer" --manifests "$STORE" --drop "$DROP" --verify
expect_output_contains 'ANCHORED and verified'
expect_audit 0 "$L/trip.coffer" --manifests "$STORE" --drop "$DROP" --json
grep -q '"authenticated":true,"written_without_key":false,"anchor":"anchored"' "$OUT" || { show_last; fail "anchored JSON lacks authenticated records"; }
expect_exit 0 "$COFFER" wipe "$L/trip.coffer" --yes
cp "$L/other.coffer.audit" "$L/trip.coffer.audit"
expect_audit 4 "$L/trip.coffer" --manifests "$STORE" --drop "$DROP" --verify
expect_output_contains 'REPLACED'
expect_output_lacks 'ANCHORED and verified'
expect_output_contains "trip.coffer.$VID.audit"   # the genuine drop copy is named
expect_audit 4 "$L/trip.coffer" --manifests "$STORE" --drop "$DROP" --json
! grep -q '"authenticated":true' "$OUT" || fail "a replaced trail's JSON says authenticated"
grep -q '"anchor":"replaced"' "$OUT" || { show_last; fail "JSON lacks anchor replaced"; }
# A trail made from nothing but the vault id and school-audit.pub.
rm "$L/trip.coffer.audit"
expect_exit 0 "$FORGER" fabricate "$L/trip.coffer.audit" "$VID" "$WORK/audit.pub"
expect_audit 4 "$L/trip.coffer" --manifests "$STORE" --drop "$DROP" --verify
expect_output_contains 'REPLACED'
expect_output_contains 'differs from the anchor'
# The same through the policy's [audit] manifests key.
printf '[audit]\ndrop_dir = "%s"\nmanifests = "%s"\n' "$DROP" "$STORE" >"$WORK/policy2.toml"
chmod 644 "$WORK/policy2.toml"
run_cmd "$COFFER" --policy "$WORK/policy2.toml" audit "$L/trip.coffer" --audit-key "$WORK/audit.key" --passphrase-file "$AK"
[[ $STATUS -eq 4 ]] || { show_last; fail "the policy's manifest store was not used"; }
expect_output_contains 'REPLACED'
# Without the store the fabricated trail is at best "not anchored", and the
# genuine drop copy of the same vault id shows it is not the only trail.
expect_audit 4 "$L/trip.coffer" --drop "$DROP" --verify
expect_output_contains 'begins another trail'
expect_audit 0 "$L/trip.coffer" --verify --drop "$WORK/back"
expect_output_contains 'not anchored: internally consistent only'
expect_output_lacks 'verified'

note "(b) the teacher rewrites a live coffer's sidecar and audit_sidecar row"
U=$WORK/nobody
mkdir -m 700 "$U" "$U/home" "$U/run"
cp "$PWFILE" "$U/pw"
printf '%s\n%s\n' "$PW1" "$PW2" >"$U/add.pw"
chmod 600 "$U/add.pw" # a passphrase file others can read is refused
chown -R nobody: "$U"
nb() {
  runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$U/home" XDG_RUNTIME_DIR="$U/run" \
    ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS" "$@"
}
C=$U/class.coffer
expect_exit 0 nb "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --audit-key "$WORK/audit.pub" --recovery-key "$WORK/school.pub" --kdf-cost test --passphrase-file "$U/pw"
mv "$U/class.anchor.json" "$STORE/"    # IT files it
expect_exit 0 nb "$COFFER" keys add "$C" --kdf-cost test --passphrase-file "$U/add.pw"
expect_audit 0 "$C" --manifests "$STORE" --verify --json
grep -q '"kind":"key-added"' "$OUT" || { show_last; fail "no key-added record before the rewrite"; }
! nb touch "$STORE/x" 2>/dev/null || fail "the teacher can write the manifest store"
expect_exit 0 nb "$FORGER" rewrite "$C" "$U/pw"
# The hole this closes: alone, the rewritten trail is consistent.
expect_audit 0 "$C" --verify --json
! grep -q '"kind":"key-added"' "$OUT" || fail "the forger did not drop key-added"
! grep -q '"authenticated":true' "$OUT" || fail "an unanchored trail's JSON says authenticated"
expect_audit 4 "$C" --manifests "$STORE" --verify
expect_output_contains 'REPLACED'
# The teacher's own view (passphrase) against the store sees it too.
expect_exit 4 "$COFFER" audit "$C" --manifests "$STORE" --passphrase-file "$PWFILE"
expect_output_contains 'REPLACED'
expect_exit 4 "$COFFER" "${POLICY[@]}" checkin "$C" --recovery-key "$WORK/school.key" --audit-key "$WORK/audit.key" \
  --manifests "$STORE" --export "$WORK/back/b" --passphrase-file "$BOTH"
expect_output_contains 'REPLACED'
grep -q 'AUDIT: REPLACED' "$WORK/back/b/class.checkin.txt" || fail "the check-in report does not say REPLACED"
[[ -f $C ]] || fail "check-in wiped a coffer whose trail was replaced"

note "a legitimate restart: the sidecar deleted, the coffer opened again"
R=$L/rs.coffer
mk "$R"
open_and_lock "$R"
RVID=$(vault_id_of "$STORE/rs.anchor.json")
first_copy=$DROP/rs.coffer.$RVID.audit
[[ -f $first_copy ]] || fail "no drop copy of rs.coffer"
before=$(stat -c %s "$first_copy")
rm "$R.audit"
open_and_lock "$R"
[[ -f $R.audit ]] || fail "the sidecar did not restart"
[[ $(stat -c %s "$first_copy") -eq $before ]] || fail "the restarted trail overwrote the earlier drop copy"
expect_audit 0 "$R" --manifests "$STORE" --drop "$DROP" --verify
expect_output_contains 'RESTARTED and verified'
expect_output_contains "earlier part, from the drop copy $first_copy"
expect_audit 0 "$R" --manifests "$STORE" --drop "$DROP" --json
grep -q '"anchor":"restarted","trail":"earlier"' "$OUT" || { show_last; fail "JSON lacks the earlier part"; }
grep -q '"kind":"create".*"trail":"earlier"' "$OUT" || { show_last; fail "the earlier part lacks the create record"; }
# Without the drop copy the earlier part is not available, but the link
# still leads to the anchor.
expect_audit 0 "$R" --manifests "$STORE" --drop "$WORK/back" --verify
expect_output_contains 'RESTARTED'
expect_output_contains 'no drop copy'
# A fabricated trail with a copied restart record does not link: the link
# needs the old chain key, which only the coffer held.
expect_exit 0 "$COFFER" "${POLICY[@]}" checkin "$R" --recovery-key "$WORK/school.key" --audit-key "$WORK/audit.key" \
  --manifests "$STORE" --export "$WORK/back/r" --passphrase-file "$BOTH"
grep -q 'AUDIT: RESTARTED and verified' "$WORK/back/r/rs.checkin.txt" || { cat "$WORK/back/r/rs.checkin.txt"; fail "check-in of a restarted trail"; }

note "not anchored: no anchor in the store, and the frozen schema-5 fixture"
N=$L/noanchor.coffer
mk "$N"
rm "$STORE/noanchor.anchor.json"
expect_audit 0 "$N" --manifests "$STORE" --verify
expect_output_contains 'not anchored: internally consistent only'
expect_output_lacks 'verified'
expect_audit 0 "$N" --manifests "$STORE" --json
! grep -q '"authenticated":true' "$OUT" || fail "an unanchored trail's JSON says authenticated"
grep -q '"anchor":"not-anchored"' "$OUT" || fail "JSON lacks anchor not-anchored"
# Check-in of an unanchored coffer goes ahead, and the report says what it is.
expect_exit 0 "$COFFER" "${POLICY[@]}" checkin "$N" --recovery-key "$WORK/school.key" --audit-key "$WORK/audit.key" \
  --manifests "$STORE" --export "$WORK/back/n" --passphrase-file "$BOTH"
grep -q 'AUDIT: not anchored: internally consistent only' "$WORK/back/n/noanchor.checkin.txt" ||
  { cat "$WORK/back/n/noanchor.checkin.txt"; fail "the check-in report of an unanchored coffer"; }
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["audit"]; assert a["anchor"] == "not-anchored" and not a["verified"] and a["consistent"], a' \
  "$WORK/back/n/noanchor.checkin.json" || fail "the check-in JSON of an unanchored coffer"
cp "$FIXTURES/format-v1-schema5.coffer" "$FIXTURES/format-v1-schema5.coffer.audit" "$L/"
run_cmd "$COFFER" audit "$L/format-v1-schema5.coffer" --audit-key "$FIXTURES/format-v1-audit.key" \
  --passphrase-file "$(pwfile fa.pw 'Fixture-Audit-Willow-5')" --manifests "$STORE" --verify
[[ $STATUS -eq 0 ]] || { show_last; fail "the schema-5 fixture's trail"; }
expect_output_contains 'not anchored: internally consistent only'
expect_output_lacks 'verified'

note "two anchors for one vault id"
F=$L/twice.coffer
mk "$F"
mkdir "$STORE/term2"
cp "$STORE/twice.anchor.json" "$STORE/term2/"
expect_audit 4 "$F" --manifests "$STORE" --verify
expect_output_contains 'CONFLICT'
expect_exit 4 "$COFFER" "${POLICY[@]}" checkin "$F" --recovery-key "$WORK/school.key" --audit-key "$WORK/audit.key" \
  --manifests "$STORE" --export "$WORK/back/f" --passphrase-file "$BOTH"
expect_output_contains 'CONFLICT'

note "records written without the key"
G=$L/forged.coffer
mk "$G"
expect_exit 3 "$COFFER" fsck "$G" --passphrase-file "$(pwfile bad.pw "$PW2")"   # a genuine failed unlock
expect_exit 0 "$FORGER" unauthenticated "$G.audit" "$WORK/audit.pub" open-file
expect_audit 4 "$G" --manifests "$STORE" --verify
expect_output_contains 'written without the coffer key, but of kind open-file'
expect_exit 0 "$COFFER" fsck "$G" --passphrase-file "$PWFILE"                     # the next unlock covers both
expect_audit 4 "$G" --manifests "$STORE" --verify
expect_output_contains 'written without the coffer key, but of kind open-file'
expect_audit 4 "$G" --manifests "$STORE" --verify
grep -qE 'WRITTEN WITHOUT THE KEY unlock-failed' "$OUT" || { show_last; fail "the failed unlock lost its mark"; }
grep -qE 'WRITTEN WITHOUT THE KEY open-file' "$OUT" || { show_last; fail "the forged record lost its mark"; }
expect_audit 4 "$G" --manifests "$STORE" --verify --json
grep -q '"kind":"unlock-failed".*"authenticated":false,"written_without_key":true' "$OUT" ||
  { show_last; fail "the failed unlock reads as authenticated after the next unlock"; }
note "provision puts the anchor into the manifest IT keeps"
if [[ -x ${DEMO_SCHOOL:-} ]]; then
  "$DEMO_SCHOOL" --out "$WORK/mis" >/dev/null
  cat >"$WORK/plan.toml" <<TOML
[defaults]
source = "$WORK/mis"
recovery_key = "$WORK/school.pub"
audit_key = "$WORK/audit.pub"
[[coffer]]
name = "prov"
owner = "Jo Smith"
purpose = "trip"
trip_end = $FUTURE
groups = ["7B"]
TOML
  expect_exit 0 "$COFFER" provision --plan "$WORK/plan.toml" --out "$WORK/prov" --kdf-cost test
  grep -q '"audit_genesis"' "$WORK/prov/prov.manifest.json" || fail "provision's manifest has no audit anchor"
  mkdir "$STORE/provisioned"
  cp "$WORK/prov/prov.manifest.json" "$STORE/provisioned/"
  expect_audit 0 "$WORK/prov/prov.coffer" --manifests "$STORE" --verify
  expect_output_contains 'ANCHORED and verified'
else
  note "DEMO_SCHOOL not set: provision part skipped"
fi
finish
