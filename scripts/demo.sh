#!/usr/bin/env bash
# Fresh machine to a demo: installs dependencies, builds into build/, then
# walks through what IT and a teacher do with a coffer, on a generated,
# obviously fictional school (Northwind Academy, 600 pupils), in a scratch
# folder removed afterwards. Uses the real key-derivation cost (about 0.6 s
# per passphrase). Passphrases come from files only because this is a
# script; people type them at a prompt.
set -euo pipefail
# The demo names its own school policy (--policy), which only root may do
# (everyone else gets /etc/coffer/policy.toml), so it runs as root.
if [ "$(id -u)" -ne 0 ]; then exec sudo -- "$0" "$@"; fi
# Passphrase files must not be readable by others (coffer refuses them).
umask 077
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release >/dev/null
coffer="$PWD/build/cli/coffer"
school="$PWD/build/tools/coffer-demo-school"
work=$(mktemp -d)
# A private runtime directory: `lock --all` below only sees this demo's mount.
export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
trap 'rm -rf "$work"' EXIT
cd "$work"
# The copy guard refuses coffer data to a program whose output goes to a
# file, so if this script's output was redirected to one, it goes through a
# pipe from here on.
exec > >(cat) 2>&1

# The school's policy (root-owned, as coffer requires): where coffer data
# may be copied to: the school's share (here a folder) and IT's check-in
# folder. Nowhere else.
mkdir -p school-share returned Desktop
printf '[copy]\napproved_destinations = ["%s", "%s"]\n' "$work/school-share" "$work/returned" |
  install -m 644 /dev/stdin policy.toml
coffer_policy=("$coffer" --policy "$work/policy.toml")

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

printf 'Recovery-Oak-Harbour-31\nRecovery-Oak-Harbour-31\n' > it.pass
trip_end=$(date -d '+10 days' +%F)

step "The school's MIS export (a generated, fictional school)" \
  "$school" --out mis
head -3 mis/pupils.csv | cut -c1-160
step "IT makes the school's recovery key (once)" \
  "$coffer" keygen --out school-recovery --passphrase-file it.pass
printf 'Audit-Willow-Lantern-58\nAudit-Willow-Lantern-58\n' > dpo.pass
step "The DPO makes the school's audit key (once): only it reads the audit trails" \
  "$coffer" keygen --out school-audit --role audit --passphrase-file dpo.pass

# Eight of 7B's 25 pupils go on the trip.
cat > plan.toml <<TOML
school = "Northwind Academy (fictional)"
helpdesk = "the IT office"
[defaults]
source = "mis"
recovery_key = "school-recovery.pub"
audit_key = "school-audit.pub"

[[coffer]]
name = "trip-museum-jsmith"
owner = "Ms J Smith"
purpose = "trip"
trip_end = $trip_end
pupils = ["P00026", "P00027", "P00028", "P00029", "P00030", "P00031", "P00032", "P00033"]

[[coffer]]
name = "marking-7a-akhan"
owner = "Mr A Khan"
purpose = "marking"
groups = ["7A"]
TOML
step "IT provisions the coffers in the plan" cat plan.toml
step "" "$coffer" provision --plan plan.toml --out out
step "IT keeps the manifest: what left the building" cat out/trip-museum-jsmith.manifest.txt
step "Anyone can see what the coffer is, without the passphrase" \
  "$coffer" info out/trip-museum-jsmith.coffer
echo; echo "== The coffer file holds no readable pupil data:"
surname=$(grep '^P00026,' mis/pupils.csv | cut -d, -f3)
if grep -a -c -e "$surname" -e 'Ethnicity' out/trip-museum-jsmith.coffer; then
  echo "FOUND plaintext"; exit 1
else
  echo "(no match for $surname)"
fi

otp=$(sed -n 's/^One-time passphrase: *//p' out/trip-museum-jsmith.passphrase.txt)
printf '%s\nTr1p-to-the-Museum-2026!\n' "$otp" > first-open.pass
printf 'Tr1p-to-the-Museum-2026!\n' > teacher.pass
mkdir -p mnt
step "The teacher opens it: the one-time passphrase must be replaced first" \
  "${coffer_policy[@]}" open out/trip-museum-jsmith.coffer mnt --passphrase-file first-open.pass
trap '"$coffer" lock --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
step "What she sees" ls -l mnt mnt/pupils
step "The roster: eight pupils, the trip profile's fields" cat mnt/roster.csv
first=$(ls mnt/pupils | grep -F "(P00026)")
step "One pupil's sheet: allergies and medical first" cat "mnt/pupils/$first/profile.txt"
echo; echo "== The records are read-only:"
if echo x >> mnt/roster.csv 2>/dev/null; then echo "WRITABLE"; exit 1; else echo "(refused)"; fi
echo; echo "== She saves a document in files/ and reads it back"
echo "Coach leaves 08:15 from the main gate." > mnt/files/itinerary.txt
cat mnt/files/itinerary.txt
echo; echo "== Copying pupil data out: to the Desktop is refused (and audited); to the school share it works"
if cp mnt/roster.csv Desktop/; then echo "COPIED"; exit 1; fi
step "" cp mnt/roster.csv school-share/
ls -l Desktop school-share
step "Open coffers" "$coffer" status
step "She locks it (it would lock itself after 15 idle minutes)" "$coffer" lock mnt
step "Locked: the folder is empty again" ls -la mnt
echo; echo "== The one-time passphrase no longer opens it (exit 3); hers does:"
printf '%s\n' "$otp" | "$coffer" fsck out/trip-museum-jsmith.coffer --passphrase-file - || echo "exit code $?"
step "" "$coffer" fsck out/trip-museum-jsmith.coffer --passphrase-file teacher.pass
printf 'Recovery-Oak-Harbour-31\nHarbour-Violet-Engine-93\n' > recover.pass
step "She forgets it: IT sets a new one with the school's recovery key" \
  "$coffer" recover out/trip-museum-jsmith.coffer --recovery-key school-recovery.key --passphrase-file recover.pass
printf 'Audit-Willow-Lantern-58\n' > dpo1.pass
step "The DPO reads the audit trail beside the coffer (sealed to the audit key; verified)" \
  "$coffer" audit out/trip-museum-jsmith.coffer --audit-key school-audit.key --verify --passphrase-file dpo1.pass
printf 'Recovery-Oak-Harbour-31\nAudit-Willow-Lantern-58\n' > checkin.pass
step "Back at school: IT checks it in (both trails verified, her files returned, report, wipe)" \
  "${coffer_policy[@]}" checkin out/trip-museum-jsmith.coffer --recovery-key school-recovery.key \
  --audit-key school-audit.key --export returned --passphrase-file checkin.pass
step "The check-in report (the refused copy is in it)" sed -n '/OPENED AND ACCESSED/,$p' returned/trip-museum-jsmith.checkin.txt
step "Her document came back" cat returned/trip-museum-jsmith-files/itinerary.txt
step "The coffer is gone; its audit trail stays with the school" ls -la out
