#!/usr/bin/env bash
# The school policy is the school's (issue 14, item 2). An unprivileged
# teacher (user nobody) cannot name a policy or profiles file of their own,
# not even a root-owned empty one (there are about a thousand such files on
# a Debian system, and an empty policy would turn off the lock-out); the
# system file under /etc/coffer applies to them. A root-trusted file is
# opened once without following any symbolic link: a directory link swapped
# between a root-owned and a teacher-owned policy, while the command runs
# again and again, never lets the teacher's file take effect.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: runs as root (as in CI) to drop to user nobody" >&2
  exit 77
fi
for tool in runuser unshare; do command -v $tool >/dev/null || fail "$tool is missing"; done
id nobody >/dev/null || fail "there is no user nobody"
RUNS=${COFFER_RACE_RUNS:-150}

chmod 755 "$WORK"
U=$WORK/nobody
mkdir -m 700 "$U" "$U/home"
printf '%s\n' "$PW1" >"$U/pw"
chmod 600 "$U/pw"
chown -R nobody: "$U"
nb() {
  runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$U/home" \
    ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"
}
expect_exit 0 nb "$COFFER" create "$U/c.coffer" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"

# A policy whose effect shows: warnings from 60 days before expiry (the
# coffer expires in 5 days; by default nothing is said until 3 days before).
WARN='[retention]\nwarn_days = 60\n'

# --- A teacher's --policy or --profiles is refused, even a root-owned file.
: >"$WORK/empty.toml"
chmod 644 "$WORK/empty.toml"
expect_exit 6 nb "$COFFER" --policy "$WORK/empty.toml" fsck "$U/c.coffer" --passphrase-file "$U/pw"
expect_output_contains 'root only'
expect_output_contains '/etc/coffer/policy.toml applies'
expect_exit 6 nb "$COFFER" create "$U/d.coffer" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw" --profiles "$WORK/empty.toml"
expect_output_contains 'root only'
[[ ! -e $U/d.coffer ]] || fail "create went ahead with a teacher's --profiles"
# Root (IT) still may.
expect_exit 0 "$COFFER" --policy "$WORK/empty.toml" info "$U/c.coffer"

# --- The system policy applies to the teacher (a private /etc/coffer).
mkdir -m 755 "$WORK/etc"
printf "$WARN" >"$WORK/etc/policy.toml"
chmod 644 "$WORK/etc/policy.toml"
expect_exit 0 with_etc_coffer "$WORK/etc" runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$U/home" \
  "$COFFER" fsck "$U/c.coffer" --passphrase-file "$U/pw"
expect_output_contains "expires on $FUTURE"
expect_exit 0 nb "$COFFER" fsck "$U/c.coffer" --passphrase-file "$U/pw"
expect_output_lacks "expires on"
# A system policy the teacher could write is not trusted.
chown nobody "$WORK/etc/policy.toml"
expect_exit 6 with_etc_coffer "$WORK/etc" runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$U/home" \
  "$COFFER" fsck "$U/c.coffer" --passphrase-file "$U/pw"
expect_output_contains 'not trusted'
chown root "$WORK/etc/policy.toml"

# --- A symbolic link in any component is refused, last or intermediate.
mkdir -m 755 "$WORK/real"
printf '[retention]\nwarn_days = 1\n' >"$WORK/real/policy.toml"
chmod 644 "$WORK/real/policy.toml"
ln -s real "$WORK/dirlink"
ln -s real/policy.toml "$WORK/filelink.toml"
expect_exit 0 "$COFFER" --policy "$WORK/real/policy.toml" info "$U/c.coffer"
for p in "$WORK/dirlink/policy.toml" "$WORK/filelink.toml"; do
  expect_exit 6 "$COFFER" --policy "$p" info "$U/c.coffer"
  expect_output_contains 'symbolic link'
done

# --- The race. The teacher owns a directory in which `cur` is a link they
# swap, as fast as they can, between a directory holding a root-owned policy
# and one holding their own (warn_days = 60). IT's command names the policy
# through the link; before the fix it checked the file by name, then opened
# it by name again (the teacher's file took effect in 14 of 150 runs).
R=$WORK/race
mkdir -m 755 "$R" "$R/root" "$R/mine"
printf '[retention]\nwarn_days = 1\n' >"$R/root/policy.toml"
chmod 644 "$R/root/policy.toml"
printf "$WARN" >"$R/mine/policy.toml"
chown -R nobody: "$R"
chown root: "$R/root" "$R/root/policy.toml"
ln -s root "$R/cur"
chown -h nobody: "$R/cur"
runuser -u nobody -- bash -c '
  cd "$1"
  while :; do
    ln -sfn mine cur.new && mv -T cur.new cur
    ln -sfn root cur.new && mv -T cur.new cur
  done' race "$R" &
SWAPPER=$!
trap 'kill $SWAPPER 2>/dev/null || true; wait $SWAPPER 2>/dev/null || true; rm -rf -- "$WORK"' EXIT
# The same race on the system path, as the teacher: /etc/coffer/policy.toml
# itself a link they swap (a mis-set-up machine).
E=$WORK/etc-race
mkdir -m 755 "$E"
ln -s "$R/cur/policy.toml" "$E/policy.toml"
taken=0
for ((i = 0; i < RUNS; i++)); do
  run_cmd "$COFFER" --policy "$R/cur/policy.toml" fsck "$U/c.coffer" --passphrase-file "$U/pw"
  if grep -qF "expires on" "$OUT" "$ERR"; then taken=$((taken + 1)); fi
  [[ $STATUS -eq 6 ]] || { show_last; fail "run $i: a policy named through a swapped link was not refused"; }
  run_cmd with_etc_coffer "$E" runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME="$U/home" \
    "$COFFER" fsck "$U/c.coffer" --passphrase-file "$U/pw"
  if grep -qF "expires on" "$OUT" "$ERR"; then taken=$((taken + 1)); fi
  [[ $STATUS -eq 6 ]] || { show_last; fail "run $i: a system policy that is a link was not refused"; }
done
kill $SWAPPER
wait $SWAPPER 2>/dev/null || true
((taken == 0)) || fail "the teacher's policy took effect in $taken of $((2 * RUNS)) runs"
echo "policy_trust: ok ($((2 * RUNS)) raced runs, none took the teacher's file)"
