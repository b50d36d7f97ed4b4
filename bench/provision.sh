#!/usr/bin/env bash
# Bulk provisioning benchmark: `coffer provision` of a 50-coffer plan drawn
# from a generated 10,000-pupil school, at the default Argon2 cost (what is
# measured against the target) and again with --kdf-cost test (to separate
# the passphrase KDF from the import and the rest). Not a test (not in
# ctest): it prints figures, recorded in docs/PERFORMANCE.md.
#
# Usage:  bench/provision.sh [BENCH_DIR]
#   BENCH_DIR  scratch directory on the disk under test
#              (default $BENCH_DIR or /var/tmp/coffer-provision-bench);
#              no whitespace. Root is not needed.
# Environment:
#   PUPILS=10000   pupils in the generated school (coffer-demo-school)
#   COFFERS=50     coffers in the plan: 40 % trip, 20 % trip-local,
#                  30 % marking, 10 % home-working (50 -> 20/10/15/5)
#   MIN_PUPILS=8 MAX_PUPILS=60  pupils per coffer, spread evenly over the range
#   SEED=1         seed of the school and of the plan (same seed, same plan)
#   TARGET=60      seconds allowed for the whole plan at the default cost
#   TEST_COST=1    0 skips the second run with --kdf-cost test
#   KDF_SAMPLES=3  lone `coffer create` pairs timing one KDF (0 skips them)
#   COFFER=path        coffer binary (default build/cli/coffer of this checkout)
#   DEMO_SCHOOL=path   coffer-demo-school (default build/tools/coffer-demo-school)
#   TIME_BIN=/usr/bin/time  GNU time for the peak RSS ("none": sample VmHWM)
#
# What is timed: the whole `coffer provision --plan plan.toml --out DIR`
# process (wall clock, from fork to exit), and each coffer as provision
# prints it ("[i/N] name ok: P pupils, expires D (S s)", 0.1 s resolution).
# The same per-coffer intervals are also taken from the mtimes of the
# NAME.passphrase.txt files, which provision writes last for each coffer
# (millisecond resolution; the first coffer's interval is counted from the
# previous file, so it is left out there). Untimed: making the school, the
# school's recovery key pair (keygen at test cost) and the plan.
# Peak RSS of the provision process comes from /usr/bin/time -v, or, without
# it, from VmHWM in /proc/PID/status sampled every 0.1 s until the process
# exits (which can miss growth in its last 0.1 s).
# Before each run the output directory is emptied (provision skips coffers
# that an earlier run made). The coffers are deleted at the end; the plan,
# provision's output and results.tsv stay in BENCH_DIR.
# For reference, the cost of one passphrase derivation alone is taken from
# KDF_SAMPLES pairs of `coffer create` of an empty coffer at the default and
# at the test cost (the difference is the KDF; untimed otherwise).
# cleanup is called from traps only:
# shellcheck disable=SC2317
set -uo pipefail

PUPILS=${PUPILS:-10000}
COFFERS=${COFFERS:-50}
MIN_PUPILS=${MIN_PUPILS:-8}
MAX_PUPILS=${MAX_PUPILS:-60}
SEED=${SEED:-1}
TARGET=${TARGET:-60}
TEST_COST=${TEST_COST:-1}
KDF_SAMPLES=${KDF_SAMPLES:-3}
TIME_BIN=${TIME_BIN:-/usr/bin/time}
here=$(cd "$(dirname "$0")" && pwd)
COFFER=${COFFER:-$here/../build/cli/coffer}
DEMO_SCHOOL=${DEMO_SCHOOL:-$here/../build/tools/coffer-demo-school}
BENCH_DIR=${1:-${BENCH_DIR:-/var/tmp/coffer-provision-bench}}
KEY_PASS='Recovery-Oak-Harbour-31'
COFFER_PASS='Bench-Lantern-Quartz-58'

