#!/usr/bin/env bash
# The audit's cost on reads, in a real mount (root, /dev/fuse): N small
# files in files/, read by one process twice. The first pass opens each file
# for the first time in this process (one audit event each: a sidecar record
# sealed to the audit key and fdatasync'ed, and a hash-chain row); the
# second pass opens them again (repeated reads by one process are one event:
# nothing is written). Their difference is the audit's cost per event. Also
# prints one large file's read throughput (one event for the whole file).
# Not a test: figures go to docs/PERFORMANCE.md.
#
# Usage: sudo bench/audit.sh [N]   (default 500; COFFER=path to override the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
COFFER=${COFFER:-$PWD/build/cli/coffer}
W=$(mktemp -d /tmp/coffer-audit-bench.XXXXXX)
M=$W/mnt
trap 'set +e; "$COFFER" lock "$M" >/dev/null 2>&1; rm -rf "$W"' EXIT
export XDG_RUNTIME_DIR=$W HOME=$W
PW='Tr1p-Lantern-Okapi-Paris-26'
printf '%s\n' "$PW" >"$W/pw"
printf 'Audit-Lamp-Quartz-77\n' >"$W/ak"
chmod 600 "$W/pw" "$W/ak"
"$COFFER" keygen --out "$W/audit" --role audit --kdf-cost test --passphrase-file "$W/ak" >/dev/null
"$COFFER" create "$W/b.coffer" --owner Bench --purpose home-working --kdf-cost test \
  --audit-key "$W/audit.pub" --passphrase-file "$W/pw" >/dev/null
mkdir "$M"
"$COFFER" open "$W/b.coffer" "$M" --passphrase-file "$W/pw" --idle-seconds 900 >/dev/null
python3 - "$M/files" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(f"{d}/f{i:05d}.txt", "wb") as f:
        f.write(os.urandom(4096))
with open(f"{d}/big.bin", "wb") as f:
    for _ in range(64):
        f.write(os.urandom(1 << 20))
PY
"$COFFER" lock "$M" >/dev/null
"$COFFER" open "$W/b.coffer" "$M" --passphrase-file "$W/pw" --idle-seconds 900 >/dev/null
python3 - "$M/files" "$N" <<'PY'
import sys, time
d, n = sys.argv[1], int(sys.argv[2])
def read_all():
    t = time.perf_counter()
    for i in range(n):
        with open(f"{d}/f{i:05d}.txt", "rb") as f:
            f.read()
    return time.perf_counter() - t
first = read_all()
second = read_all()
t = time.perf_counter()
with open(f"{d}/big.bin", "rb") as f:
    while f.read(1 << 20):
        pass
big = time.perf_counter() - t
print(f"{n} files of 4 KiB, first open by this process (audited): {first:.3f} s, {first / n * 1000:.2f} ms each")
print(f"the same files again (already audited, nothing written):   {second:.3f} s, {second / n * 1000:.2f} ms each")
print(f"audit cost per first open: {(first - second) / n * 1000:.2f} ms; ratio first/second: {first / second:.2f}x")
print(f"64 MiB file, one audit event: {64 / big:.0f} MiB/s")
PY
"$COFFER" lock "$M" >/dev/null
printf 'Audit-Lamp-Quartz-77\n' >"$W/ak2"
chmod 600 "$W/ak2"
"$COFFER" audit "$W/b.coffer" --audit-key "$W/audit.key" --passphrase-file "$W/ak2" --json | grep -c '"kind":"open-file"' |
  sed 's/^/open-file events recorded: /'
