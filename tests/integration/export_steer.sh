#!/usr/bin/env bash
# Issue 15, exports: the daemon resolves an export's destination itself, so
# the teacher (user nobody here) cannot steer one onto a USB stick by
# speaking to the control socket directly with a path that leads there.
# Before: `ln -s /media/usb approved/lnk` and a raw `export` request for
# approved/lnk/r.csv answered "ok", the roster was on the stick and the
# audit recorded an approved export. Now each of these is refused, nothing
# reaches the "stick" (a tmpfs the policy declares removable, writable by
# everyone so only coffer stands in the way) and the audit records a
# refusal:
#   a symbolic link in an approved folder; a link swapped in for a middle
#   folder after an export through it worked; ".." escapes; an approved
#   path that is itself a link to the stick; another FUSE filesystem
#   mounted inside an approved folder; the stick itself listed as approved.
# An ordinary approved folder and one that is a bind mount still work, and
# the audit names the resolved path and the asking process's uid and pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v runuser >/dev/null || fail "runuser is missing"
[[ -u $(command -v fusermount3) ]] || fail "fusermount3 is not setuid root"
NOBODY_UID=$(id -u nobody) || fail "there is no user nobody"

desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)

as_nobody
STICK=$WORK/usb
mkdir "$STICK" "$WORK/realshare"
mount -t tmpfs -o size=1m,mode=1777 coffer-test-stick "$STICK"
CLEANUP_HOOKS+=("umount -l '$STICK'")
chown nobody: "$WORK/realshare"
mkdir "$U/bind"
chown nobody: "$U/bind"
mount --bind "$WORK/realshare" "$U/bind"
CLEANUP_HOOKS+=("umount -l '$U/bind'")
# nobody's coffer carries its own approved folders (from a profile at
# create: --profiles and --policy are root's); with no system policy they
# stand. The "stick" is not declared removable for nobody's coffer (that
# takes the system policy), so only the resolution stands in the way there.
printf '[profile.trip-out]\nbased_on = "trip"\napproved_destinations = ["%s", "%s", "%s"]\n' \
  "$U/share" "$U/bind" "$U/apprlink" >"$WORK/profiles.toml"
chmod 644 "$WORK/profiles.toml"

C=$U/class.coffer
M=$U/mnt
expect_exit 0 "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip-out --expires "$FUTURE" \
  --profiles "$WORK/profiles.toml" --kdf-cost test --passphrase-file "$U/pw"