die() { echo "provision.sh: $*" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

[[ $BENCH_DIR != *[[:space:]]* ]] || die "BENCH_DIR must not contain whitespace"
for n in PUPILS COFFERS MIN_PUPILS MAX_PUPILS SEED TARGET KDF_SAMPLES; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer"
done
((COFFERS >= 1 && MIN_PUPILS >= 1 && MIN_PUPILS <= MAX_PUPILS)) ||
  die "need COFFERS >= 1 and 1 <= MIN_PUPILS <= MAX_PUPILS"
((PUPILS >= 6 * 2 * MAX_PUPILS)) || die "PUPILS=$PUPILS is too few for MAX_PUPILS=$MAX_PUPILS"
[[ -x $COFFER ]] || die "no coffer binary at $COFFER (cmake --build build --target coffer)"
[[ -x $DEMO_SCHOOL ]] || die "no coffer-demo-school at $DEMO_SCHOOL (cmake --build build --target coffer-demo-school)"
command -v python3 >/dev/null || die "python3 is needed (plan generation and the summary)"
"$COFFER" provision --help >/dev/null 2>&1 || die "$COFFER has no provision command"

mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)
exec 9>"$BENCH_DIR/.lock"
flock -n 9 || die "another provision.sh is running in $BENCH_DIR"

read -r load1 _ </proc/loadavg
log "load average (1 min) at start: $load1 on $(nproc) cores"
awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' &&
  log "WARNING: the machine is busy; figures will be noisy (other builds or tests running?)"

# ---------------------------------------------------------------- layout
MIS=$BENCH_DIR/mis                  # pupils.csv, contacts.csv
PLAN=$BENCH_DIR/plan.toml
EXPECTED=$BENCH_DIR/expected.tsv    # name <TAB> purpose <TAB> pupils the plan selects
RESULTS=$BENCH_DIR/results.tsv      # run <TAB> key <TAB> value
bg_pid=''

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [[ -n $bg_pid ]] && kill "$bg_pid" 2>/dev/null && wait "$bg_pid" 2>/dev/null
  # The coffers hold fictional data only, but they are large; the plan,
  # the logs and results.tsv stay.
  rm -rf -- "$BENCH_DIR/out-default" "$BENCH_DIR/out-test" "$BENCH_DIR/kdf"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- inputs (untimed)
rm -rf -- "$MIS" "$BENCH_DIR/out-default" "$BENCH_DIR/out-test"
log "generating a $PUPILS-pupil school (seed $SEED)"
"$DEMO_SCHOOL" --out "$MIS" --pupils "$PUPILS" --seed "$SEED" >&2 || die "coffer-demo-school failed"

log "making the school's recovery key (keygen at test cost: not what is measured)"
rm -f -- "$BENCH_DIR/school.pub" "$BENCH_DIR/school.key"
printf '%s\n%s\n' "$KEY_PASS" "$KEY_PASS" >"$BENCH_DIR/keypass"; chmod 600 "$BENCH_DIR/keypass"
"$COFFER" keygen --out "$BENCH_DIR/school" --passphrase-file "$BENCH_DIR/keypass" --kdf-cost test >/dev/null ||
  die "coffer keygen failed"

log "writing the plan: $COFFERS coffers, $MIN_PUPILS-$MAX_PUPILS pupils each"
python3 - "$MIS/pupils.csv" "$PLAN" "$EXPECTED" "$COFFERS" "$MIN_PUPILS" "$MAX_PUPILS" "$SEED" \
  "$(date -d '+3 days' +%F)" <<'EOF' || die "plan generation failed"
# Deterministic for a given school, seed and date. Trips (and local trips)
# are explicit key lists sampled from one year group, avoiding pupils whose
# only contact has no phone (every 97th); one trip includes such a pupil and
# sets allow_missing = true. Marking and home-working take whole
# registration groups plus extra keys, or keys only when the coffer is
# smaller than a group.
import csv, random, sys
pupils_csv, plan_path, expected_path = sys.argv[1:4]
n_coffers, lo, hi, seed = map(int, sys.argv[4:8])
trip_end = sys.argv[8]

