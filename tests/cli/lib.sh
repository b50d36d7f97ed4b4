# Shared helpers for the end-to-end CLI tests (tests/cli/*.sh). Each test
# sources this file with the path of the coffer binary as $1; it gets its own
# temporary directory in $WORK, removed on exit.
# shellcheck disable=SC2034  # the variables are used by the scripts
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH-TO-COFFER-BINARY" >&2
  exit 2
fi
COFFER=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-cli-test.XXXXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
cd "$WORK"

# libfaketime is an LD_PRELOAD library: under ASan (the CI's second run) the
# sanitizer must be told not to insist on being first.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# Passphrases zxcvbn rates above the 50-bit minimum (used by
# the scripts that source this file).
PW1='Tr1p-Lantern-Okapi-Paris-26'
PW2='Marking-Lamp-Quartz-77'
PW3='Harbour-Violet-Compass-58'
PW4='Lantern-Otter-Glacier-19'
PW_SCHOOL='Recovery-Oak-Harbour-31'
# Within every built-in profile's limits (trip-local allows 7 days).
FUTURE=$(date -d '+5 days' +%F)

# Output and status of the last run_cmd/expect_exit.
OUT=$WORK/.last-stdout
ERR=$WORK/.last-stderr
STATUS=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Dumps the last command's output (used on failure).
show_last() {
  echo "--- stdout:" >&2
  cat "$OUT" >&2 || true
  echo "--- stderr:" >&2
  cat "$ERR" >&2 || true
  echo "---" >&2
}

# run_cmd CMD...: runs CMD with stdin from /dev/null, keeps its output in
# $OUT/$ERR and its status in $STATUS, never exits the script.
run_cmd() {
  set +e
  "$@" </dev/null >"$OUT" 2>"$ERR"
  STATUS=$?
  set -e
}

# expect_exit CODE CMD...: fails the test unless CMD exits with CODE.
expect_exit() {
  local want=$1
  shift
  run_cmd "$@"
  if [[ $STATUS -ne $want ]]; then
    echo "FAIL: expected exit $want, got $STATUS from: $*" >&2
    show_last
    exit 1
  fi
}

# expect_exit_stdin CODE INPUT-FILE CMD...: like expect_exit, stdin from a file.
expect_exit_stdin() {
  local want=$1 input=$2
  shift 2
  set +e
  "$@" <"$input" >"$OUT" 2>"$ERR"
  STATUS=$?
  set -e
  if [[ $STATUS -ne $want ]]; then
    echo "FAIL: expected exit $want, got $STATUS from: $* <$input" >&2
    show_last
    exit 1
  fi
}

# expect_output_contains TEXT: stdout or stderr of the last command contains
# TEXT (a fixed string, case-insensitive).
expect_output_contains() {
  # grep reads the files itself: with pipefail, `cat | grep -q` can fail
  # when grep exits early and cat gets SIGPIPE.
  if ! grep -qiF -- "$1" "$OUT" "$ERR"; then
    echo "FAIL: the output does not contain '$1'" >&2
    show_last
    exit 1
  fi
}

expect_output_lacks() {
  if grep -qiF -- "$1" "$OUT" "$ERR"; then
    echo "FAIL: the output unexpectedly contains '$1'" >&2
    show_last
    exit 1
  fi
}

# expect_stdout_line REGEX: some line of stdout matches REGEX (grep -E).
expect_stdout_line() {
  if ! grep -qE -- "$1" "$OUT"; then
    echo "FAIL: no line of stdout matches /$1/" >&2
    show_last
    exit 1
  fi
}

# pwfile NAME LINE...: writes a passphrase file, one line each; prints its path.
pwfile() {
  local name=$1
  shift
  printf '%s\n' "$@" >"$WORK/$name"
  chmod 600 "$WORK/$name"
  echo "$WORK/$name"
}

