#!/usr/bin/env bash
# Installs every Debian package that coffer's build, tests, demo and benchmarks
# need. Idempotent: when everything is present it prints nothing and exits 0.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries (see README "Dependencies" for why each one)
  libsodium-dev libsqlcipher-dev libssl-dev sqlcipher libcli11-dev libzxcvbn-dev
  libfuse3-dev fuse3 libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
  libpugixml-dev libcsv-dev libmount-dev libsystemd-dev libseccomp-dev
  # tests
  libgtest-dev libgmock-dev faketime xxd
  # the copy-guard scenario matrix (rsync, gio copy as file managers do, python3)
  rsync libglib2.0-bin python3 dbus
  # the stand-in logind of tests/logind (a private bus, python3-dbus + GLib)
  dbus-daemon python3-dbus python3-gi
  # a tracer that a protected session must refuse to start under (tests/integration/session_escapes.sh)
  strace
  # runs the polkit rule (JavaScript) under a stand-in for polkitd (tests/integration/guard_readonly.sh)
  nodejs
  # fuzzing and sanitizers (clang's libFuzzer runtime); the thread-safety build
  clang-14 libclang-rt-14-dev
  # formatting, lint and line coverage (scripts/check-format.sh, tidy-changed.sh, coverage.sh)
  clang-format-14 clang-tidy-14 gcovr
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
