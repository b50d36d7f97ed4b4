#!/usr/bin/env bash
# Keys in locked memory: in a live mount made by the teacher (nobody), no
# copy of the coffer's master key, SQLCipher raw key or SQLCipher's page
# HMAC key lies outside locked memory (VmFlags "lo" in /proc/PID/smaps),
# SQLCipher's and OpenSSL's own copies included (issue 14, item 5c); and the teacher's own other processes (malware as the teacher)
# cannot read the filesystem process's smaps or memory at all (it is not
# dumpable). The scan itself runs as root, the only user who can read that
# memory. After lock the process is gone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PRINT_KEYS=$(dirname "$COFFER")/../tests/support/coffer-test-print-keys
[[ -x $PRINT_KEYS ]] || fail "no key printer at $PRINT_KEYS"
command -v runuser >/dev/null || fail "runuser is missing"
command -v fusermount3 >/dev/null || fail "fusermount3 is missing"
desktop_fuse_mode   # /dev/fuse 0666 as on desktops (lib.sh says why)

as_nobody
C=$U/keys.coffer
M=$U/mnt

expect_exit 0 nb "$COFFER" create "$C" --owner 'Mr B. Teacher' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$U/pw"
expect_exit 0 nb "$COFFER" open "$C" "$M" --passphrase-file "$U/pw" --idle-seconds 900
# Use the database: files written, read back, listed (pages encrypted,
# decrypted and checked).
expect_exit 0 nb sh -c 'for i in 1 2 3 4 5; do head -c 300000 /dev/urandom >"$1/files/f$i"; done; \
  cat "$1"/files/f* 2>&1 | wc -c | cat; ls "$1/files" | cat; cat "$1/README.txt" >/dev/null' sh "$M"
expect_exit 0 nb "$COFFER" status --json
pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["pid"])' "$OUT")
pid_alive "$pid" || fail "no filesystem process"

# The teacher's other processes cannot read it.
expect_exit 1 nb sh -c 'cat "/proc/$1/smaps" >/dev/null 2>&1 || exit 1' sh "$pid"
expect_exit 1 nb python3 -c 'import sys; open("/proc/%s/mem" % sys.argv[1], "rb").read(1)' "$pid"

keys=$("$PRINT_KEYS" "$C" <"$U/pw") || fail "the key printer failed"
if grep -q 'libasan' "/proc/$pid/maps"; then
  echo "note: ASan build: mlock is a no-op under AddressSanitizer; locked copies not checked"
else
  # shellcheck disable=SC2086
  python3 - "$pid" "$C" $keys <<'PY' || fail "a copy of a key lies outside locked memory"
import hashlib, re, sys
pid = int(sys.argv[1])
keys = [bytes.fromhex(k) for k in sys.argv[3:]]
# SQLCipher's page HMAC key: PBKDF2-HMAC-SHA1(raw key, salt XOR 0x3a, 2, 32),
# the salt being the first 16 bytes of the database (docs/FORMAT.md).
with open(sys.argv[2], "rb") as f:
    f.seek(8192)
    salt = bytes(b ^ 0x3a for b in f.read(16))
keys.append(hashlib.pbkdf2_hmac("sha1", keys[1], salt, 2, 32))
names = ["master key", "SQLCipher raw key", "SQLCipher HMAC key"]
vmas, cur = [], None
for line in open("/proc/%d/smaps" % pid):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if m:
        cur = {"start": int(m[1], 16), "end": int(m[2], 16), "perms": m[3], "name": m[4], "flags": ""}
        vmas.append(cur)
    elif line.startswith("VmFlags:"):
        cur["flags"] = line.split()[1:]
mem = open("/proc/%d/mem" % pid, "rb", 0)
found, bad = 0, []
for v in vmas:
    if "r" not in v["perms"] or v["name"] in ("[vvar]", "[vsyscall]"):
        continue
    try:
        mem.seek(v["start"])
        data = mem.read(v["end"] - v["start"])
    except OSError:
        continue
    for name, k in zip(names, keys):
        i = data.find(k)
        while i >= 0:
            found += 1
            if "lo" not in v["flags"]:
                bad.append("%s at %#x in %s %s (%s)" % (name, v["start"] + i, v["perms"], v["name"] or "[anon]", " ".join(v["flags"])))
            i = data.find(k, i + 1)
print("key copies found: %d, outside locked memory: %d" % (found, len(bad)))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
fi

expect_exit 0 nb "$COFFER" lock "$M"
! is_mounted "$M" || fail "still mounted after lock"
wait_until 5 pid_gone "$pid" || fail "the filesystem process $pid is still running after lock"
finish
