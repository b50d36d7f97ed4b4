#!/usr/bin/env bash
# Issue 15 §3 and §6, through a real mount opened by the teacher (user
# nobody, so the filesystem process is the teacher's own, as on a desktop):
# layer 1 judges where a reader writes by what the kernel says the file is,
# not by the path text the reader sees, and the audit records where every
# opener writes.
#
# §3, each performed by the teacher with the tools any user has:
#   bind     `unshare -Urm`, the Desktop bind-mounted over the approved
#            folder, `cp roster.csv approved/`: refused (the data would
#            land on the Desktop), audited with the path cp wrote to.
#   view     the same namespace trick done honestly (a Flatpak's view): the
#            approved folder bound at another path is still approved.
#   overlay  an overlay mounted over the approved folder with its upper
#            directory in /dev/shm: refused as a file on this computer
#            outside the approved places (it used to count as "virtual").
#   loop     a loop-mounted image whose file is on a declared-removable
#            mount (root sets it up: users cannot attach loop devices):
#            refused as removable media.
# §6, in the audit trail (`coffer audit`):
#   - an open while writing to ~/.cache/x names it: "writing to: app-state …";
#   - an open writing nowhere says "writing to: none";
#   - a blocked `cp` whose standard output is a log file is recorded with
#     the file cp copies to, not the log.
#
# The school policy must be /etc/coffer/policy.toml for a user other than
# root (--policy is root's only). The script runs itself again in a private
# mount namespace where a tmpfs on /etc/coffer holds the test's policy:
# nothing else on the machine sees it. (/etc/coffer is created empty if it
# did not exist, and removed again.)
# shellcheck disable=SC2016  # the sh -c scripts expand their own "$1", "$2"...
set -euo pipefail

if [[ -z ${GUARD_NS_INNER:-} ]]; then
  [[ $(id -u) -eq 0 ]] || {
    echo "skipped: needs root (CI runs it as root)"
    exit 77
  }
  command -v unshare >/dev/null || {
    echo "FAIL: unshare is missing" >&2
    exit 1
  }
  created=
  if [[ ! -d /etc/coffer ]]; then
    mkdir -m 755 /etc/coffer
    created=1
  fi
  rc=0
  GUARD_NS_INNER=1 unshare -m --propagation private bash "$0" "$@" || rc=$?
  if [[ -n $created ]]; then rmdir /etc/coffer 2>/dev/null || true; fi
  exit "$rc"
fi

source "$(dirname "$0")/lib.sh"

for tool in runuser fusermount3 losetup mkfs.ext4 timeout; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done
DEMO_SCHOOL=$(dirname "$COFFER")/../tools/coffer-demo-school
[[ -x $DEMO_SCHOOL ]] || fail "no demo school generator at $DEMO_SCHOOL"

# Unprivileged user namespaces: Debian kernels may switch them off
# (kernel.unprivileged_userns_clone); the attack needs them, so does the test.
if ! runuser -u nobody -- unshare -Urm true 2>/dev/null; then
  fail "user nobody cannot create a user namespace (unshare -Urm): this kernel forbids unprivileged user namespaces; the bind and overlay rows need them"
fi

desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)

as_nobody
H=$U/home
APPROVED=$H/approved
DESK=$H/Desktop
CACHE=$H/.cache
VIEW=$H/view
USB_ROOT=$WORK/media # declared removable
USB=$USB_ROOT/usb
LOOPMNT=$WORK/loopdisk
SHM=/dev/shm/coffer-guard-ns-$$
C=$U/class.coffer
M=$U/mnt
nb mkdir -p "$APPROVED" "$DESK" "$CACHE" "$VIEW" "$H/lower" "$M"

# The school policy, seen only in this mount namespace.
mount -t tmpfs -o size=1m,mode=755 coffer-test-policy /etc/coffer || fail "cannot mount a tmpfs on /etc/coffer"
CLEANUP_HOOKS+=("umount -l /etc/coffer")
cat >/etc/coffer/policy.toml <<EOF
[copy]
approved_destinations = ["$APPROVED"]
app_state = ["$CACHE"]
declared_removable = ["$USB_ROOT"]
minimum_protection = "standard"
EOF
chmod 644 /etc/coffer/policy.toml

