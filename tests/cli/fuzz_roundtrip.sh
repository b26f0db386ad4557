#!/usr/bin/env bash
# A fuzz_world input and a repro are the same thing (design.md §1): a corpus input with
# a planted failure replays as raw bytes, is written as a repro that replays exactly,
# and the repro exported back to bytes replays to the same signature and trace.
set -euo pipefail
mmt=$1
corpus=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
plant=checks.selftest_plant_fork_after_op=20

"$mmt" replay --fuzz-input "$corpus" | grep -q '^SUMMARY: ran clean'
set +e
"$mmt" replay --fuzz-input "$corpus" --set "$plant" --write-repro "$dir/a.repro.json" > "$dir/bytes.txt"
status=$?
set -e
test $status -eq 1
sig=$(sed -n 's/^SUMMARY: failed: signature \([0-9a-f]*\), trace \([0-9a-f]*\)$/\1 \2/p' "$dir/bytes.txt")
test -n "$sig"
"$mmt" replay "$dir/a.repro.json" > "$dir/repro.txt" || test $? -eq 1
grep -q "^SUMMARY: reproduced exactly: signature ${sig% *}, trace ${sig#* }" "$dir/repro.txt"
"$mmt" export-fuzz "$dir/a.repro.json" "$dir/a.bin" > /dev/null
# Without --fuzz-input, raw bytes are not taken for a repro that "ran clean".
set +e
"$mmt" replay "$dir/a.bin" > /dev/null 2>&1
status=$?
set -e
test $status -eq 2
set +e
"$mmt" replay --fuzz-input "$dir/a.bin" --set "$plant" > "$dir/again.txt"
status=$?
set -e
test $status -eq 1
grep -q "^SUMMARY: failed: signature ${sig% *}, trace ${sig#* }" "$dir/again.txt"
echo "fuzz round trip: signature and trace ${sig} kept"
