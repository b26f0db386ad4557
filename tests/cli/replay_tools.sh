#!/usr/bin/env bash
# replay --last and --dump-tree on a real failing campaign (the planted self-test
# failure, preempt schedule so the workers interleave): every worker's last events in
# spawn order, the failing one's ending with its fork and the FAIL line; --last 0
# prints none and replays to the same trace; --dump-tree=dot writes a digraph beside
# the repro, one cluster per live mm, no temp file left; a bad format exits 2.
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rc=0; "$mmt" run --seeds 1..1 --ops 600 --set checks.selftest_plant_fork_after_op=150 --set run.shrink=false \
  --set schedule.strategy=preempt --set schedule.preempt_probability=0.3 --set workload.workers=4 \
  --out "$dir/o" --quiet >"$dir/run.log" || rc=$?
[ $rc -eq 1 ]
repro=$(ls "$dir"/o/failures/*/1.repro.json)

rc=0; "$mmt" replay "$repro" --last 5 --dump-tree=dot >"$dir/replay.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^SUMMARY: reproduced exactly' "$dir/replay.log"
grep -q '^last 5 events of each thread before the failure' "$dir/replay.log"
# One block per thread, in spawn order (kswapd0 starts before the workers).
sed -n '/^last 5 events/,/^SUMMARY/p' "$dir/replay.log" >"$dir/last.log"
[ "$(grep -E "^  T[0-9]+ '" "$dir/last.log" | sed -E "s/^  (T[0-9]+ '[a-z0-9]+').*/\1/" | tr '\n' ' ')" = \
  "T1 'kswapd0' T2 'worker0' T3 'worker1' T4 'worker2' T5 'worker3' " ] || { cat "$dir/last.log"; exit 1; }
# The failing worker's block ends with its fork and the failure.
grep -B1 '^    #[0-9]* *[0-9]* ms  FAIL selftest.planted at vm_world.fork: planted failure: fork at op' "$dir/replay.log" \
  | head -1 | grep -Eq '^    #[0-9]+ +[0-9]+ ms  op [0-9]+ worker[0-9]+ fork (mm|slot) ' || { sed -n '/^last/,$p' "$dir/replay.log"; exit 1; }
[ "$(grep -c '^    #' "$dir/replay.log")" -le 30 ]  # at most --last per thread and the scheduler's stack
trace=$(sed -nE 's/^SUMMARY: .* trace ([0-9a-f]{16}).*/\1/p' "$dir/replay.log")

# The trees: beside the repro, named in the output, one cluster per mm, nothing half-written.
dot="${repro%.json}.trees.dot"
grep -q "^trees at the failure ([0-9]*, Graphviz): $dot\$" "$dir/replay.log"
grep -q '^digraph mmtorture_trees {$' "$dot"
# The failure is the graph's label; the planted failure names the forking mm, whose
# cluster is the one drawn in red.
grep -q '^  label="mmtorture: FAIL selftest.planted ([0-9a-f]*) at vm_world.fork: planted failure: fork at op' "$dot"
[ "$(grep -c '^    label="mm [0-9]* (slot [0-9]*): .*: named by the failure (mm [0-9]*)";$' "$dot")" -eq 1 ]
[ "$(grep -c '^    color=red;$' "$dot")" -eq 1 ]
[ "$(tail -1 "$dot")" = "}" ]
clusters=$(grep -c '^  subgraph cluster_mm[0-9]* {$' "$dot")
[ "$clusters" -ge 1 ]
[ "$clusters" -le 4 ]
grep -q "^trees at the failure ($clusters, Graphviz)" "$dir/replay.log"
[ "$(grep -c '^  subgraph ' "$dot")" -eq "$clusters" ]
[ -z "$(ls "$(dirname "$repro")" | grep -v -e '\.repro\.json$' -e '\.trees\.dot$')" ]
if command -v dot >/dev/null; then dot -Tsvg "$dot" >/dev/null; fi

# --last 0: no events, same run.
rc=0; "$mmt" replay "$repro" --last 0 >"$dir/quiet.log" || rc=$?
[ $rc -eq 1 ]
if grep -q '^last ' "$dir/quiet.log"; then echo "--last 0 printed events"; exit 1; fi
grep -q "^SUMMARY: reproduced exactly: .* trace $trace" "$dir/quiet.log"
if grep -q '^trees at' "$dir/quiet.log"; then echo "no --dump-tree, yet trees were written"; exit 1; fi

# --dump-tree-out picks the file (and implies dot).
mkdir "$dir/t"
rc=0; "$mmt" replay "$repro" --last 0 --dump-tree-out "$dir/t/x.dot" >/dev/null || rc=$?
[ $rc -eq 1 ]
cmp -s "$dot" "$dir/t/x.dot"

# Bad input: one line, exit 2.
rc=0; "$mmt" replay "$repro" --dump-tree=png >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
[ $rc -eq 2 ]
[ "$(wc -l <"$dir/bad.err")" -eq 1 ]
[ ! -s "$dir/bad.out" ]
grep -q "^mmtorture: --dump-tree: unknown format 'png' (known: dot, svg)$" "$dir/bad.err"
rc=0; "$mmt" replay "$repro" --last=-1 2>/dev/null || rc=$?
[ $rc -eq 2 ]
echo "replay tools: $clusters trees, trace $trace"
