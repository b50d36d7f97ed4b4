#!/usr/bin/env bash
# Shorter expiries inside a coffer, in a real mount: a file's own expiry
# (the extended attribute user.coffer.expires, which the owner may set or
# shorten but never lengthen or remove) and a pupil imported with
# --expires; once passed, the mount purges them (at mount and every minute)
# and audits the purge by count. libfaketime moves the clock a day on.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
"$DEMO_SCHOOL" --out "$WORK/school" >/dev/null
C=$WORK/e.coffer
M=$WORK/mnt
TODAY=$(date +%F)
make_coffer "$C"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/school" --pupil P00001 --pupil P00002 --passphrase-file "$PWFILE"
expect_exit 0 "$COFFER" import "$C" --from "$WORK/school" --pupil P00003 --expires "$TODAY" --passphrase-file "$PWFILE"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900
[[ $(ls "$M/pupils" | wc -l) -eq 3 ]] || fail "expected 3 pupils before expiry: $(ls "$M/pupils")"
echo short >"$M/files/short.txt"
echo long >"$M/files/long.txt"
python3 - "$M/files" "$TODAY" "$FUTURE" <<'PY'
import errno, os, sys
d, today, future = sys.argv[1:]
a, b = d + "/short.txt", d + "/long.txt"
def expect_errno(code, f, *args):
    try:
        f(*args)
    except OSError as e:
        if e.errno != code:
            raise SystemExit(f"FAIL: {f.__name__}{args[1:2]} gave {errno.errorcode[e.errno]}, expected {errno.errorcode[code]}")
        return
    raise SystemExit(f"FAIL: {f.__name__}{args[1:2]} succeeded, expected {errno.errorcode[code]}")
os.setxattr(a, "user.coffer.expires", future.encode())
os.setxattr(a, "user.coffer.expires", today.encode())          # shortening is fine
assert os.getxattr(a, "user.coffer.expires") == today.encode(), os.getxattr(a, "user.coffer.expires")
assert os.listxattr(a) == ["user.coffer.expires"], os.listxattr(a)
expect_errno(errno.EPERM, os.setxattr, a, "user.coffer.expires", future.encode())   # never lengthen
expect_errno(errno.EPERM, os.removexattr, a, "user.coffer.expires")                 # nor remove
expect_errno(errno.EPERM, os.setxattr, b, "user.coffer.expires", b"2099-01-01")     # nor past the coffer
expect_errno(errno.EINVAL, os.setxattr, b, "user.coffer.expires", b"31/12/2026")
expect_errno(errno.EOPNOTSUPP, os.setxattr, b, "user.other", b"x")
expect_errno(errno.ENODATA, os.getxattr, b, "user.coffer.expires")
PY
lock_coffer "$M"

# A day on: the pupil imported with --expires today and short.txt are gone.
TOMORROW=$(date -d tomorrow +%F)
expect_exit 0 faketime -f "@$TOMORROW 09:00:00" "$COFFER" open "$C" "$M" --passphrase-file "$PWFILE" --idle-seconds 900
[[ ! -e $M/files/short.txt ]] || fail "a file past its own expiry is still there"
[[ $(cat "$M/files/long.txt") == long ]] || fail "a file without its own expiry was purged"
[[ $(ls "$M/pupils" | wc -l) -eq 2 ]] || fail "expected 2 pupils after the purge: $(ls "$M/pupils")"
! ls "$M/pupils" | grep -q P00003 || fail "the expired pupil's folder is still there"
! grep -q P00003 "$M/roster.csv" || fail "the expired pupil is still in roster.csv"
# status warns in the days before the coffer's own expiry.
expect_exit 0 "$COFFER" status
! grep -q 'EXPIRES' "$OUT" || fail "status warned 4 days before expiry (policy: 3)"
expect_exit 0 faketime -f "@$FUTURE 12:00:00" "$COFFER" status
expect_output_contains 'EXPIRES TODAY'
expect_output_contains 'files/'
lock_coffer "$M"
expect_exit 0 faketime -f "@$TOMORROW 09:10:00" "$COFFER" audit "$C" --passphrase-file "$PWFILE" --verify
expect_output_contains 'expiry-purge'
expect_output_contains '1 pupil record.s., 1 file.s.'

# A teacher's hold keeps a mount open only until its end (14 days, issue 14
# item 7): the filesystem's clock (libfaketime) starts 5 s before it; the
# mount locks by itself, and the next unlock lifts the hold and, the coffer
# being past its grace period, wipes it.
H=$WORK/h.coffer
make_coffer "$H"
t0=$(date +%s)
expect_exit 0 "$COFFER" hold "$H" --reason 'incident' --passphrase-file "$PWFILE"
expect_exit 0 faketime -f "@$(date -d "@$((t0 + 14 * 86400 - 5))" '+%F %T')" "$COFFER" open "$H" "$M" \
  --passphrase-file "$PWFILE" --idle-seconds 900
wait_until 30 not_mounted "$M" || fail "a mount stayed open past the end of the teacher's hold"
expect_exit 5 faketime -f "@$(date -d "@$((t0 + 14 * 86400 + 60))" '+%F %T')" "$COFFER" fsck "$H" \
  --passphrase-file "$PWFILE"
expect_output_contains 'wiped'
[[ ! -e $H ]] || fail "a coffer whose hold ended past its grace period was not wiped"
finish
