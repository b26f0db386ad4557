#!/usr/bin/env bash
# Bounded exploration as a campaign (schedule.strategy = "bounded") on
# the shipped seed-002 world (configs/seed002-bounded.toml):
# - with the brk-munmap-shortcut defect the race is found, and its bound is minimal:
#   the first failing schedule has 3 preemptions and every slice explored bounds 0..2
#   to the end; the repro replays exactly and shrinks keeping its signature;
# - without it, every schedule with <= 2 preemptions runs clean, the space split into
#   4 slices run in two parts (--seeds 1..2, then --resume --seeds 1..4 with --jobs 2):
#   the slices' counts add up to one whole search's 16,645 schedules (measured with
#   bounded_slices = 1; it changes when the world's yield points do: README has it);
#   with "full" as $3, the same at bound 3 (986,638 schedules, about 12 s on 2
#   cores; its own ctest);
# - a seed that is no slice, and --check-determinism, are refused with exit 2.
set -eu
mmt="$1"
config="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rc=0; "$mmt" run "$config" --defect brk-munmap-shortcut --jobs 2 --set run.shrink=false --out "$dir/found" --quiet \
  >"$dir/found.log" || rc=$?
[ $rc -eq 1 ] || { cat "$dir/found.log"; exit 1; }
grep -q '^mmtorture: FAIL rmap.unstable_vma' "$dir/found.log"
grep -q '^  bounded: 4 of 4 slices explored' "$dir/found.log"
grep -q '^  bounded: first failing schedule has 3 preemptions (seed [1-4]); no failure with <= 2 preemptions: every slice explored them to the end, so 3 is the minimal bound$' \
  "$dir/found.log" || { cat "$dir/found.log"; exit 1; }
grep -q '"failing_bound": 3' "$dir/found/summary.json"
repro=$(ls "$dir"/found/failures/*/*.repro.json | head -1)
rc=0; "$mmt" replay "$repro" >"$dir/replay.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^SUMMARY: reproduced exactly: signature 4cfe0a7e7b76db65' "$dir/replay.log"
"$mmt" shrink "$repro" --attempts 200 | grep -q 'signature 4cfe0a7e7b76db65 kept'
rc=0; "$mmt" replay "${repro%.repro.json}.min.repro.json" >"$dir/replay-min.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^SUMMARY: reproduced exactly: signature 4cfe0a7e7b76db65' "$dir/replay-min.log"

bound=2 schedules=16645
if [ "${3:-}" = full ]; then bound=3 schedules=986638; fi
clean=(run "$config" --set schedule.bounded_preemptions=$bound --out "$dir/clean" --quiet)
"$mmt" "${clean[@]}" --seeds 1..2 >"$dir/half.log"
grep -q '^  bounded: space not exhausted: not every slice ran to its bound$' "$dir/half.log"
"$mmt" "${clean[@]}" --seeds 1..4 --jobs 2 --resume >"$dir/clean.log"
grep -q '^resuming: 2 seeds already' "$dir/clean.log"
grep -q "^  bounded: no failure with <= $bound preemptions in $schedules schedules (space exhausted)\$" "$dir/clean.log" \
  || { cat "$dir/clean.log"; exit 1; }
grep -q '"exhausted": true' "$dir/clean/summary.json"

rc=0; "$mmt" run "$config" --seeds 1..5 --out "$dir/bad" --quiet 2>"$dir/bad.err" >/dev/null || rc=$?
[ $rc -eq 2 ]
grep -q 'are not all slices: bounded exploration has schedule.bounded_slices = 4' "$dir/bad.err"
rc=0; "$mmt" run "$config" --check-determinism --out "$dir/bad2" --quiet 2>/dev/null >/dev/null || rc=$?
[ $rc -eq 2 ]
echo "bounded: race found at its minimal bound 3, clean world exhausted at bound $bound in $schedules schedules over 4 slices"
