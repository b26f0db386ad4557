#!/usr/bin/env bash
# One journal, one campaign: a second run into a used --out is
# refused without --resume or --force (exit 2, one line, journal untouched); a second
# campaign while the first still writes the journal is refused even with --force; the
# shards of one campaign share an output root at the same time.
set -eu
mmt="$1"
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

source "$(dirname "$0")/refusal.sh"

args=(run --seeds 1..6 --ops 300 --quiet)
"$mmt" "${args[@]}" --out "$dir/a" >/dev/null
before=$(cksum <"$dir/a/journal.jsonl")
expect_refusal "$dir/a/journal.jsonl: a campaign already wrote this journal: --resume continues it, --force starts over" \
  "$mmt" "${args[@]}" --out "$dir/a"
[ "$(cksum <"$dir/a/journal.jsonl")" = "$before" ] || fail "the refused run changed the journal"
# --resume continues the seeds it was started with; other seeds would be counted as run.
expect_refusal "$dir/a/journal.jsonl: seed: journal holds seed 1, which --seeds 3..8 (shard 1/1) does not run" \
  "$mmt" run --seeds 3..8 --ops 300 --quiet --out "$dir/a" --resume
[ "$(cksum <"$dir/a/journal.jsonl")" = "$before" ] || fail "the refused resume changed the journal"
"$mmt" "${args[@]}" --out "$dir/a" --resume | grep -q '^resuming: 6 seeds already in' || fail "--resume"
"$mmt" "${args[@]}" --out "$dir/a" --force | grep -q '^SUMMARY: 6 seeds' || fail "--force"
[ "$(wc -l <"$dir/a/journal.jsonl")" -eq 6 ] || fail "--force did not start the journal over"

# A campaign in progress holds its journal: a second one is refused, --force or not.
slow=(run --seeds 1..100000 --ops 2000 --quiet --set run.shrink=false)
"$mmt" "${slow[@]}" --out "$dir/b" >/dev/null &
pids+=($!)
for _ in $(seq 1 3000); do [ -s "$dir/b/journal.jsonl" ] && break; sleep 0.02; done
[ -s "$dir/b/journal.jsonl" ] || fail "the first campaign journaled nothing"
expect_refusal "$dir/b/journal.jsonl: another campaign (pid ${pids[0]}) is writing this journal" \
  "$mmt" "${slow[@]}" --out "$dir/b" --force
expect_refusal "another campaign (pid ${pids[0]}) is writing this journal" "$mmt" "${slow[@]}" --out "$dir/b" --resume
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
# Its lock died with it (SIGTERM here; the kernel drops it on SIGKILL alike).
"$mmt" "${args[@]}" --out "$dir/b" --force >/dev/null || fail "the lock outlived its campaign"

# Shards of one campaign write one root at once.
"$mmt" run --seeds 1..40 --ops 300 --quiet --shard 1/2 --out "$dir/c" >/dev/null &
p1=$!
"$mmt" run --seeds 1..40 --ops 300 --quiet --shard 2/2 --out "$dir/c" >/dev/null &
p2=$!
wait $p1 || fail "shard 1/2 failed"
wait $p2 || fail "shard 2/2 failed"
[ "$(wc -l <"$dir/c/journal.shard-1-of-2.jsonl")" -eq 20 ] && [ "$(wc -l <"$dir/c/journal.shard-2-of-2.jsonl")" -eq 20 ] ||
  fail "concurrent shards lost lines"
# The same shard twice is one journal: refused.
expect_refusal "journal.shard-2-of-2.jsonl: a campaign already wrote this journal" \
  "$mmt" run --seeds 1..40 --ops 300 --quiet --shard 2/2 --out "$dir/c"

# --shard auto: from a Slurm array task's variables; one line when neither engine's are set.
env -u JOB_COMPLETION_INDEX -u MMT_SHARD_COUNT SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_COUNT=4 \
  "$mmt" run --seeds 1..8 --ops 200 --quiet --shard auto --out "$dir/d" | head -1 | grep -q '(2 in shard 3/4)' ||
  fail "--shard auto under Slurm"
[ -f "$dir/d/journal.shard-3-of-4.jsonl" ] && [ -f "$dir/d/summary.shard-3-of-4.json" ] || fail "auto shard's files"
env -u SLURM_ARRAY_TASK_ID JOB_COMPLETION_INDEX=1 MMT_SHARD_COUNT=4 \
  "$mmt" run --seeds 1..8 --ops 200 --quiet --shard auto --out "$dir/d" | head -1 | grep -q '(2 in shard 2/4)' ||
  fail "--shard auto under a Kubernetes Indexed Job"
expect_refusal "--shard: auto: neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX" \
  env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX "$mmt" run --seeds 1..8 --shard auto --out "$dir/e"
[ ! -e "$dir/e" ] || fail "a refused --shard auto created its --out"
echo "out dir: used journals refused, a live one locked, shards share a root"