# The stand-in stick, and a loop-mounted disk image kept on it.
mkdir -p "$USB" "$LOOPMNT"
mount -t tmpfs -o size=64m,mode=755 coffer-test-usb "$USB" || fail "cannot mount the stand-in stick"
CLEANUP_HOOKS+=("umount -l '$USB'")
truncate -s 16m "$USB/disk.img"
mkfs.ext4 -q -F "$USB/disk.img" || fail "mkfs.ext4 failed"
mount -o loop "$USB/disk.img" "$LOOPMNT" || fail "cannot loop-mount the image"
CLEANUP_HOOKS=("umount -d -l '$LOOPMNT'" "${CLEANUP_HOOKS[@]}")
chmod 1777 "$LOOPMNT"
loopdev=$(findmnt -n -o SOURCE "$LOOPMNT")
[[ $(cat "/sys/block/${loopdev#/dev/}/loop/backing_file") == "$USB/disk.img" ]] ||
  fail "the loop device's backing file is not the image on the stick"
CLEANUP_HOOKS+=("rm -rf '$SHM'")

# The coffer: the demo school's group 7A, created and opened by nobody.
nb "$DEMO_SCHOOL" --out "$U/school" >/dev/null
expect_exit 0 nb "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"
expect_exit 0 nb "$COFFER" import "$C" --from "$U/school" --group 7A --passphrase-file "$U/pw"
expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
[[ $(mount_line "$M") == *" fuse.coffer "* ]] || { show_last; fail "open exited 0 but $M is not a coffer mount"; }
[[ $(mount_line "$M") == *"user_id=$(id -u nobody),"* ]] || fail "the mount is not nobody's"
# A line of the roster (through a pipe: a reader whose output is a file on
# this computer is a copier).
ROW=$(nb sh -c 'cat "$1" </dev/null 2>&1 | sed -n 2p' sh "$M/roster.csv")
[[ -n $ROW && $ROW == *,* ]] || fail "the roster has no pupil row (got '$ROW')"

# leaked FILE: the roster's row is in FILE.
leaked() { [[ -f $1 ]] && grep -qF -- "$ROW" "$1"; }
# piped WANT CMD...: CMD exits WANT. Its output goes through a pipe, not
# into run_cmd's files: a reader writing to a file on this computer is a
# copier to layer 1, and these rows choose their destinations themselves.
piped() {
  local want=$1 rc
  shift
  set +e
  "$@" </dev/null 2>&1 | cat >"$WORK/piped.out"
  rc=${PIPESTATUS[0]}
  set -e
  [[ $rc -eq $want ]] || { cat "$WORK/piped.out"; fail "exit $rc, expected $want: $*"; }
}

# ---------------------------------------------------------------- §3 rows
# Control: a plain copy to the approved folder works.
piped 0 nb timeout 20 cp "$M/roster.csv" "$APPROVED/plain.csv"
leaked "$APPROVED/plain.csv" || fail "the control copy to the approved folder did not deliver the roster"

# bind: the Desktop over the approved path, in the teacher's own namespace.
piped 1 nb timeout 20 unshare -Urm sh -c \
  'mount --bind "$1" "$2" && exec cp "$3" "$2/roster.csv"' sh "$DESK" "$APPROVED" "$M/roster.csv"
! leaked "$DESK/roster.csv" || fail "bind: the roster reached the Desktop through a bind mount over the approved folder"
! leaked "$APPROVED/roster.csv" || fail "bind: the copy went to the real approved folder (the bind mount did not happen)"
echo "ok: bind — cp through a bind mount over the approved path is refused"

# view: the approved folder bound at another path is approved (a Flatpak).
piped 0 nb timeout 20 unshare -Urm sh -c \
  'mount --bind "$1" "$2" && exec cp "$3" "$2/viewed.csv"' sh "$APPROVED" "$VIEW" "$M/roster.csv"
leaked "$APPROVED/viewed.csv" || fail "view: a copy to the approved folder seen at another path was not delivered"
echo "ok: view — the approved folder seen elsewhere in another namespace is still approved"

# overlay: over the approved folder, writes going to /dev/shm.
piped 1 nb timeout 20 unshare -Urm sh -c \
  'mkdir -p "$1/u" "$1/w" &&
   mount -t overlay overlay -o "lowerdir=$2,upperdir=$1/u,workdir=$1/w" "$2" &&
   exec cp "$3" "$2/over.csv"' sh "$SHM" "$APPROVED" "$M/roster.csv"
