#!/usr/bin/env bash
# Fresh machine to a demo: installs dependencies, builds into build/, then
# walks through what IT and a teacher do with a coffer, in a scratch folder
# (removed afterwards). Uses the real key-derivation cost (about 0.6 s per
# passphrase). Passphrases come from files only because this is a script;
# people type them at a prompt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release >/dev/null
coffer="$PWD/build/cli/coffer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

printf 'Recovery-Oak-Harbour-31\n' > it.pass
printf 'Tr1p-to-Paris-2026!\n' > teacher.pass
printf 'Tr1p-to-Paris-2026!\nLantern-Meadow-Quartz-58\n' > passwd.pass
printf 'Recovery-Oak-Harbour-31\nHarbour-Violet-Engine-93\n' > recover.pass
printf 'Harbour-Violet-Engine-93\n' > recovered.pass
expires=$(date -d '+14 days' +%F)

step "IT makes the school's recovery key (once)" \
  "$coffer" keygen --out school-recovery --passphrase-file it.pass
step "IT creates a coffer for Ms Smith's Paris trip" \
  "$coffer" create paris-trip.coffer --owner "Ms Smith" --purpose trip --expires "$expires" \
  --recovery-key school-recovery.pub --passphrase-file teacher.pass
step "Anyone can see what the coffer is, without the passphrase" \
  "$coffer" info paris-trip.coffer
step "The key slots" "$coffer" keys list paris-trip.coffer
step "The teacher changes her passphrase" \
  "$coffer" passwd paris-trip.coffer --passphrase-file passwd.pass
echo; echo "== A wrong passphrase is refused (exit 3) and counted"
printf 'not-the-passphrase\n' | "$coffer" fsck paris-trip.coffer --passphrase-file - || echo "exit code $?"
"$coffer" info paris-trip.coffer --json | grep failed_attempts
step "She forgets it: IT sets a new one with the school's recovery key" \
  "$coffer" recover paris-trip.coffer --recovery-key school-recovery.key --passphrase-file recover.pass
step "Check the coffer's integrity" \
  "$coffer" fsck paris-trip.coffer --passphrase-file recovered.pass
echo; echo "== The file holds no readable pupil data or passphrase:"
if grep -a -c -e 'Tr1p-to-Paris' -e 'Harbour-Violet' paris-trip.coffer; then
  echo "FOUND plaintext"; exit 1
else
  echo "(no match)"
fi
mkdir -p mnt
step "The teacher opens it as a folder" \
  "$coffer" open paris-trip.coffer mnt --passphrase-file recovered.pass
trap '"$coffer" lock --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
step "What she sees" ls -l mnt mnt/files
step "The folder explains itself" cat mnt/README.txt
echo; echo "== She saves a document in files/ and reads it back"
echo "Minibus leaves 07:30 from the main gate." > mnt/files/itinerary.txt
cat mnt/files/itinerary.txt
step "Open coffers" "$coffer" status
step "She locks it (it would lock itself after 15 idle minutes)" "$coffer" lock mnt
step "Locked: the folder is empty again" ls -la mnt
echo; echo "== Nothing she wrote is readable in the coffer file:"
if grep -a -c 'Minibus leaves' paris-trip.coffer; then echo "FOUND plaintext"; exit 1; else echo "(no match)"; fi
step "After the trip: wipe it (crypto-erase)" "$coffer" wipe paris-trip.coffer --yes
ls -la
