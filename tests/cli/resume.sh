#!/usr/bin/env bash
# A campaign killed mid-way (SIGKILL, with a torn last journal line) and resumed gives
# the same journal content as an uninterrupted one.
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(run --seeds 1..240 --ops 1500 --jobs 2 --quiet --set checks.selftest_plant_fork_after_op=1400 --set run.shrink=false)
"$mmt" "${args[@]}" --out "$dir/whole" >/dev/null || [ $? -eq 1 ]
# Kill it once a few seeds are journalled (polled, so a slow sanitizer build or a loaded
# machine still lands the kill mid-way).
"$mmt" "${args[@]}" --out "$dir/cut" >/dev/null &
pid=$!
for _ in $(seq 1 3000); do
  if [ -f "$dir/cut/journal.jsonl" ] && [ "$(wc -l <"$dir/cut/journal.jsonl")" -ge 4 ]; then break; fi
  sleep 0.02
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
done_before=$(wc -l <"$dir/cut/journal.jsonl")
printf '{"seed":99999,"outc' >>"$dir/cut/journal.jsonl"  # torn by the kill
"$mmt" "${args[@]}" --out "$dir/cut" --resume >"$dir/resume.log" || [ $? -eq 1 ]
grep -q "resuming: $done_before seeds already" "$dir/resume.log"
# Same content (order differs with 2 jobs; repro paths differ by out dir).
norm() { sed "s#$dir/[a-z]*/##" "$1" | sort; }
diff <(norm "$dir/whole/journal.jsonl") <(norm "$dir/cut/journal.jsonl")
[ "$done_before" -gt 0 ] && [ "$done_before" -lt 240 ] || { echo "kill did not land mid-way ($done_before seeds)"; exit 1; }
echo "resumed after $done_before of 240 seeds: same journal"
