#!/usr/bin/env bash
# Pages appended to a coffer are damage, not "unused pages": fsck used to
# accept 64 GiB of page-aligned, zero-padded pages appended as what an
# interrupted commit leaves. Now a page past the database's end must be one
# SQLite wrote there under the coffer's key (its page HMAC), so zero pages
# are refused at the first one (exit 4), at once, whatever their number.
# (What an interrupted commit really leaves is a note: tests/vault
# TailTest and the mount's kill trials.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PWF=$(pwfile pw "$PW1")
expect_exit 0 "$COFFER" create a.coffer --owner 'Ms Jones' --purpose trip --expires "$FUTURE" \
  --kdf-cost test --passphrase-file "$PWF"
expect_exit 0 "$COFFER" fsck a.coffer --passphrase-file "$PWF"
size=$(file_size a.coffer)

# Three zero pages.
cp a.coffer three.coffer
head -c $((3 * 16384)) /dev/zero >>three.coffer
expect_exit 4 "$COFFER" fsck three.coffer --passphrase-file "$PWF"
expect_output_contains 'appended or lost'
expect_output_lacks 'unused pages'

# 64 GiB of zero pages (sparse: nothing is written to disk).
cp a.coffer big.coffer
if truncate -s $((size + (64 << 30))) big.coffer 2>/dev/null; then
  start=$SECONDS
  expect_exit 4 "$COFFER" fsck big.coffer --passphrase-file "$PWF"
  expect_output_contains 'appended or lost'
  expect_output_lacks 'unused pages'
  ((SECONDS - start < 30)) || fail "fsck took $((SECONDS - start)) s over 64 GiB of appended zeros"
  rm -f big.coffer
else
  echo "note: this filesystem cannot hold a 64 GiB sparse file; skipped that case"
fi

# A random page appended: damage as before.
cp a.coffer rand.coffer
head -c 16384 /dev/urandom >>rand.coffer
expect_exit 4 "$COFFER" fsck rand.coffer --passphrase-file "$PWF"
expect_output_contains 'appended or lost'
echo "appended: ok"
