#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A failure on the kernel backend (a differential divergence: the model's gap search with
# the empty-area-skips-last-slot canary against the kernel's) replays exactly from its
# repro, shrinks, and the shrunk repro replays exactly.
set -eu
mmt="$1"
config="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rc=0; "$mmt" run "$config" --seeds 1 --ops 2000 --defect empty-area-skips-last-slot --set run.shrink=false \
  --out "$dir/o" --quiet >"$dir/run.log" || rc=$?
[ $rc -eq 1 ] || { echo "expected a failing run, got exit $rc"; cat "$dir/run.log"; exit 1; }
grep -q '^mmtorture: FAIL maple.diverged' "$dir/run.log"
repro=$(ls "$dir"/o/failures/*/1.repro.json)
rc=0; "$mmt" replay "$repro" >"$dir/replay.log" || rc=$?
[ $rc -eq 1 ]
grep -q 'SUMMARY: reproduced exactly' "$dir/replay.log"
"$mmt" shrink "$repro" --attempts 300 >"$dir/shrink.log"
line=$(grep '^SUMMARY: choices' "$dir/shrink.log")
before=$(sed -E 's/SUMMARY: choices ([0-9]+) -> ([0-9]+).*/\1/' <<<"$line")
after=$(sed -E 's/SUMMARY: choices ([0-9]+) -> ([0-9]+).*/\2/' <<<"$line")
[ "$after" -lt "$before" ] || { echo "shrink did not reduce: $line"; exit 1; }
rc=0; "$mmt" replay "${repro%.repro.json}.min.repro.json" >"$dir/replay-min.log" || rc=$?
[ $rc -eq 1 ]
grep -q 'SUMMARY: reproduced exactly' "$dir/replay-min.log"
