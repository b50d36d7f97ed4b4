#!/usr/bin/env bash
# The control socket survives rude and odd clients: a client that hangs up
# before its reply (SIGPIPE must not kill the daemon), and a mountpoint whose
# name is not UTF-8 (the JSON reply must not throw).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$WORK/c.coffer
M=$WORK/mnt
make_coffer "$C"
mkdir "$M"
open_coffer "$C" "$M" --idle-seconds 900
pid=$(daemon_pid "$M")
printf 'kept' >"$M/files/kept"

# Ten clients that ask and hang up at once.
sock=$(ls "$XDG_RUNTIME_DIR"/coffer/*.sock)
py '
import socket, sys
for _ in range(10):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"status\n")
    s.close()
' "$sock"
sleep 0.5
pid_alive "$pid" || fail "the daemon died when a client hung up before its reply"
[[ $(cat "$M/files/kept") == kept ]] || fail "the mount stopped answering"

# A second coffer on a mountpoint whose name is not valid UTF-8.
C2=$WORK/c2.coffer
M2=$WORK/$'odd\xffname'
make_coffer "$C2"
mkdir "$M2"
open_coffer "$C2" "$M2" --idle-seconds 900
out=$("$COFFER" status --json)
[[ $(grep -c '"pid"' <<<"$out") == 2 ]] || fail "status does not list both coffers: $out"
pid2=$(grep '"pid"' <<<"$out" | grep -o '[0-9]*' | grep -v "^$pid\$")
pid_alive "$pid2" || fail "status killed the daemon of the odd mountpoint"
# The exact bytes come back: lock finds it by its real path.
"$COFFER" lock "$M2" >/dev/null || fail "coffer lock could not find the odd mountpoint"
wait_until 5 not_mounted "$M2" || fail "the odd mountpoint is still mounted"
lock_coffer "$M"
finish
