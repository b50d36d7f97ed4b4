#!/usr/bin/env bash
# A clock set back with libfaketime (LD_PRELOAD, no privilege needed) does
# not move coffer's "now" before the kernel's clock, which coffer reads with
# a system call of its own (issue 14, item 3). The frozen coffer
# clock-expired-2026-11.coffer was made (at a faked 2026-11-01, by the build
# before the fix) to expire on 2026-11-05 and last used on 2026-11-02: the
# real clock is long past its expiry and grace period. Set back to a moment
# between its last use and its expiry, the build before the fix opened it
# (exit 0); now it is wiped as at real time. A clock faked forward still
# counts (the tests' way to stand after an expiry), and `audit --verify`
# reports event times that go backwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || fail "faketime is not installed (scripts/install-deps.sh installs it)"
FIXTURE=$(cd "$(dirname "$0")/../fixtures" && pwd)/clock-expired-2026-11.coffer
FPW=$(pwfile fixture.pw 'Fixture-Lantern-Meadow-42')
BACK='@2026-11-03 12:00:00'
(($(date +%s) > $(date -d '2026-11-13' +%s))) || fail "this test needs the real clock past 2026-11-12 (the fixture's grace)"

# The preload does fake the process clock (else the test would prove nothing).
[[ $(faketime -f "$BACK" date +%F) == 2026-11-03 ]] || fail "libfaketime does not set the clock back here"

# info at the faked time still sees the expiry as past.
cp "$FIXTURE" info.coffer
expect_exit 0 faketime -f "$BACK" "$COFFER" info info.coffer
expect_output_contains 'EXPIRED'

# Opening at the faked time: wiped, not opened.
for cmd in fsck audit; do
  cp "$FIXTURE" "$cmd.coffer"
  chmod 600 "$cmd.coffer"
  expect_exit 5 faketime -f "$BACK" "$COFFER" "$cmd" "$cmd.coffer" --passphrase-file "$FPW"
  expect_output_contains 'wiped'
  [[ ! -e $cmd.coffer ]] || fail "$cmd at a clock set back left the expired coffer in place"
done

# Forward still shortens: a fresh coffer (expiry +5 days) is sealed at +7.
make_coffer fresh.coffer "$PW1"
expect_exit 5 at 7 "$COFFER" fsck fresh.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_output_contains 'sealed'

# audit --verify says when event times go backwards: an unlock at a clock
# 5 minutes ahead, then one at real time (within the 10 minutes' tolerance).
make_coffer back.coffer "$PW1"
expect_exit 0 faketime -f "+5m" "$COFFER" fsck back.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_exit 0 "$COFFER" fsck back.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_exit 0 "$COFFER" audit back.coffer --passphrase-file "$(pwfile g.pw "$PW1")" --verify
expect_output_contains 'time goes backwards'
expect_output_contains 'internally consistent only' # no anchor given: never "verified"
expect_output_lacks 'PROBLEM'
# A trail whose times only go forward says nothing of the kind.
make_coffer fwd.coffer "$PW1"
expect_exit 0 "$COFFER" fsck fwd.coffer --passphrase-file "$(pwfile g.pw "$PW1")"
expect_exit 0 "$COFFER" audit fwd.coffer --passphrase-file "$(pwfile g.pw "$PW1")" --verify
expect_output_lacks 'backwards'
echo "clock: ok"
