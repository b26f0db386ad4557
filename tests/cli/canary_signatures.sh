#!/usr/bin/env bash
# One bug, one signature: each canary defect, run over 20 seeds of
# its selftest scenario (as `mmtorture list --defects` names it), gives exactly one
# failure signature. Signatures name what broke (the check, the failing operation or
# lock class, the rule), never who (a thread) or when (after which operation), nor the
# site where a lock was taken. Bounded by seeds, not by wall time. In a job mix, one
# signature per job.
# Usage: canary_signatures.sh MMT CONFIGS_DIR [SEEDS]
set -eu
mmt="$1"
configs="$2"
seeds="${3:-1..20}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$mmt" list --defects >"$dir/defects"
bad=0
while read -r defect scenario; do
  out="$dir/$defect"
  rc=0
  "$mmt" run "$configs/$scenario" --seeds "$seeds" --defect "$defect" --jobs 2 --set run.shrink=false \
    --out "$out" --quiet </dev/null >"$out.log" 2>&1 || rc=$?
  if [ $rc -gt 1 ]; then echo "$defect: exit $rc"; tail -3 "$out.log"; bad=1; continue; fi
  # In a job mix (smoke.toml) the same bug met through another job's code (the maple
  # job's own stores rather than the world's preallocated ones) may break another check
  # or site: one signature per job that met it, each seed's job in its journal line.
  signatures=$(jq -r 'select(.outcome != "clean") | "\(.job // "")\t\(.signature)"' "$out/journal.jsonl" | sort | uniq -c)
  count=$(printf '%s\n' "$signatures" | grep -c . || true)
  most=$(jq -r 'select(.outcome != "clean") | "\(.job // "")\t\(.signature)"' "$out/journal.jsonl" | sort -u |
    cut -f1 | uniq -c | awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }')
  echo "$defect ($scenario): $count signature(s), at most $most per job"
  printf '%s\n' "$signatures" | sed 's/^/    /'
  [ "$count" -ge 1 ] && [ "$most" -eq 1 ] || bad=1
done < <(sed -nE 's/^([a-z0-9-]+)  \(seed [^;]+; selftest scenario: ([^)]*)\)$/\1 \2/p' "$dir/defects")
# Every canary the tool lists was run: none has a heading the loop above skipped.
listed=$(grep -cE '^[a-z0-9-]+  \(' "$dir/defects")
ran=$(sed -nE 's/^([a-z0-9-]+)  \(seed [^;]+; selftest scenario: .*/\1/p' "$dir/defects" | wc -l)
[ "$listed" -ge 11 ] && [ "$ran" -eq "$listed" ] || { echo "ran $ran of $listed canaries"; exit 1; }
exit $bad