rows = list(csv.DictReader(open(pupils_csv, newline="")))
keys = [r["PupilKey"] for r in rows]
no_phone = {k for i, k in enumerate(keys) if (i + 1) % 97 == 0}
by_year, by_group = {}, {}
for r in rows:
    by_year.setdefault(r["NCyearActual"], []).append(r["PupilKey"])
    by_group.setdefault(r["RegGroup"], []).append(r["PupilKey"])
# What a group selects: pupils whose registration group or one of whose
# classes has that name (classes here are "7A/Ma3", so only the reg group).
selects = {}
for r in rows:
    for g in {r["RegGroup"]} | set(filter(None, (r["Classes"] or "").split(";"))):
        selects.setdefault(g, set()).add(r["PupilKey"])
def members(g):
    return selects[g]
groups_of_year = {}
for r in rows:
    if r["RegGroup"] not in groups_of_year.setdefault(r["NCyearActual"], []):
        groups_of_year[r["NCyearActual"]].append(r["RegGroup"])

rng = random.Random(seed)
split = {"trip": 0.4, "trip-local": 0.2, "marking": 0.3}
purposes = []
for p, share in split.items():
    purposes += [p] * round(n_coffers * share)
purposes = (purposes + ["home-working"] * n_coffers)[:n_coffers]
counts = [lo + round(i * (hi - lo) / max(1, n_coffers - 1)) for i in range(n_coffers)]
rng.shuffle(purposes)
rng.shuffle(counts)

def q(xs):
    return "[" + ", ".join('"%s"' % x for x in xs) + "]"

out = ['school = "Northwind Academy (fictional)"', "",
       "[defaults]", 'source = "mis"', 'recovery_key = "school.pub"', ""]
expected = []
seen = {}
allow_missing_done = False
for i, (purpose, n) in enumerate(zip(purposes, counts), 1):
    seen[purpose] = seen.get(purpose, 0) + 1
    name = "%s-%02d" % (purpose, seen[purpose])
    year = rng.choice(sorted(by_year))
    entry = ["[[coffer]]", 'name = "%s"' % name, 'owner = "Teacher %02d"' % i,
             'purpose = "%s"' % purpose]
    if purpose.startswith("trip"):
        entry.append("trip_end = %s" % trip_end)
        pool = [k for k in by_year[year] if k not in no_phone]
        pick = sorted(rng.sample(pool, n))
        if purpose == "trip" and not allow_missing_done:
            missing = sorted(k for k in by_year[year] if k in no_phone)[0]
            pick = sorted(pick[:-1] + [missing])
            entry.append("allow_missing = true          # %s has no contact phone" % missing)
            allow_missing_done = True
        entry.append("pupils = " + q(pick))
        selected = set(pick)
    else:
        gs = sorted(groups_of_year[year])
        rng.shuffle(gs)
        chosen, selected = [], set()
        for g in gs:
            m = members(g)
            if len(selected | m) <= n:
                chosen.append(g)
                selected |= m
            if n - len(selected) < 20:
                break
        extra = sorted(rng.sample([k for k in by_year[year] if k not in selected], n - len(selected)))
        selected |= set(extra)
        if chosen:
            entry.append("groups = " + q(chosen))
        if extra:
            entry.append("pupils = " + q(extra))
    assert len(selected) == n, (name, len(selected), n)
    out += entry + [""]
    expected.append((name, purpose, n))

open(plan_path, "w").write("\n".join(out))
with open(expected_path, "w") as f:
    for e in expected:
        f.write("%s\t%s\t%d\n" % e)
EOF

# ---------------------------------------------------------------- runs
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