chown nobody: "$C"
expect_exit 0 nb mkdir "$U/share" "$M"
expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
[[ $(mount_line "$M") == *"user_id=$NOBODY_UID,"* ]] || fail "the coffer is not nobody's mount"
SOCK=$(ls "$U"/run/coffer/*.sock)
RUN=nb

# raw DEST: as nobody, a bare `export` request for roster.csv to DEST,
# written straight to the control socket (no `coffer export` checks);
# prints the asker's pid, then the reply.
raw() {
  $RUN python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"export\troster.csv\t" + os.fsencode(sys.argv[2]) + b"\n")
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
print(os.getpid())
print(reply.decode(errors="replace").strip())
' "$SOCK" "$1"
}
# refused DEST WORDS: the raw request is answered with an error matching WORDS.
refused() {
  expect_exit 0 raw "$1"
  sed -n 2p "$OUT" | grep -qE "^error.*$2" || { show_last; fail "a raw export to $1 was not refused ($2)"; }
}
stick_empty() {
  [[ -z $(find "$STICK" -mindepth 1 -type f) ]] || fail "something reached the stick: $(find "$STICK" -type f)"
}

note "the attack: a link in an approved folder to the stick, and a raw request through it"
expect_exit 0 nb ln -s "$STICK" "$U/share/lnk"
refused "$U/share/lnk/r.csv" "symbolic link"
stick_empty

note "a link swapped in for a middle folder after an export through the folder worked"
expect_exit 0 nb mkdir -p "$U/share/m/n"
expect_exit 0 raw "$U/share/m/n/ok1.csv"
sed -n 2p "$OUT" | grep -q '^ok ' || { show_last; fail "an export to a real folder was refused"; }
[[ -f $U/share/m/n/ok1.csv ]] || fail "the export to a real folder did not arrive"
mkdir -m 1777 "$STICK/n"
expect_exit 0 nb mv "$U/share/m" "$U/share/m.real"
expect_exit 0 nb ln -s "$STICK" "$U/share/m"
refused "$U/share/m/n/r2.csv" "symbolic link"
stick_empty

note "'..' escapes"
refused "$U/share/../../usb/r3.csv" "'\\.\\.'"
refused "$U/share/m.real/../lnk/r3.csv" "'\\.\\.'"
stick_empty

note "an approved path that is itself a link to the stick"
expect_exit 0 nb ln -s "$STICK" "$U/apprlink"
refused "$U/apprlink/r4.csv" "reached through a symbolic link"
stick_empty
[[ -z $(ls -A "$U/share/m.real/n" | grep -v '^ok1.csv$') && -z $(ls -A "$U/share" | grep -Ev '^(lnk|m|m.real|fusemnt)$') ]] ||
  fail "a refused export left something behind: $(ls -AR "$U/share")"

note "another FUSE filesystem mounted inside an approved folder (a second coffer of nobody's) is refused"
C3=$U/other.coffer
expect_exit 0 nb "$COFFER" create "$C3" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"
expect_exit 0 nb mkdir "$U/share/fusemnt"
expect_exit 0 nb "$COFFER" open "$C3" "$U/share/fusemnt" --passphrase-file "$U/pw" --idle-seconds 900
refused "$U/share/fusemnt/files/r8.csv" "FUSE filesystem"
{ nb test -d "$U/share/fusemnt/files" && [[ -z $(nb ls -A "$U/share/fusemnt/files") ]]; } || fail "a refused export left something in the FUSE filesystem"
expect_exit 0 nb "$COFFER" lock "$U/share/fusemnt"

note "a bind-mounted approved folder still works; the audit names the resolved path and the asker"
expect_exit 0 raw "$U/bind/r6.csv"
sed -n 2p "$OUT" | grep -q '^ok ' || { show_last; fail "an export to a bind-mounted approved folder was refused"; }
BIND_PID=$(sed -n 1p "$OUT")
[[ -f $WORK/realshare/r6.csv ]] || fail "the export to the bind mount did not arrive"
note "coffer export keeps working"
expect_exit 0 nb "$COFFER" export "$M/roster.csv" "$U/share/"
[[ -f $U/share/roster.csv ]] || { show_last; fail "coffer export did not arrive"; }

expect_exit 0 nb "$COFFER" lock "$M"
expect_exit 0 nb "$COFFER" audit "$C" --passphrase-file "$U/pw" --json
AUDIT=$WORK/audit.json
cp "$OUT" "$AUDIT"
py '
import json, sys
text = open(sys.argv[1]).read()
try:
    events = json.loads(text)
except ValueError:
    events = [json.loads(l) for l in text.splitlines() if l.strip()]
if isinstance(events, dict):
    events = events.get("events", [])
exports = [e for e in events if e.get("kind") == "export"]
ok = [e for e in exports if e.get("result") == "ok"]
refused = [e for e in exports if e.get("result") == "refused"]
u, stick, bind_pid = sys.argv[2], sys.argv[3], int(sys.argv[4])
for e in ok:
    if stick in e["detail"] or "lnk" in e["detail"] or "apprlink" in e["detail"]:
        die("an export through a link or to the stick was audited as approved: %r" % e)
want_ok = {u + "/share/m/n/ok1.csv", u + "/bind/r6.csv", u + "/share/roster.csv"}
got_ok = {e["detail"].split(" ")[1] for e in ok}
if got_ok != want_ok:
    die("approved exports audited: %r, expected %r" % (sorted(got_ok), sorted(want_ok)))
for dest in ("/share/lnk/r.csv", "/share/m/n/r2.csv", "/apprlink/r4.csv", "/share/fusemnt/files/r8.csv"):
    if not any(e["detail"].startswith("to " + u + dest + ":") for e in refused):
        die("no refusal recorded for %s: %r" % (dest, refused))
bind = [e for e in ok if e["detail"].split(" ")[1] == u + "/bind/r6.csv"][0]
if bind["uid"] != int(sys.argv[5]) or bind["pid"] != bind_pid:
    die("the bind export names uid %s pid %s, not the asker (%s, %s)" % (bind["uid"], bind["pid"], sys.argv[5], bind_pid))
' "$AUDIT" "$U" "$STICK" "$BIND_PID" "$NOBODY_UID" || { cat "$AUDIT" >&2; fail "the audit does not show the refusals and the asker"; }

note "root's coffer with the stick declared removable by the system policy and listed as approved:"
note "the daemon classifies the filesystem it opened and refuses"
mkdir "$WORK/rootshare"
printf '[copy]\napproved_destinations = ["%s", "%s"]\ndeclared_removable = ["%s"]\n' \
  "$WORK/rootshare" "$STICK" "$STICK" >"$WORK/policy.toml"
chmod 644 "$WORK/policy.toml"
C2=$WORK/root.coffer
M2=$WORK/mnt2
make_coffer "$C2"
mkdir "$M2"
expect_exit 0 "$COFFER" --policy "$WORK/policy.toml" open "$C2" "$M2" --passphrase-file "$PWFILE" --idle-seconds 900
SOCK=$(ls "$XDG_RUNTIME_DIR"/coffer/*.sock)
RUN=
refused "$STICK/r5.csv" "removable media"
stick_empty
expect_exit 0 raw "$WORK/rootshare/r7.csv"
sed -n 2p "$OUT" | grep -q '^ok ' || { show_last; fail "an export to root's approved folder was refused"; }
lock_coffer "$M2"
expect_exit 0 "$COFFER" audit "$C2" --passphrase-file "$PWFILE" --json
grep -q "\"kind\":\"export\",\"object\":\"roster.csv\",\"result\":\"refused\",\"detail\":\"to $STICK/r5.csv: " "$OUT" ||
  { show_last; fail "the refused export to the stick is not recorded as refused"; }
grep -q "\"result\":\"ok\",\"detail\":\"to $STICK" "$OUT" && fail "an export to the stick was recorded as approved"

umount "$U/bind"
umount "$STICK"
finish
