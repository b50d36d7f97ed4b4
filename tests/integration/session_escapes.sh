#!/usr/bin/env bash
# Issue 15 section 4: the ways out of a sandboxed session (`coffer run`)
# that got through before, tried by the teacher (user nobody) through a real
# mount, each shown closed, or, where the kernel gives no way to close it,
# shown to be stated honestly by `coffer status`:
#   - a pipe to a program outside (`run ... | cat >~/Desktop/x`): refused at
#     start, nothing mounted, nothing written;
#   - started under a tracer (strace): refused at start;
#   - UDP to an outside listener on 127.0.0.1, a connection to an outside
#     abstract UNIX socket, to the teacher's session bus socket
#     ($XDG_RUNTIME_DIR/bus) and to a tmux server's socket: none arrives
#     (the same probe run outside arrives, so the listeners work); a
#     pathname socket elsewhere (where the X server's /tmp/.X11-unix/X0 is)
#     stays reachable: the display;
#   - an outside process of the same user reading the session's memory
#     (/proc/PID/mem): closed only when the kernel's Yama ptrace_scope >= 1;
#     without it `status` says so, and the policy key
#     [copy] session_requires_ptrace_restricted refuses the session.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

for c in runuser strace script python3; do command -v $c >/dev/null || fail "$c is missing"; done
command -v fusermount3 >/dev/null || fail "fusermount3 is missing"

desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)

as_nobody
mkdir "$U/approved" "$U/desktop" "$U/display" "$U/tmux"
mkdir -m 700 "$U/tmux/tmux-$(id -u nobody)"
# The teacher cannot name a policy or profiles file: the coffer carries its
# level and approved place (its profile, chosen by IT, here by root).
printf '[profile.trip-sealed]\nbased_on = "trip"\nprotection = "sandboxed"\napproved_destinations = ["%s"]\n' \
  "$U/approved" >"$WORK/profiles.toml"
# The ptrace requirement is the school's policy (root's file; root runs it).
printf '[copy]\nsession_requires_ptrace_restricted = true\n' >"$WORK/policy-ptrace.toml"
chmod 644 "$WORK/profiles.toml" "$WORK/policy-ptrace.toml"

# The outside listeners (the teacher's other programs): UDP on 127.0.0.1,
# an abstract socket, the session bus socket in XDG_RUNTIME_DIR and a
# pathname socket elsewhere (as the X server's). Each line received is
# logged with what it came through.
cat >"$U/listen.py" <<'EOF'
import os, select, socket, sys
u = sys.argv[1]
log = open(u + "/listener.log", "a", buffering=1)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
abstract = "coffer-escape-%d" % os.getpid()
listeners = {}
for name, addr in (("abstract", "\0" + abstract), ("bus", u + "/run/bus"), ("display", u + "/display/X0"),
                   ("tmux", "%s/tmux/tmux-%d/default" % (u, os.getuid()))):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(addr)
    s.listen(8)
    listeners[s] = name
with open(u + "/listener.port.tmp", "w") as f:
    f.write("%d %s\n" % (udp.getsockname()[1], abstract))
os.rename(u + "/listener.port.tmp", u + "/listener.port")
while not os.path.exists(u + "/stop"):
    r, _, _ = select.select([udp] + list(listeners), [], [], 0.2)
    for s in r:
        if s is udp:
            data, _ = s.recvfrom(4096)
            log.write("udp: %s\n" % data.decode(errors="replace"))
        else:
            c, _ = s.accept()
            c.settimeout(2)
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            log.write("%s: %s\n" % (listeners[s], data.decode(errors="replace")))
            c.close()
EOF
# The probe: the same attempts from wherever it runs. With a third
# argument it then reads the coffer's roster into its memory, says its pid
# and waits for the outside reader.
cat >"$U/probe.py" <<'EOF'
import os, socket, sys, time
tag, u = sys.argv[1], sys.argv[2]
port, abstract = open(u + "/listener.port").read().split()
out = []
def attempt(name, fn):
    try:
        fn()
        out.append("%s %s: sent" % (tag, name))
    except OSError as e:
        out.append("%s %s: failed (%s)" % (tag, name, e.strerror))
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(("%s via udp" % tag).encode(), ("127.0.0.1", int(port)))
def unix(addr):
    def go():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
        s.sendall(("%s via %s" % (tag, addr.lstrip("\0"))).encode())
        s.close()
    return go