run_provision() {  # RUN (default|test)
  local run=$1 out=$BENCH_DIR/out-$1 t0 t1 rc peak='' hwm
  local stdout=$BENCH_DIR/provision-$1.out stderr=$BENCH_DIR/provision-$1.err tv=$BENCH_DIR/time-$1.txt
  local cost=(); [[ $run == test ]] && cost=(--kdf-cost test)
  rm -rf -- "$out" "$tv"
  sync
  log "== provision, KDF cost $run: $COFFERS coffers -> $out"
  t0=$EPOCHREALTIME
  if [[ -x $TIME_BIN ]]; then
    "$TIME_BIN" -v -o "$tv" "$COFFER" provision --plan "$PLAN" --out "$out" "${cost[@]}" >"$stdout" 2>"$stderr" &
    bg_pid=$!; wait "$bg_pid"; rc=$?; bg_pid=''
    t1=$EPOCHREALTIME
    peak=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv")
    record "$run" rss_source "$TIME_BIN -v"
  else
    "$COFFER" provision --plan "$PLAN" --out "$out" "${cost[@]}" >"$stdout" 2>"$stderr" &
    bg_pid=$!
    peak=0
    while kill -0 "$bg_pid" 2>/dev/null; do
      hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$bg_pid/status" 2>/dev/null)
      [[ -n $hwm ]] && ((hwm > peak)) && peak=$hwm
      sleep 0.1
    done
    wait "$bg_pid"; rc=$?; bg_pid=''
    t1=$EPOCHREALTIME
    record "$run" rss_source "VmHWM sampled every 0.1 s"
  fi
  record "$run" rc "$rc"
  record "$run" wall "$(elapsed "$t0" "$t1")"
  [[ -n $peak ]] && record "$run" rss_kib "$peak"
  record "$run" out_bytes "$(du -sb "$out" 2>/dev/null | cut -f1)"
  record "$run" out_coffer_bytes "$(cat "$out"/*.coffer 2>/dev/null | wc -c)"
  record "$run" out_files "$(find "$out" -type f 2>/dev/null | wc -l)"
  # Per-coffer intervals from the mtimes of the passphrase files, in plan order.
  local name mt=''
  while IFS=$'\t' read -r name _ _; do
    mt+="$name $(stat -c %.9Y "$out/$name.passphrase.txt" 2>/dev/null || echo -)"$'\n'
  done <"$EXPECTED"
  printf '%s' "$mt" >"$BENCH_DIR/mtimes-$run.txt"
  log "   exit $rc after $(elapsed "$t0" "$t1") s; output in $stdout"
  ((rc == 0)) || { log "   provision FAILED; first errors:"; head -n 5 "$stderr" >&2; }
  tail -n 1 "$stdout" >&2
}

run_provision default
[[ $TEST_COST == 0 ]] || run_provision test

# One passphrase derivation on its own: create an empty coffer at each cost.
kdf_once() {  # COST -> seconds on stdout
  local f=$BENCH_DIR/kdf/one.coffer t0 t1
  rm -f -- "$f"
  t0=$EPOCHREALTIME
  "$COFFER" create "$f" --owner Bench --purpose marking --passphrase-file "$BENCH_DIR/kdf/pass" \
    --kdf-cost "$1" >/dev/null 2>>"$BENCH_DIR/kdf.err" || return 1
  t1=$EPOCHREALTIME
  rm -f -- "$f"
  elapsed "$t0" "$t1"
}
if ((KDF_SAMPLES > 0)); then
  log "== $KDF_SAMPLES x coffer create of an empty coffer at the default and at the test cost"
  rm -rf -- "$BENCH_DIR/kdf"; mkdir -p "$BENCH_DIR/kdf"; : >"$BENCH_DIR/kdf.err"
  printf '%s\n' "$COFFER_PASS" >"$BENCH_DIR/kdf/pass"; chmod 600 "$BENCH_DIR/kdf/pass"
  for ((i = 0; i < KDF_SAMPLES; i++)); do
    if ! d=$(kdf_once default) || ! t=$(kdf_once test); then
      log "   coffer create failed: $(tail -1 "$BENCH_DIR/kdf.err")"; break
    fi
    record kdf create_default "$d"; record kdf create_test "$t"
    log "   default ${d} s, test ${t} s"
  done
