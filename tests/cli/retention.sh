#!/usr/bin/env bash
# Failed unlocks and retention through the real binary, with the clock moved
# by libfaketime: lock-out (exit 9) and recovery; expiry warned before,
# sealed at expiry (exit 5) yet recoverable by IT in the grace period, wiped
# after it; a clock set back refused (exit 6); holds; sweep.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || fail "faketime is not installed (scripts/install-deps.sh installs it)"

expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile keygen.pw "$PW_SCHOOL")"
mk() {  # NAME EXPIRES
  expect_exit 0 "$COFFER" create "$1" --owner 'Ms Jones' --purpose trip --expires "$2" \
    --recovery-key school.pub --kdf-cost test --passphrase-file "$(pwfile create.pw "$PW1")"
}
EXP=$(date -d '+5 days' +%F)

# --- Lock-out. A policy file (root-owned, as the trust rule needs) lowers
# the limit and removes the backoff so the test does not sleep.
if [[ $(id -u) -eq 0 ]]; then
  printf '[unlock]\nmax_failures = 4\nfree_attempts = 5\n' >policy.toml
  chmod 644 policy.toml
  mk lock.coffer "$EXP"
  for i in 1 2 3; do
    expect_exit 3 "$COFFER" --policy policy.toml fsck lock.coffer --passphrase-file "$(pwfile bad.pw "$PW2")"
    expect_output_contains "failed attempts: $i of 4"
  done
  expect_exit 9 "$COFFER" --policy policy.toml fsck lock.coffer --passphrase-file "$(pwfile bad.pw "$PW2")"
  expect_output_contains 'locked out'
  # The right passphrase no longer opens it, and is not counted.
  expect_exit 9 "$COFFER" --policy policy.toml fsck lock.coffer --passphrase-file "$(pwfile good.pw "$PW1")"
  expect_exit 0 "$COFFER" --policy policy.toml info --json lock.coffer
  expect_json failed_attempts 4
  expect_json locked_out true
  # A group-writable policy file is not trusted.
  chmod 664 policy.toml
  expect_exit 6 "$COFFER" --policy policy.toml fsck lock.coffer --passphrase-file "$(pwfile good.pw "$PW1")"
  expect_output_contains 'not trusted'
  chmod 644 policy.toml
  # IT reopens it with the recovery key; the failures are reported.
  expect_exit 0 "$COFFER" --policy policy.toml recover lock.coffer --recovery-key school.key --kdf-cost test \
    --passphrase-file "$(pwfile rec.pw "$PW_SCHOOL" "$PW3")"
  expect_output_contains '4 wrong passphrase'
  expect_exit 0 "$COFFER" fsck lock.coffer --passphrase-file "$(pwfile new.pw "$PW3")"
  expect_exit 0 "$COFFER" info --json lock.coffer
  expect_json failed_attempts 0
else
  echo "not root: the lock-out part needs a root-owned policy file; skipped"
fi

# --- Expiry: warned, sealed, recoverable in grace, wiped after grace.
mk trip.coffer "$EXP"
expect_exit 0 "$COFFER" fsck trip.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_lacks 'expires on'
expect_exit 0 at 3 "$COFFER" fsck trip.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_contains "expires on $EXP"
expect_output_contains 'files/'
expect_exit 5 at 7 "$COFFER" fsck trip.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_contains 'sealed'
[[ -f trip.coffer ]] || fail "a sealed coffer must stay for check-in"
expect_exit 0 at 7 "$COFFER" info trip.coffer
expect_output_contains 'EXPIRED: sealed'
# IT can still get in during the grace period.
expect_exit 0 at 7 "$COFFER" recover trip.coffer --recovery-key school.key --kdf-cost test \
  --passphrase-file "$(pwfile rec.pw "$PW_SCHOOL" "$PW3")"
expect_output_contains 'sealed'
# After the grace period (7 days) the next open wipes it, whatever the passphrase.
expect_exit 5 at 14 "$COFFER" fsck trip.coffer --passphrase-file "$(pwfile bad.pw "$PW2")"
expect_output_contains 'wiped'
[[ ! -e trip.coffer ]] || fail "a coffer past its grace period was not wiped"

# --- The clock set back behind what the coffer has seen.
# fsck only checks the mark; unlocking to change something (here a second
# passphrase) raises it.
mk clock.coffer "$EXP"
expect_exit 0 at 2 "$COFFER" fsck clock.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_exit 0 "$COFFER" fsck clock.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_exit 0 at 2 "$COFFER" keys add clock.coffer --kdf-cost test --passphrase-file "$(pwfile a.pw "$PW1" "$PW2")"
expect_exit 6 "$COFFER" fsck clock.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_contains 'set back'
expect_exit 0 at 2 "$COFFER" fsck clock.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
# A clock that had run ahead: IT resets the mark with the recovery key.
expect_exit 0 "$COFFER" recover clock.coffer --recovery-key school.key --kdf-cost test --reset-clock \
  --passphrase-file "$(pwfile rc.pw "$PW_SCHOOL" "$PW3")"
expect_output_contains 'clock mark is reset'
expect_exit 0 "$COFFER" fsck clock.coffer --passphrase-file "$(pwfile g3.pw "$PW3")"

# --- Holds: the teacher sets one (for 14 days, the policy's default bound);
# expiry and sweeps stop; only IT lifts it.
mk held.coffer "$EXP"
mk other.coffer "$EXP"
expect_exit 2 "$COFFER" hold held.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_exit 0 "$COFFER" hold held.coffer --reason 'incident on the trip' --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_contains 'on hold'
expect_exit 0 at 13 "$COFFER" fsck held.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_contains 'on hold (incident on the trip)'
expect_exit 6 "$COFFER" hold held.coffer --release --passphrase-file "$(pwfile g.pw "$PW1")"
mkdir -p elsewhere
mk elsewhere/linked.coffer "$EXP"
ln -s elsewhere/linked.coffer link.coffer
ln -s elsewhere linkdir
expect_exit 0 at 13 "$COFFER" sweep . --dry-run
expect_output_contains 'would wipe ./other.coffer'
expect_output_contains 'kept ./held.coffer (on hold)'
expect_output_lacks 'link'
[[ -f other.coffer ]] || fail "sweep --dry-run wiped"
expect_exit 0 at 13 "$COFFER" sweep .
expect_output_contains 'wiped ./other.coffer'
[[ ! -e other.coffer && -f held.coffer && -f elsewhere/linked.coffer ]] || fail "sweep wiped the wrong files"
expect_exit 2 at 13 "$COFFER" sweep linkdir
expect_output_contains 'symbolic link'
[[ -f elsewhere/linked.coffer ]] || fail "sweep followed a symbolic link"
expect_exit 0 at 13 "$COFFER" hold held.coffer --release --recovery-key school.key \
  --passphrase-file "$(pwfile rk.pw "$PW_SCHOOL")"
expect_output_contains 'released'
expect_exit 0 at 13 "$COFFER" sweep .
expect_output_contains 'wiped ./held.coffer'
[[ ! -e held.coffer ]] || fail "a released hold past grace was not swept"
echo "retention: ok"