! leaked "$SHM/u/over.csv" || fail "overlay: the roster reached /dev/shm through an overlay on the approved folder"
[[ -d $SHM/u ]] || fail "overlay: the overlay was never made (no upper directory in $SHM)"
echo "ok: overlay — an overlay whose upper directory is in /dev/shm is refused"

# loop: an image on the stick, mounted elsewhere.
piped 1 nb timeout 20 cp "$M/roster.csv" "$LOOPMNT/roster.csv"
! leaked "$LOOPMNT/roster.csv" || fail "loop: the roster reached the disk image on the stick"
echo "ok: loop — a loop-mounted image on removable media is removable"

# ---------------------------------------------------------------- §6 rows
# A reader writing its output to an app-state file (allowed at standard).
piped 0 nb timeout 20 sh -c 'exec cat "$1" >"$2"' sh "$M/roster.csv" "$CACHE/x"
leaked "$CACHE/x" || fail "the copy to the app-state folder did not happen"
# A reader writing to an approved file.
piped 0 nb timeout 20 sh -c 'exec cat "$1" >"$2"' sh "$M/roster.csv" "$APPROVED/cat.csv"
leaked "$APPROVED/cat.csv" || fail "the redirect to the approved folder did not deliver the roster"
# A reader writing nowhere.
piped 0 nb timeout 20 sh -c 'cat "$1" | cat >/dev/null' sh "$M/roster.csv"
# cp with its standard output in a log on the Desktop.
piped 1 nb timeout 20 sh -c 'exec cp "$1" "$2" >"$3"' sh "$M/roster.csv" "$DESK/logged.csv" "$DESK/cp.log"
! leaked "$DESK/logged.csv" || fail "the logged cp reached the Desktop"

expect_exit 0 nb "$COFFER" lock "$M"
! is_mounted "$M" || fail "still mounted after lock"

expect_exit 0 nb "$COFFER" audit "$C" --passphrase-file "$U/pw" --verify
AUDIT=$OUT
cp "$AUDIT" "$WORK/audit.txt"
audit_has() { # WHAT PATTERN: a line of the audit matches the extended regex
  grep -Eq -- "$2" "$WORK/audit.txt" || { cat "$WORK/audit.txt"; fail "the audit has no line for $1 (/$2/)"; }
}
audit_has "bind (refused, with the path cp wrote to)" \
  "copy-blocked +refused +roster.csv \(to $APPROVED/roster.csv \(a file on this computer outside the approved places\) through descriptor [0-9]+\)"
audit_has "overlay (refused as local)" \
  "copy-blocked +refused +roster.csv \(to $APPROVED/over.csv \(a file on this computer outside the approved places\)"
audit_has "loop (refused as removable)" \
  "copy-blocked +refused +roster.csv \(to $LOOPMNT/roster.csv \(removable media\)"
audit_has "the open while writing to ~/.cache/x" \
  "open-view +ok +roster.csv \(read\) \(writing to: app-state $CACHE/x \(standard output\)\)"
audit_has "an open writing nowhere" "open-view +ok +roster.csv \(read\) \(writing to: none\)"
audit_has "the open by a reader writing to the approved folder" \
  "open-view +ok +roster.csv \(read\) \(writing to: approved $APPROVED/cat.csv \(standard output\)\)"
audit_has "the logged cp (its real destination)" \
  "copy-blocked +refused +roster.csv \(to $DESK/logged.csv \(a file on this computer outside the approved places\) through descriptor [0-9]+\)"
! grep -E "copy-blocked.*cp\.log" "$WORK/audit.txt" || fail "the logged cp's refusal names the log, not the file it copies to"
grep -E "open-view .*writing to: local $DESK/cp.log \(standard output\)" "$WORK/audit.txt" >/dev/null ||
  fail "the logged cp's open does not show its log (local, standard output)"
! grep -qF -- "$ROW" "$WORK/audit.txt" || fail "record contents reached the audit"
echo "ok: audit — opens record where the opener writes; refusals name the real destination"

umount "$LOOPMNT" || fail "cannot unmount the disk image"
umount "$USB" || fail "cannot unmount the stand-in stick"

finish