attempt("udp", udp)
attempt("abstract", unix("\0" + abstract))
attempt("bus", unix(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent") + "/bus"))
attempt("display", unix(u + "/display/X0"))
attempt("tmux", unix("%s/tmux-%d/default" % (os.environ.get("TMUX_TMPDIR", "/tmp"), os.getuid())))
report = "\n".join(out) + "\n"
if len(sys.argv) > 3:
    open(sys.argv[3] + "/probe.txt", "w").write(report)
    held = open("files/roster.csv").read()
    open(sys.argv[3] + "/pid", "w").write("%d\n" % os.getpid())
    for _ in range(300):
        if os.path.exists(sys.argv[3] + "/go"):
            break
        time.sleep(0.1)
    sys.exit(0 if held else 1)
sys.stdout.write(report)
EOF
# An outside process of the teacher reading a session process's memory.
cat >"$U/memread.py" <<'EOF'
import sys
pid, mark = sys.argv[1], sys.argv[2].encode()
try:
    mem = open("/proc/%s/mem" % pid, "rb", buffering=0)
    for line in open("/proc/%s/maps" % pid):
        addr, perms = line.split()[:2]
        if not perms.startswith("r"):
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        try:
            mem.seek(lo)
            if mark in mem.read(hi - lo):
                print("read: found")
                sys.exit(0)
        except (OSError, OverflowError, ValueError):
            pass
    print("read: not found")
except OSError as e:
    print("denied: %s" % e.strerror)
EOF
C=$U/sealed.coffer
M=$U/mnt
expect_exit 0 "$COFFER" create "$C" --owner 'Ms A. Teacher' --purpose trip-sealed --expires "$FUTURE" \
  --profiles "$WORK/profiles.toml" --kdf-cost test --passphrase-file "$PWFILE"
mkdir "$M"
chown -R nobody: "$U"
MARK="pupil-roster-marker-$RANDOM$RANDOM"
run_args=(run "$C" --mountpoint "$M" --passphrase-file "$U/pw" --idle-seconds 900 --)

note "a pipe to a program outside is refused before anything is mounted"
set +e
nb "$COFFER" "${run_args[@]}" sh -c 'printf "%s\n" "$1" >files/roster.csv; cat files/roster.csv' sh "$MARK" \
  </dev/null 2>"$WORK/pipe.err" | nb sh -c 'cat >"$1"' sh "$U/desktop/x"
rc=${PIPESTATUS[0]}
set -e
((rc == 6)) || { cat "$WORK/pipe.err" >&2; fail "run with its output piped to an outside program exited $rc, not 6"; }
grep -q 'standard output is a pipe to a program outside the protected session' "$WORK/pipe.err" ||
  { cat "$WORK/pipe.err" >&2; fail "the refusal does not say why"; }
grep -q 'coffer export' "$WORK/pipe.err" || { cat "$WORK/pipe.err" >&2; fail "the refusal does not say the way out"; }
not_mounted "$M" || fail "the refused session left $M mounted"
[[ ! -s $U/desktop/x ]] || fail "the piped session reached the Desktop: $(cat "$U/desktop/x")"

note "a session started under a tracer (strace) is refused"
set +e
# Without the leak check: LeakSanitizer (CI's second suite) cannot run
# under ptrace and aborts the traced process at exit.
on_terminal nb env "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -o /dev/null "$COFFER" "${run_args[@]}" true \
  >"$WORK/traced.log"
rc=$?
set -e
((rc == 6)) || { cat "$WORK/traced.log" >&2; fail "run under strace exited $rc, not 6"; }
grep -q 'coffer is being traced by process' "$WORK/traced.log" || { cat "$WORK/traced.log" >&2; fail "no clear message"; }
not_mounted "$M" || fail "the traced session left $M mounted"

note "the outside listeners work: the probe run outside reaches all five"
(nb python3 "$U/listen.py" "$U" >"$WORK/listener.out" 2>&1 &)
wait_until 10 test -s "$U/listener.port" || { cat "$WORK/listener.out" >&2; fail "the listener did not start"; }
CLEANUP_HOOKS+=("touch $U/stop")
nb env TMUX_TMPDIR="$U/tmux" python3 "$U/probe.py" outside "$U" >"$WORK/outside.txt"
for ch in udp abstract bus display tmux; do
  wait_until 5 grep -q "^$ch: outside via" "$U/listener.log" ||
    { cat "$WORK/outside.txt" "$U/listener.log" >&2; fail "the outside probe did not reach the $ch listener"; }
done

note "inside a session: UDP, the abstract socket, the session bus and tmux reach nothing; the display path does"
(
  set +e
  on_terminal nb env TMUX_TMPDIR="$U/tmux" "$COFFER" "${run_args[@]}" sh -c 'printf "%s\n" "$1" >files/roster.csv && exec python3 "$2/probe.py" inside "$2" "$2/approved"' \
    sh "$MARK" "$U" >"$WORK/session.log"
  echo "$?" >"$WORK/session.rc"
) &
SESSION=$!
wait_until 40 test -s "$U/approved/pid" || { cat "$WORK/session.log" >&2; fail "the session's probe never reported"; }
PROBE=$(cat "$U/approved/pid")

note "an outside process of the teacher reads the session's memory only if the kernel allows it"
SCOPE=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo absent)
memread=$(nb python3 "$U/memread.py" "$PROBE" "$MARK")
expect_exit 0 nb "$COFFER" status
if [[ $SCOPE == absent || $SCOPE == 0 ]]; then
  note "Yama ptrace_scope is $SCOPE: open, as status says ($memread)"
  expect_output_contains 'memory closed to other programs of this user: no'
else
  [[ $memread == denied* ]] || fail "with ptrace_scope $SCOPE an outside process read the session's memory: $memread"
  expect_output_contains 'memory closed to other programs of this user: yes'
fi
expect_output_contains 'its own network \(loopback only'
expect_output_contains "refusals inside the session: not recorded in the coffer's audit trail"
touch "$U/approved/go"
wait_until 30 test -s "$WORK/session.rc" || fail "run did not end with its program"
wait "$SESSION"
[[ $(cat "$WORK/session.rc") == 0 ]] ||
  { cat "$WORK/session.log" "$U/approved/probe.txt" >&2; fail "the session exited $(cat "$WORK/session.rc")"; }
wait_until 10 not_mounted "$M" || fail "the coffer stayed mounted after the session"
cat "$U/approved/probe.txt"
grep -q '^inside display: sent' "$U/approved/probe.txt" || fail "the display's pathname socket was not reachable"
wait_until 5 grep -q '^display: inside via' "$U/listener.log" || fail "the display listener did not get the session's line"
sleep 0.5   # anything still in flight
for ch in udp abstract bus tmux; do
  if grep -q "^$ch: inside" "$U/listener.log"; then fail "the session reached the outside $ch listener"; fi
done
grep -q '^inside bus: failed' "$U/approved/probe.txt" || fail "the session bus socket was not hidden"
grep -q '^inside tmux: failed' "$U/approved/probe.txt" || fail "the tmux server's socket was not hidden"
grep -q '^inside abstract: failed' "$U/approved/probe.txt" || fail "the outside abstract socket was reachable"
if grep -rqs "$MARK" "$U/desktop" "$WORK/listener.out"; then fail "the roster left the session"; fi

note "the policy can require that no other program can read a session's memory"
set +e
on_terminal "$COFFER" --policy "$WORK/policy-ptrace.toml" run "$C" --mountpoint "$M" --passphrase-file "$PWFILE" \
  -- true >"$WORK/ptrace.log"
rc=$?
set -e
if [[ $SCOPE == absent || $SCOPE == 0 ]]; then
  ((rc == 6)) || { cat "$WORK/ptrace.log" >&2; fail "the policy's ptrace requirement did not refuse ($rc)"; }
  grep -q 'kernel.yama.ptrace_scope = 1' "$WORK/ptrace.log" || { cat "$WORK/ptrace.log" >&2; fail "no remedy named"; }
else
  ((rc == 0)) || { cat "$WORK/ptrace.log" >&2; fail "with ptrace_scope $SCOPE the session was refused ($rc)"; }
fi
not_mounted "$M" || fail "$M is still mounted"

touch "$U/stop"
wait_until 10 no_processes || true
finish
