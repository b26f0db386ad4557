#!/usr/bin/env bash
# workload.job_mix: a campaign of several jobs. Each seed's job follows from
# its number (slot seed mod W of the weights, the jobs in the order listed) and is in its
# journal line; a failing maple seed of a mixed campaign has a repro of the maple job
# alone (its job_set applied, no mix left) that replays exactly and shrinks without
# changing job; the summary has a coverage line per job.
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/mix.toml" <<'TOML'
[workload]
job_mix = ["world:2", "maple:1"]
job_set = ["maple:run.ops_per_seed=300", "maple:faults.nowait_fail_probability=0.05"]
maple_alloc_range = true
maple_prefill = 256

[run]
ops_per_seed = 200
TOML
rc=0
"$mmt" run "$dir/mix.toml" --seeds 1..6 --defect empty-area-skips-last-slot --set run.shrink=false --jobs 2 \
  --out "$dir/o" >"$dir/run.log" || rc=$?
[ $rc -eq 1 ] || { echo "run exit $rc"; cat "$dir/run.log"; exit 1; }
grep -q 'job mix world:2,maple:1,' "$dir/run.log" || { echo "no mix in the banner"; head -3 "$dir/run.log"; exit 1; }
jobs=$(jq -r '"\(.seed):\(.job)"' "$dir/o/journal.jsonl" | sort -n | tr '\n' ' ')
[ "$jobs" = "1:world 2:maple 3:world 4:world 5:maple 6:world " ] || { echo "jobs per seed: $jobs"; exit 1; }
# The defect is in the maple tree's gap search, which only the maple seeds reach.
failing=$(jq -r 'select(.outcome != "clean") | "\(.seed):\(.job)"' "$dir/o/journal.jsonl" | sort -n | tr '\n' ' ')
[ "$failing" = "2:maple 5:maple " ] || { echo "failing seeds: $failing"; exit 1; }
grep -q '^  coverage, world job: injection sites' "$dir/run.log"
grep -q '^  coverage, maple job: injection sites' "$dir/run.log"
# The same seeds give the same jobs and outcomes on one process, in reverse order.
"$mmt" run "$dir/mix.toml" --seeds 1..6 --defect empty-area-skips-last-slot --set run.shrink=false --jobs 1 \
  --out "$dir/again" --quiet >/dev/null || true
diff <(jq -r '"\(.seed) \(.job) \(.outcome) \(.trace_hash)"' "$dir/o/journal.jsonl" | sort -n) \
  <(jq -r '"\(.seed) \(.job) \(.outcome) \(.trace_hash)"' "$dir/again/journal.jsonl" | sort -n)
# The maple seed's repro is the maple job's config alone.
repro=$(jq -r 'select(.seed == 5) | .repro' "$dir/o/journal.jsonl")
[ "$(jq -r '.config.workload.job' "$repro")" = maple ]
[ "$(jq -c '.config.workload.job_mix' "$repro")" = '[]' ]
[ "$(jq -c '.config.workload.job_set' "$repro")" = '[]' ]
[ "$(jq -r '.config.run.ops_per_seed' "$repro")" = 300 ]
rc=0; "$mmt" replay "$repro" >"$dir/replay.log" || rc=$?
[ $rc -eq 1 ]
grep -q 'SUMMARY: reproduced exactly' "$dir/replay.log"
"$mmt" shrink "$repro" --attempts 200 >"$dir/shrink.log"
min="${repro%.repro.json}.min.repro.json"
[ "$(jq -r '.config.workload.job' "$min")" = maple ]
rc=0; "$mmt" replay "$min" >"$dir/replay-min.log" || rc=$?
[ $rc -eq 1 ]
grep -q 'SUMMARY: reproduced exactly' "$dir/replay-min.log"
echo "job mix: seeds $jobs; maple repro replays and shrinks as the maple job"
