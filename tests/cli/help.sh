#!/usr/bin/env bash
# coffer --help and every subcommand's --help exit 0 with a Usage line; the
# top-level help lists the exit codes; usage errors exit 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$COFFER" --help
expect_stdout_line '^Usage: coffer '
for cmd in keygen create info keys passwd recover fsck wipe; do
  expect_stdout_line "^  $cmd( |\$)"
done
# The exit-code table, each code with its meaning.
expect_output_contains 'Exit codes'
for entry in '0 success' '1 other' '2 usage' '3 wrong passphrase' '4 not a coffer' '5 expired' \
             '6 refused by policy' '7 I/O error' '8 busy' '9 locked out'; do
  expect_output_contains "$entry"
done

for cmd in keygen create info keys passwd recover fsck wipe; do
  expect_exit 0 "$COFFER" "$cmd" --help
  expect_stdout_line "^Usage: coffer $cmd( |\$)"
done
for sub in list add remove; do
  expect_exit 0 "$COFFER" keys "$sub" --help
  expect_stdout_line "^Usage: coffer keys $sub( |\$)"
done
# Commands that take passphrases document --passphrase-file; those that set
# one document --kdf-cost.
for cmd in "keygen" "create" "passwd" "recover" "fsck" "keys add" "keys remove"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$COFFER" $cmd --help
  expect_output_contains '--passphrase-file'
done
for cmd in "keygen" "create" "passwd" "recover" "keys add"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$COFFER" $cmd --help
  expect_output_contains '--kdf-cost'
done

# Usage errors: exit 2 with a message on stderr and nothing done.
expect_exit 2 "$COFFER"
[[ -s $ERR ]] || fail "no subcommand: nothing on stderr"
expect_exit 2 "$COFFER" --no-such-option
[[ -s $ERR ]] || fail "unknown option: nothing on stderr"
expect_exit 2 "$COFFER" frobnicate
expect_exit 2 "$COFFER" info --no-such-option x.coffer
expect_exit 2 "$COFFER" fsck
expect_exit 2 "$COFFER" keys
expect_exit 2 "$COFFER" create x.coffer --owner A --purpose trip --expires "$FUTURE" --kdf-cost cheap
expect_exit 2 "$COFFER" keys add x.coffer --slot 8
[[ ! -e x.coffer ]] || fail "a usage error created x.coffer"

expect_exit 0 "$COFFER" --version
expect_stdout_line '^coffer [0-9]+\.[0-9]+'
echo "help: ok"
