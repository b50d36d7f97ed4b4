#!/usr/bin/env bash
# A teacher's hold is bounded (issue 14, item 7): with the passphrase a hold
# lasts the policy's max_hold_days (14 by default), cannot be renewed,
# extended or made open-ended, and lapses (audited) after which expiry
# proceeds; the school's recovery key extends it (--until), makes it
# open-ended or lifts it. Before this, a teacher's hold stopped the expiry
# for ever.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || fail "faketime is not installed (scripts/install-deps.sh installs it)"

expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile keygen.pw "$PW_SCHOOL")"
G=$(pwfile g.pw "$PW1")
RK=$(pwfile rk.pw "$PW_SCHOOL")
mk() {  # NAME EXPIRES
  expect_exit 0 "$COFFER" create "$1" --owner 'Ms Jones' --purpose trip --trip-end "$(date -d '+1 day' +%F)" \
    --expires "$2" --recovery-key school.pub --kdf-cost test --passphrase-file "$G"
}
EXP=$(date -d '+5 days' +%F)  # sealed after it, wiped 7 days later (+12)

mk a.coffer "$EXP"
expect_exit 0 "$COFFER" hold a.coffer --reason 'incident on the trip' --passphrase-file "$G"
expect_output_contains "on hold until $(date -d '+14 days' +%F)"
# The teacher can neither renew nor extend it, nor make it open-ended.
expect_exit 6 "$COFFER" hold a.coffer --reason 'still the incident' --passphrase-file "$G"
expect_output_contains "only the school's recovery key extends a hold"
expect_exit 6 at 10 "$COFFER" hold a.coffer --reason 'still the incident' --passphrase-file "$G"
expect_output_contains "only the school's recovery key extends a hold"
expect_exit 6 "$COFFER" hold a.coffer --reason x --until "$(date -d '+60 days' +%F)" --passphrase-file "$G"
expect_output_contains "only the school's recovery key"
expect_exit 6 "$COFFER" hold a.coffer --reason x --open-ended --passphrase-file "$G"
expect_output_contains "only the school's recovery key"
cp a.coffer b.coffer
cp a.coffer c.coffer

# Within the hold it opens past expiry and grace; after it, expiry proceeds.
expect_exit 0 at 13 "$COFFER" fsck a.coffer --passphrase-file "$G"
expect_output_contains 'on hold (incident on the trip) until'
expect_exit 5 at 15 "$COFFER" fsck a.coffer --passphrase-file "$G"
expect_output_contains 'wiped'
[[ ! -e a.coffer ]] || fail "a coffer whose hold lapsed past its grace period was not wiped"

# IT extends a hold with the recovery key ...
expect_exit 0 at 13 "$COFFER" hold b.coffer --reason 'the school inquiry' --until "$(date -d '+40 days' +%F)" \
  --recovery-key school.key --passphrase-file "$RK"
expect_output_contains "on hold until $(date -d '+40 days' +%F)"
expect_exit 0 at 30 "$COFFER" fsck b.coffer --passphrase-file "$G"
expect_output_contains 'on hold (the school inquiry) until'
expect_exit 5 at 42 "$COFFER" fsck b.coffer --passphrase-file "$G"
[[ ! -e b.coffer ]] || fail "a coffer whose extended hold lapsed was not wiped"
# ... or makes it open-ended, and lifts it.
expect_exit 0 at 13 "$COFFER" hold c.coffer --reason 'legal claim' --open-ended \
  --recovery-key school.key --passphrase-file "$RK"
expect_output_contains 'open-ended'
expect_exit 0 at 200 "$COFFER" fsck c.coffer --passphrase-file "$G"
expect_output_contains 'on hold (legal claim)'
expect_exit 0 at 200 "$COFFER" hold c.coffer --release --recovery-key school.key --passphrase-file "$RK"
expect_exit 5 at 200 "$COFFER" fsck c.coffer --passphrase-file "$G"
[[ ! -e c.coffer ]] || fail "a released coffer past its grace period was not wiped"

# The lapse is audited; a coffer not yet expired then simply goes on.
mk d.coffer "$(date -d '+30 days' +%F)"
expect_exit 0 "$COFFER" hold d.coffer --reason 'incident' --passphrase-file "$G"
expect_exit 0 at 20 "$COFFER" fsck d.coffer --passphrase-file "$G"
expect_output_contains 'the hold on this coffer ended'
expect_exit 0 at 20 "$COFFER" audit d.coffer --passphrase-file "$G" --verify
grep -qE " hold-set +ok +\(incident \(until $(date -d '+14 days' +%F)" "$OUT" \
  || { show_last; fail "the hold's end is not in the audit trail"; }
grep -qE " hold-released +ok +\(lapsed: " "$OUT" || { show_last; fail "the lapse is not in the audit trail"; }
# The teacher may hold it again (for 14 days from now), not for longer.
expect_exit 0 at 20 "$COFFER" hold d.coffer --reason 'second incident' --passphrase-file "$G"
expect_output_contains "on hold until $(date -d '+34 days' +%F)"
expect_exit 0 at 33 "$COFFER" fsck d.coffer --passphrase-file "$G"
expect_output_contains 'on hold'
expect_exit 0 at 35 "$COFFER" info d.coffer
expect_exit 5 at 35 "$COFFER" fsck d.coffer --passphrase-file "$G"
expect_output_contains 'sealed'
echo "hold: ok"