fi

# ---------------------------------------------------------------- summary
python3 - "$BENCH_DIR" "$RESULTS" "$EXPECTED" "$TARGET" "$PUPILS" "$(nproc)" <<'EOF'
import os, re, statistics, sys
bench, results, expected_path, target, pupils, cores = sys.argv[1:7]
target = float(target)
res, kdf = {}, {}
for line in open(results):
    run, key, val = line.rstrip("\n").split("\t")
    if run == "kdf":
        kdf.setdefault(key, []).append(float(val))
    else:
        res.setdefault(run, {})[key] = val
expected = [l.rstrip("\n").split("\t") for l in open(expected_path)]
want = {name: (purpose, int(n)) for name, purpose, n in expected}
line_re = re.compile(r"^\[(\d+)/(\d+)\] (\S+) ok: (\d+) pupils, expires (\S+) \(([\d.]+) s\)$")

def stats(xs):
    return (min(xs), statistics.median(xs), max(xs), statistics.mean(xs))

summary, problems = {}, []
for run in ("default", "test"):
    if run not in res:
        continue
    r = res[run]
    got = {}
    for l in open(os.path.join(bench, "provision-%s.out" % run)):
        m = line_re.match(l.rstrip("\n"))
        if m:
            got[m.group(3)] = (int(m.group(4)), float(m.group(6)))
    missing = [n for n in want if n not in got]
    wrong = [n for n in want if n in got and got[n][0] != want[n][1]]
    if r["rc"] != "0" or missing or wrong:
        problems.append("%s: exit %s, %d coffers not made%s%s" % (
            run, r["rc"], len(missing), ", pupil counts differ from the plan: " if wrong else "",
            ", ".join("%s %d != %d" % (n, got[n][0], want[n][1]) for n in wrong[:5])))
    printed = [got[n][1] for n in want if n in got]
    # mtime intervals (ms resolution), coffer 2..N
    mts = []
    for l in open(os.path.join(bench, "mtimes-%s.txt" % run)):
        name, t = l.split()
        mts.append(None if t == "-" else float(t))
    ivals = [b - a for a, b in zip(mts, mts[1:]) if a is not None and b is not None]
    by_purpose = {}
    for n, (p, _) in want.items():
        if n in got:
            by_purpose.setdefault(p, []).append(got[n][1])
    summary[run] = dict(
        wall=float(r["wall"]), made=len(got), printed=printed, ivals=ivals, by_purpose=by_purpose,
        rss=int(r["rss_kib"]) / 1024 if r.get("rss_kib") else None, rss_source=r.get("rss_source", ""),
        out_bytes=int(r.get("out_bytes") or 0), coffer_bytes=int(r.get("out_coffer_bytes") or 0),
        files=int(r.get("out_files") or 0))

n = len(want)
counts = [c for _, c in want.values()]
print()
print("plan: %d coffers from a %s-pupil school (%s), %d-%d pupils each, mean %.1f, %d in all" % (
    n, pupils, ", ".join("%d %s" % (sum(1 for p, _ in want.values() if p == q), q)
                         for q in ("trip", "trip-local", "marking", "home-working")),
    min(counts), max(counts), statistics.mean(counts), sum(counts)))
print("machine: %s cores; outputs on %s" % (cores, bench))
print()
rows = [("", "default KDF cost", "--kdf-cost test")]
def col(f):
    return tuple(f(summary[r]) if r in summary else "not run" for r in ("default", "test"))
