#!/usr/bin/env bash
# The mount locks when logind says the machine is going to sleep (holding a
# delay inhibitor until the lock is done), when the session is locked, and
# when logind reports the user idle. Runs a private bus with a stand-in
# logind (fake_logind.py), so it needs no system bus.
set -euo pipefail
coffer="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
mnt="$work/mnt"
cleanup() {
  "$coffer" lock --all >/dev/null 2>&1 || true
  grep -q " $mnt " /proc/mounts && umount -l "$mnt" 2>/dev/null || true
  [ -n "${bus_pid:-}" ] && kill "$bus_pid" 2>/dev/null || true
  [ -n "${logind_pid:-}" ] && kill "$logind_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$work/state" >&2 2>/dev/null || true; exit 1; }

export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR" "$mnt"
dbus-daemon --session --address="unix:path=$work/bus" --nofork --nopidfile &
bus_pid=$!
for _ in $(seq 50); do [ -S "$work/bus" ] && break; sleep 0.1; done
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$work/bus"
/usr/bin/python3 "$here/fake_logind.py" "$work/state" &
logind_pid=$!
for _ in $(seq 50); do grep -q ready "$work/state" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/state" || fail "the stand-in logind did not start"

printf 'Tr1p-Lantern-Okapi-Paris-26\n' > "$work/pw"
chmod 600 "$work/pw"
"$coffer" create "$work/t.coffer" --owner T --purpose trip --expires "$(date -d '+30 days' +%F)" \
  --passphrase-file "$work/pw" --kdf-cost test >/dev/null

call() { dbus-send --bus="$DBUS_SYSTEM_BUS_ADDRESS" --print-reply --dest=org.freedesktop.login1 /test "org.coffer.Test.$1" "${@:2}" >/dev/null; }
wait_unmounted() {
  for _ in $(seq 100); do grep -q " $mnt " /proc/mounts || return 0; sleep 0.1; done
  fail "still mounted after $1"
}

# 1. Sleep: locks, and only then lets the machine sleep.
"$coffer" open "$work/t.coffer" "$mnt" --passphrase-file "$work/pw" >/dev/null
grep -q "inhibit taken sleep delay" "$work/state" || fail "no delay inhibitor was taken"
call EmitSleep
wait_unmounted "PrepareForSleep"
for _ in $(seq 50); do grep -q "inhibit released" "$work/state" && break; sleep 0.1; done
grep -q "inhibit released" "$work/state" || fail "the sleep inhibitor was not released after locking"
echo "ok: locked before sleep, then released the inhibitor"

# 2. Session lock (screen lock).
"$coffer" open "$work/t.coffer" "$mnt" --passphrase-file "$work/pw" >/dev/null
call EmitLock
wait_unmounted "the session Lock signal"
echo "ok: locked with the screen"

# 3. logind's idle hint, longer than the idle timeout (60 s), locks it.
"$coffer" open "$work/t.coffer" "$mnt" --passphrase-file "$work/pw" --idle-seconds 60 >/dev/null
sleep 1
grep -q " $mnt " /proc/mounts || fail "locked before the user was idle"
call SetIdleFor uint64:120
for _ in $(seq 120); do grep -q " $mnt " /proc/mounts || break; sleep 0.1; done
wait_unmounted "IdleHint"
echo "ok: locked when logind reported the user idle"
"$coffer" fsck "$work/t.coffer" --passphrase-file "$work/pw" >/dev/null || fail "fsck after the logind locks"
