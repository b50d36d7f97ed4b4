#!/usr/bin/env bash
# The copy guard's channel × level table (issue 15) says, for each way data
# could leave, which level closes it and which test shows that. This keeps
# the promise checkable: the table is the same in docs/GUARD.md and
# docs/THREAT_MODEL.md, and every test it cites exists (an integration
# script for mount.NAME, a GoogleTest for Suite.Name).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root" <<'PY'
import os, re, sys
root = sys.argv[1]
def block(doc):
    text = open(os.path.join(root, doc)).read()
    m = re.search(r"<!-- channel-table[^>]*-->\n(.*?)<!-- /channel-table -->", text, re.S)
    if not m:
        sys.exit(f"FAIL: {doc} has no channel table between <!-- channel-table --> markers")
    return m.group(1)
guard, threat = block("docs/GUARD.md"), block("docs/THREAT_MODEL.md")
if guard != threat:
    import difflib
    print("".join(difflib.unified_diff(guard.splitlines(True), threat.splitlines(True), "GUARD.md", "THREAT_MODEL.md")))
    sys.exit("FAIL: the channel tables of docs/GUARD.md and docs/THREAT_MODEL.md differ")
rows = [l for l in guard.splitlines() if l.startswith("| ") and not l.startswith("| channel")]
if len(rows) < 20:
    sys.exit(f"FAIL: only {len(rows)} rows in the channel table")
for r in rows:
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]]
    if len(cells) != 4:
        sys.exit(f"FAIL: a row without 4 cells: {r}")
sources = []
for d, _, files in os.walk(os.path.join(root, "tests")):
    for f in files:
        if f.endswith(".cpp"):
            sources.append(open(os.path.join(d, f), errors="replace").read())
code = "\n".join(sources)
missing = []
cited = set(re.findall(r"\bmount\.([a-z_]+)", guard)) | ({"copy_matrix"} if "copy_matrix" in guard else set())
for name in sorted(cited):
    if not os.path.exists(os.path.join(root, "tests/integration", name + ".sh")):
        missing.append(f"mount.{name}")
for suite, test in sorted(set(re.findall(r"\b([A-Z][A-Za-z]+)\.([A-Z][A-Za-z]+)\b", guard))):
    if not re.search(r"TEST(_F|_P)?\(\s*" + suite + r",\s*" + test + r"\s*\)", code):
        missing.append(f"{suite}.{test}")
if missing:
    sys.exit("FAIL: the channel table cites tests that do not exist: " + ", ".join(missing))
print(f"ok: {len(rows)} channels, {len(cited)} integration tests cited, the two documents agree")
PY
