#!/usr/bin/env bash
# `coffer create --purpose` follows the purpose profiles: the default expiry
# when none is given (trips count from --trip-end), a hard maximum that is
# refused past, and a school profiles file that may narrow or add profiles
# only under the root-owned trust rule. The profile is stored in the coffer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WORK"
pw=$(pwfile create.pw "$PW1")
create() { run_cmd "$COFFER" create "$@" --owner 'Ms A. Teacher' --kdf-cost test --passphrase-file "$pw"; }
in_days() { date -d "$1" +%F; }

# A trip ending in 10 days: default expiry = trip end + 7 days.
trip_end=$(in_days '+10 days')
create t1.coffer --purpose trip --trip-end "$trip_end"
[[ $STATUS == 0 ]] || fail "create with --trip-end failed: $(cat "$ERR")"
run_cmd "$COFFER" info t1.coffer --json
expect_json expires_date "$(date -d "$trip_end +7 days" +%F)"

# Past the trip profile's maximum (trip end + 90 days): refused, no file.
create t2.coffer --purpose trip --trip-end "$trip_end" --expires "$(date -d "$trip_end +91 days" +%F)"
[[ $STATUS == 6 ]] || fail "an expiry past the maximum gave exit $STATUS, not 6"
grep -q "allows an expiry up to $(date -d "$trip_end +90 days" +%F)" "$ERR" || fail "the refusal does not name the maximum: $(cat "$ERR")"
[[ ! -e t2.coffer ]] || fail "a refused create left a file"
create t3.coffer --purpose trip --trip-end "$trip_end" --expires "$(date -d "$trip_end +90 days" +%F)"
[[ $STATUS == 0 ]] || fail "the maximum itself was refused: $(cat "$ERR")"

# A trip without a date is a usage error; marking defaults to 28 days (or 31 Aug).
create t4.coffer --purpose trip
[[ $STATUS == 2 ]] || fail "a trip without --trip-end or --expires gave exit $STATUS"
create m.coffer --purpose marking
[[ $STATUS == 0 ]] || fail "marking without --expires failed: $(cat "$ERR")"
run_cmd "$COFFER" info m.coffer --json
want=$(date -d '+28 days' +%F)
y=$(date +%Y); [[ $(date +%m) > 08 ]] && y=$((y + 1))
[[ "$y-08-31" < $want ]] && want="$y-08-31"
expect_json expires_date "$want"
create m2.coffer --purpose marking --trip-end "$trip_end"
[[ $STATUS == 2 ]] || fail "--trip-end on a marking coffer gave exit $STATUS"
create u.coffer --purpose picnic --expires "$FUTURE"
[[ $STATUS == 2 ]] && grep -q "the profiles are: trip-local, trip, marking, home-working" "$ERR" \
  || fail "an unknown purpose: exit $STATUS, $(cat "$ERR")"

# The school's file: narrows trip to 30 days and adds "swimming".
cat >school.toml <<'TOML'
[profile.trip]
based_on = "trip"
max_days = 30

[profile.swimming]
based_on = "trip-local"
fields = ["names", "reg_group", "medical", "activity_notes"]
TOML
chmod 644 school.toml
create s1.coffer --purpose trip --trip-end "$trip_end" --expires "$(date -d "$trip_end +31 days" +%F)" --profiles school.toml
[[ $STATUS == 6 ]] || fail "the school's narrower maximum was not applied (exit $STATUS)"
create s2.coffer --purpose swimming --trip-end "$trip_end" --profiles school.toml
[[ $STATUS == 0 ]] || fail "the school's own profile was refused: $(cat "$ERR")"
# A profile may not add a field its base lacks, nor any denied field.
printf '[profile.x]\nbased_on = "marking"\nfields = ["names", "religion"]\n' >bad.toml
chmod 644 bad.toml
create s3.coffer --purpose x --profiles bad.toml
[[ $STATUS == 2 ]] && grep -q "bad.toml:3: field religion may never" "$ERR" || fail "a denied field: exit $STATUS, $(cat "$ERR")"
# An untrusted file (writable by others) is refused outright.
chmod 666 school.toml
create s4.coffer --purpose swimming --trip-end "$trip_end" --profiles school.toml
[[ $STATUS == 6 ]] && grep -q "not trusted" "$ERR" || fail "an untrusted profiles file: exit $STATUS, $(cat "$ERR")"
ls ./*.coffer | sort | tr '\n' ' ' | grep -qx './m.coffer ./s2.coffer ./t1.coffer ./t3.coffer ' \
  || fail "unexpected coffers: $(ls ./*.coffer)"
echo "ok"
