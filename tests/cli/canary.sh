#!/usr/bin/env bash
# Secrets stay secret on disk: no passphrase in any file or message, the
# owner's name only in the plaintext header (never readable in the encrypted
# payload), no temporary files left behind, and 0600 modes for secret files
# whatever the umask.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Commands get a private temporary directory, which must stay empty.
private_tmp=$WORK/private-tmp
mkdir "$private_tmp"
export TMPDIR=$private_tmp SQLITE_TMPDIR=$private_tmp

tag=$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')
name="canary-$tag.coffer"
owner='Mrs Philippa Canary-Wright'

# New entries in a shared temporary directory that look like ours.
tmp_entries() {  # DIR
  # Other tests' own work folders (ctest runs them in parallel) are not ours.
  # shellcheck disable=SC2010
  ls -A1 -- "$1" 2>/dev/null | grep -iE "coffer|canary-$tag" |
    grep -vE '^(coffer-cli-test\.|coffer-test-|coffer-mnt\.|coffer-demo-school-test\.)' | sort || true
}
before_tmp=$(tmp_entries /tmp)
before_vartmp=$(tmp_entries /var/tmp)

# Secret files are 0600 even under a permissive umask.
umask 000
expect_exit 0 "$COFFER" keygen --out school --role recovery --kdf-cost test \
  --passphrase-file "$(pwfile keygen.pw "$PW_SCHOOL")"
[[ $(stat -c %a school.key) == 600 ]] || fail "school.key has mode $(stat -c %a school.key), expected 600"
# The public half is meant to be shared, but never writable by others.
[[ $(( 0$(stat -c %a school.pub) & 022 )) -eq 0 ]] || fail "school.pub is writable by others"

expect_exit 0 "$COFFER" create "$name" --owner "$owner" --purpose trip --expires "$FUTURE" \
  --recovery-key school.pub --kdf-cost test --passphrase-file "$(pwfile create.pw "$PW1")"
[[ $(stat -c %a "$name") == 600 ]] || fail "the new coffer has mode $(stat -c %a "$name"), expected 600"
umask 077

# Every operation that writes the file keeps it 0600.
expect_exit 0 "$COFFER" keys add "$name" --kdf-cost test --passphrase-file "$(pwfile add.pw "$PW1" "$PW2")"
expect_exit 0 "$COFFER" passwd "$name" --kdf-cost test --passphrase-file "$(pwfile passwd.pw "$PW2" "$PW3")"
expect_fsck 3 "$name" "$PW4"
expect_fsck 0 "$name" "$PW1"
expect_exit 0 "$COFFER" recover "$name" --recovery-key school.key --kdf-cost test \
  --passphrase-file "$(pwfile recover.pw "$PW_SCHOOL" "$PW4")"
expect_fsck 0 "$name" "$PW4"
[[ $(stat -c %a "$name") == 600 ]] || fail "the coffer's mode changed to $(stat -c %a "$name")"

# Wrong passphrases and a weak refusal never echo the passphrase.
expect_fsck 3 "$name" "$PW2"
expect_output_lacks "$PW2"
expect_exit 6 "$COFFER" passwd "$name" --kdf-cost test --passphrase-file "$(pwfile weak.pw "$PW4" password1)"
expect_output_lacks password1
expect_output_lacks "$PW4"

# --- No passphrase, in any form we can grep, in any file the commands wrote.
for pw in "$PW1" "$PW2" "$PW3" "$PW4" "$PW_SCHOOL"; do
  for f in "$name" school.key school.pub; do
    n=$(grep -c -a -F -- "$pw" "$f" || true)
    [[ $n -eq 0 ]] || fail "a passphrase appears in $f ($n matches)"
    # Also not as UTF-16LE, or with its case changed (a sloppy encoder).
    u16=$(printf '%s' "$pw" | od -An -v -tx1 | tr -d ' \n' | sed 's/../&00/g')
    if [[ $(od -An -v -tx1 -- "$f" | tr -d ' \n') == *"$u16"* ]]; then
      fail "a passphrase appears in $f as UTF-16"
    fi
    if grep -q -a -i -F -- "$pw" "$f"; then fail "a passphrase appears in $f (case changed)"; fi
  done
done

# --- The owner is a plaintext header field (info shows it without a
# passphrase) but the database's own copy of it is encrypted: it occurs in
# the header area only, never in the payload.
expect_exit 0 "$COFFER" info --json "$name"
expect_json owner "$owner"
n=$(tail -c +8193 "$name" | grep -c -a -F -- "$owner" || true)
[[ $n -eq 0 ]] || fail "the owner's name appears in the encrypted payload"
n=$(tail -c +8193 "$name" | grep -c -a -F -- "coffer_meta" || true)
[[ $n -eq 0 ]] || fail "a table name appears in plaintext in the payload"
n=$(tail -c +8193 "$name" | grep -c -a -F -- "SQLite format 3" || true)
[[ $n -eq 0 ]] || fail "the payload has a plaintext SQLite header"
n=$(head -c 8192 "$name" | grep -c -a -F -- "$owner" || true)
[[ $n -ge 1 ]] || fail "the owner is not in the header (did the canary test lose its target?)"

# --- No temporary files anywhere.
[[ -z $(listing "$private_tmp") ]] || fail "files left in TMPDIR: $(listing "$private_tmp" | tr '\n' ' ')"
after_tmp=$(tmp_entries /tmp)
new_tmp=$(comm -13 <(echo "$before_tmp") <(echo "$after_tmp"))
[[ -z $new_tmp ]] || fail "files left in /tmp: $new_tmp"
after_vartmp=$(tmp_entries /var/tmp)
new_vartmp=$(comm -13 <(echo "$before_vartmp") <(echo "$after_vartmp"))
[[ -z $new_vartmp ]] || fail "files left in /var/tmp: $new_vartmp"
# ...and nothing next to the coffer but what we made.
expected=$(printf '%s\n' .last-stderr .last-stdout add.pw create.pw keygen.pw passwd.pw \
  private-tmp recover.pw school.key school.pub weak.pw "$name" | sort)
got=$(listing . | sort)
[[ $got == "$expected" ]] || fail "unexpected files next to the coffer: $(comm -13 <(echo "$expected") <(echo "$got") | tr '\n' ' ')"
echo "canary: ok"