# json_field KEY: a top-level scalar of the last command's `info --json`
# output (pretty-printed with two-space indentation), quotes removed.
json_field() {
  local line
  line=$(grep -E "^  \"$1\": " "$OUT" || true)
  [[ -n $line ]] || { echo "FAIL: no top-level JSON field '$1'" >&2; show_last; exit 1; }
  line=${line#*\": }
  line=${line%,}
  line=${line#\"}
  line=${line%\"}
  printf '%s\n' "$line"
}

# expect_json KEY VALUE: after `info --json`, the field KEY equals VALUE.
expect_json() {
  local got
  got=$(json_field "$1")
  if [[ $got != "$2" ]]; then
    echo "FAIL: info --json $1 is '$got', expected '$2'" >&2
    show_last
    exit 1
  fi
}

# make_coffer PATH PASSPHRASE [create options...]: a fresh coffer, test cost.
make_coffer() {
  local path=$1 pw=$2
  shift 2
  local f
  f=$(pwfile ".create-pw" "$pw")
  expect_exit 0 "$COFFER" create "$path" --owner 'Ms A. Teacher' --purpose trip \
    --expires "$FUTURE" --kdf-cost test --passphrase-file "$f" "$@"
  rm -f "$f"
  [[ -f $path ]] || fail "create exited 0 but $path does not exist"
}

# fsck_with PATH PASSPHRASE: runs fsck with one passphrase; result in $STATUS.
fsck_with() {
  local f
  f=$(pwfile ".fsck-pw" "$2")
  run_cmd "$COFFER" fsck "$1" --passphrase-file "$f"
  rm -f "$f"
}

# expect_fsck CODE PATH PASSPHRASE
expect_fsck() {
  fsck_with "$2" "$3"
  if [[ $STATUS -ne $1 ]]; then
    echo "FAIL: expected fsck $2 to exit $1, got $STATUS" >&2
    show_last
    exit 1
  fi
}

# byte_at FILE OFFSET: the unsigned value of one byte.
byte_at() {
  od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' \n'
}

# set_byte FILE OFFSET VALUE: overwrites one byte in place.
set_byte() {
  printf '%b' "\\x$(printf '%02x' "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# flip_byte FILE OFFSET: inverts every bit of one byte.
flip_byte() {
  local v
  v=$(byte_at "$1" "$2")
  [[ -n $v ]] || fail "offset $2 is beyond the end of $1"
  set_byte "$1" "$2" $((v ^ 0xff))
}

# header_copy FILE A|B: prints the bytes of one header copy as hex.
header_copy_hex() {
  local skip=0
  [[ $2 == B ]] && skip=4096
  od -An -v -tx1 -j "$skip" -N 4096 -- "$1" | tr -d ' \n'
}

# copies_identical FILE: both 4096-byte header copies are byte-identical.
copies_identical() {
  [[ $(header_copy_hex "$1" A) == "$(header_copy_hex "$1" B)" ]]
}

# file_size FILE
file_size() {
  stat -c %s -- "$1"
}

# has_b2sum: whether BLAKE2b with a chosen length is available (coreutils).
has_b2sum() {
  command -v b2sum >/dev/null && [[ $(printf '' | b2sum -l 256 | cut -c1-8) == 0e5751c0 ]]
}

# reseal_copy_checksum FILE A|B: recomputes one copy's checksum (BLAKE2b-256
# of bytes [0, 4064) stored at 4064), as a newer build would have written it.
reseal_copy_checksum() {
  local base=0 sum
  [[ $2 == B ]] && base=4096
  sum=$(dd if="$1" bs=1 skip="$base" count=4064 status=none | b2sum -l 256 | cut -d' ' -f1)
  printf '%s' "$sum" | xxd -r -p | dd of="$1" bs=1 seek=$((base + 4064)) conv=notrunc status=none
}

# random_file FILE BYTES
random_file() {
  head -c "$2" /dev/urandom >"$1"
}

# listing DIR: every entry, hidden ones too, one a line.
listing() {
  ls -A1 -- "$1"
}

# soft_check FUNCTION: runs a test case in a subshell; a failure is counted
# and reported but does not stop the script (so one product bug cannot hide
# the next). Call soft_check_summary at the end. The case must fail through
# the helpers here (they exit explicitly), not by relying on set -e.
SOFT_FAILED=()
soft_check() {
  if ( "$@" ); then
    echo "ok: $1"
  else
    echo "FAILED: $1" >&2
    SOFT_FAILED+=("$1")
  fi
}
soft_check_summary() {
  if [[ ${#SOFT_FAILED[@]} -gt 0 ]]; then
    fail "${#SOFT_FAILED[@]} case(s) failed: ${SOFT_FAILED[*]}"
  fi
}

# at DAYS CMD...: runs CMD with the clock DAYS days from now (libfaketime).
at() {
  local days=$1
  shift
  faketime -f "@$(date -d "+$days days" '+%F %T')" "$@"
}

# with_etc_coffer DIR CMD...: runs CMD in a private mount namespace where
# DIR is /etc/coffer (the school's system policy and profiles), so a test can
# give an unprivileged user a custom system policy without touching the
# machine's. When /etc/coffer does not exist, /etc is overlaid (upper layer
# on a private tmpfs) to make the mount point. Needs root; CMD drops to the
# test user itself (runuser).
with_etc_coffer() {
  local dir=$1
  shift
  unshare -m --propagation private bash -c '
    set -e
    dir=$1 ovl=$2
    shift 2
    if [[ ! -d /etc/coffer ]]; then
      mkdir -p "$ovl"
      mount -t tmpfs tmpfs "$ovl"
      mkdir "$ovl/upper" "$ovl/work"
      mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ovl/upper,workdir=$ovl/work" /etc
      mkdir /etc/coffer
    fi
    mount --bind "$dir" /etc/coffer
    exec "$@"' with_etc_coffer "$dir" "$WORK/.etc-overlay" "$@"
}