def fmt_stats(xs, unit="s", digits=2):
    if not xs:
        return "-"
    a, b, c, d = stats(xs)
    return "%.*f / %.*f / %.*f (mean %.*f)" % (digits, a, digits, b, digits, c, digits, d)
rows.append(("coffers made",) + col(lambda s: "%d of %d" % (s["made"], n)))
rows.append(("total wall time (s)",) + col(lambda s: "%.2f" % s["wall"]))
rows.append(("wall time / coffer (s)",) + col(lambda s: "%.3f" % (s["wall"] / n)))
rows.append(("per coffer, printed (s) min/med/max",) + col(lambda s: fmt_stats(s["printed"], digits=1)))
rows.append(("per coffer, file mtimes (s) min/med/max",) + col(lambda s: fmt_stats(s["ivals"], digits=3)))
rows.append(("sum of printed per-coffer (s)",) + col(lambda s: "%.1f" % sum(s["printed"])))
for p in ("trip", "trip-local", "marking", "home-working"):
    rows.append(("  median, %s (s)" % p,) + col(
        lambda s, p=p: "%.1f" % statistics.median(s["by_purpose"][p]) if s["by_purpose"].get(p) else "-"))
rows.append(("peak RSS of provision (MiB)",) + col(lambda s: "%.1f" % s["rss"] if s["rss"] is not None else "-"))
rows.append(("output directory (MiB)",) + col(lambda s: "%.1f" % (s["out_bytes"] / 1048576)))
rows.append(("  of which .coffer files (MiB)",) + col(lambda s: "%.1f" % (s["coffer_bytes"] / 1048576)))
rows.append(("  files",) + col(lambda s: str(s["files"])))
w = [max(len(r[i]) for r in rows) for i in range(3)]
for i, r in enumerate(rows):
    print(" | ".join(x.ljust(w[j]) if j == 0 else x.rjust(w[j]) for j, x in enumerate(r)))
    if i == 0:
        print("-+-".join("-" * x for x in w))
if "default" in summary:
    print()
    print("peak RSS from %s" % summary["default"]["rss_source"])
if "default" in summary and "test" in summary:
    d, t = summary["default"], summary["test"]
    kdf_per = (d["wall"] - t["wall"]) / n
    print("KDF share: (%.2f - %.2f) s / %d = %.3f s per coffer at the default cost, "
          "%.0f %% of the total; the rest (import, container, manifests, fsyncs) is %.3f s per coffer"
          % (d["wall"], t["wall"], n, kdf_per, 100 * (d["wall"] - t["wall"]) / d["wall"], t["wall"] / n))
if kdf.get("create_default") and kdf.get("create_test"):
    pairs = [a - b for a, b in zip(kdf["create_default"], kdf["create_test"])]
    print("one KDF alone (coffer create of an empty coffer, default minus test cost, %d pairs): "
          "%.3f / %.3f / %.3f s min/med/max (create at default cost: median %.3f s)"
          % (len(pairs), min(pairs), statistics.median(pairs), max(pairs),
             statistics.median(kdf["create_default"])))
if problems:
    print()
    for p in problems:
        print("ERROR: " + p)
print()
if "default" in summary and not problems:
    wall = summary["default"]["wall"]
    if wall < target:
        print("PASS: %d coffers in %.2f s at the default KDF cost (target < %.0f s, %.1f s to spare)"
              % (n, wall, target, target - wall))
    else:
        print("FAIL: %d coffers in %.2f s at the default KDF cost (target < %.0f s, %.1f s over)"
              % (n, wall, target, wall - target))
else:
    print("FAIL: the default-cost run did not make every coffer of the plan (see above and %s)" % bench)
    sys.exit(1)
sys.exit(0 if summary["default"]["wall"] < target else 1)
EOF
summary_rc=$?
log "raw results: $RESULTS; plan: $PLAN; provision output: $BENCH_DIR/provision-*.out"
exit "$summary_rc"
