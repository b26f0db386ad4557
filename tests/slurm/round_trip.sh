#!/usr/bin/env bash
# tests/slurm/round_trip.sh [MMTORTURE]: deploy/slurm/campaign.sbatch against a real
# Slurm. Starts a single-node cluster from Debian's slurm-wlm and
# munge (installed with apt-get when missing; munged, slurmctld -D, slurmd -D with a
# generated slurm.conf, everything in a scratch folder, ports of their own), then:
#  1. submits an array of 4 tasks over smoke seeds plus its merge job and checks that
#     the merged journal equals a single-machine run of the same seeds (seeds, outcomes,
#     trace hashes) and summary.json says complete;
#  2. cancels one task of a second submission: the merge job names that shard missing
#     and exits 1; re-submitting just that task (it runs with --resume) completes the
#     set, equal to the single-machine run again.
# Stops the daemons it started, by pid, on any exit. Needs root (as CI runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
mmt=$(realpath "${1:-build/default/bin/mmtorture}")
[ -x "$mmt" ] || { echo "round_trip: no mmtorture at $mmt (build first)" >&2; exit 2; }
source tests/slurm/cluster.sh

# seed, outcome, trace hash and signature of each journal line, by seed.
facts() { jq -r '"\(.seed) \(.outcome) \(.trace_hash) \(.signature_id)"' "$1" | sort -n; }

seeds=1..40
run_args="--ops 1000 --quiet"
"$mmt" run configs/smoke.toml --seeds $seeds $run_args --jobs 2 --out "$scratch/local" >"$scratch/local.log"
# "SUMMARY: 40 seeds, N ops": smoke's job mix runs maple and cma seeds too, whose op
# counts differ from the world's, so the merged run must match this run's count.
local_summary=$(grep -oE '^SUMMARY: 40 seeds, [0-9]+ ops' "$scratch/local.log") || fail "local run: no SUMMARY line"
submit() {  # submit OUT TASKS [SBATCH OPTIONS...]: prints "ARRAY MERGE"
  local out=$1
  shift
  MMT_BIN="$mmt" MMT_OUT="$out" MMT_CONFIG=configs/smoke.toml MMT_SEEDS=$seeds MMT_RUN_ARGS="$run_args" \
    deploy/slurm/campaign.sbatch "$@" | sed -E 's/^array job ([0-9]+) .*merge job ([0-9]+):.*/\1 \2/'
}

# 1. The round trip.
started=$(date +%s%N)
read -r array merge < <(submit "$scratch/out" 4)
state=$(wait_job "$merge")
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
echo "round_trip: array $array + merge $merge: $state(${elapsed_ms} ms from submit to merged summary)"
[[ "$state" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "merge job: $state; $(cat "$scratch"/out/logs/merge-*.out)"
for k in 1 2 3 4; do [ -f "$scratch/out/journal.shard-$k-of-4.jsonl" ] || fail "no journal for shard $k"; done
diff <(facts "$scratch/local/journal.jsonl") <(facts "$scratch/out/journal.jsonl") ||
  fail "the merged journal differs from the single-machine run"
[ "$(jq -r '.complete, .counts.seeds, .shards.count' "$scratch/out/summary.json" | tr '\n' ' ')" = "true 40 4 " ] ||
  fail "summary.json: $(cat "$scratch/out/summary.json")"
grep -qF "$local_summary" "$scratch"/out/logs/merge-"$merge".out ||
  fail "merge log: no '$local_summary': $(grep SUMMARY "$scratch"/out/logs/merge-"$merge".out)"

# 2. A lost task: hold the array, cancel task 3 before it starts, release the rest.
read -r array merge < <(submit "$scratch/lost" 4 --hold)
scancel "${array}_3"
scontrol release "$array"
state=$(wait_job "$merge")
[[ "$state" == *"ExitCode=1:0"* ]] || fail "the merge of an incomplete set: $state (wanted exit 1)"
log="$scratch/lost/logs/merge-$merge.out"
grep -qx 'missing: shard 3/4: no journal (seeds 3..39 step 4, 10 seeds)' "$log" || fail "shard 3 not named: $(cat "$log")"
grep -q '^INCOMPLETE: 1 of 4 shards' "$log" || fail "no INCOMPLETE line: $(cat "$log")"
[ ! -e "$scratch/lost/journal.jsonl" ] || fail "an incomplete merge wrote a merged journal"
echo "round_trip: task ${array}_3 cancelled: the merge job named shard 3/4 missing and exited 1"
# Re-submit just that task (tasks run with --resume) and its merge.
read -r array merge < <(MMT_ARRAY=3 submit "$scratch/lost" 4)
state=$(wait_job "$merge")
[[ "$state" == *"JobState=COMPLETED"*"ExitCode=0:0"* ]] || fail "merge after the re-submission: $state; $(cat "$scratch/lost/logs/merge-$merge.out")"
diff <(facts "$scratch/local/journal.jsonl") <(facts "$scratch/lost/journal.jsonl") ||
  fail "the completed set differs from the single-machine run"
echo "round_trip: shard 3 re-submitted alone ($array): the set is complete and equals the single-machine run"
