#!/usr/bin/env bash
# Replay round trip on a real failing campaign (the planted self-test failure):
# run → repro → replay reproduces exactly → shrink keeps the signature and reduces
# → the shrunk repro replays exactly. Then a crashing worker (selftest_crash) loses
# nothing: its seed is journalled as a crash and its captured repro shrinks.
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rc=0; "$mmt" run --seeds 5..6 --ops 800 --set checks.selftest_plant_fork_after_op=200 --set run.shrink=false \
  --out "$dir/o" --quiet >"$dir/run.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^mmtorture: FAIL selftest.planted' "$dir/run.log"
grep -q '^SUMMARY: 2 seeds' "$dir/run.log"
repro=$(ls "$dir"/o/failures/*/5.repro.json)
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
"$mmt" replay --trace "$repro" | grep -q '^  op 0 worker'
# A repro that does not fail (its planted failure switched off) is not "shrunk": shrink
# says so at once, writes nothing and exits 1.
sed 's/"selftest_plant_fork_after_op":200/"selftest_plant_fork_after_op":0/' "$repro" >"$dir/clean.repro.json"
rc=0; "$mmt" shrink "$dir/clean.repro.json" >"$dir/clean-shrink.log" || rc=$?
[ $rc -eq 1 ]
grep -q "^SUMMARY: $dir/clean.repro.json does not reproduce: it runs clean (800 ops); nothing shrunk, nothing written\$" \
  "$dir/clean-shrink.log"
[ ! -e "$dir/clean.min.repro.json" ]
# A crash in the worker: journalled, repro captured by the re-run, shrinkable.
rc=0; "$mmt" run --seeds 1..3 --ops 600 --set checks.selftest_plant_fork_after_op=100 --set checks.selftest_crash=true \
  --set run.shrink=false --out "$dir/c" --quiet >"$dir/crash.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^mmtorture: FAIL crash' "$dir/crash.log"
[ "$(grep -c '"outcome":"crash"' "$dir/c/journal.jsonl")" -eq 3 ]
crash=$(ls "$dir"/c/failures/*/1.repro.json)
[ "$(grep -c '^    \["' "$crash")" -gt 100 ]
# The dead worker's op count is the operations it had begun (it sent no report): the
# repro and the shrink both count them, not 0.
[ "$(jq -r '.ops' "$crash")" -ge 100 ]
"$mmt" shrink "$crash" --attempts 20 >"$dir/crash-shrink.log"
grep -qE '^SUMMARY: choices [0-9]+ -> [0-9]+, ops [0-9]{3,} -> [1-9][0-9]*,' "$dir/crash-shrink.log" \
  || { cat "$dir/crash-shrink.log"; exit 1; }
# Replaying the crash does not crash replay: a worker runs it, and the threads' last
# events up to the crash are printed from memory it shared with us; exit 1.
rc=0; "$mmt" replay "$crash" --trace --last 4 >"$dir/replay-crash.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || { echo "replay of a crash repro exited $rc"; cat "$dir/replay-crash.log"; exit 1; }
grep -q '^SUMMARY: reproduced exactly: crash SIGABRT in mmt::campaign::run_seed (signature ' "$dir/replay-crash.log" \
  || { cat "$dir/replay-crash.log"; exit 1; }
grep -q '^    #[0-9].* FAIL selftest.planted at vm_world.fork' "$dir/replay-crash.log" \
  || { echo "no last events up to the crash"; cat "$dir/replay-crash.log"; exit 1; }
grep -q '^  op 99 ' "$dir/replay-crash.log" || { echo "the worker's trace lines were lost"; exit 1; }
rc=0; "$mmt" replay "$crash" --dump-tree-out "$dir/crash.dot" >"$dir/replay-crash-trees.log" 2>&1 || rc=$?
[ $rc -eq 1 ]
grep -q '^trees: not captured: the worker died before it could send them; nothing written$' "$dir/replay-crash-trees.log" \
  || { cat "$dir/replay-crash-trees.log"; exit 1; }
[ ! -e "$dir/crash.dot" ]
echo "round trip: $before -> $after choices, crash captured"
