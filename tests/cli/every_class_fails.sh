#!/usr/bin/env bash
# Every allocation class can fail: a short run of the shipped smoke config
# fails GFP_NOWAIT maple nodes and every sleeping class — vm_area_struct, anon_vma and
# maple_node objects, and pages — at least once, and stays clean (each -ENOMEM is
# unwound), as the per-class counts each seed journals ("failed allocations: ...") show.
# Usage: every_class_fails.sh MMT CONFIGS_DIR
set -eu
mmt="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$mmt" run "$configs/smoke.toml" --seeds 1..24 --ops 3000 --jobs 2 --out "$dir/o" --quiet >"$dir/log" 2>&1
sums=$(sed -nE 's/.*failed allocations: ([^";]*).*/\1/p' "$dir/o/journal.jsonl" |
  awk '{ for (i = 1; i < NF; i += 2) sum[$i] += $(i + 1) } END { for (k in sum) print k, sum[k] }' | sort)
printf '%s\n' "$sums"
bad=0
for class in maple_node/nowait vm_area_struct/kernel anon_vma/kernel maple_node/kernel pages/kernel; do
  count=$(printf '%s\n' "$sums" | awk -v c="$class" '$1 == c { print $2 }')
  if [ -z "$count" ] || [ "$count" -eq 0 ]; then
    echo "no $class allocation failed in 24 smoke seeds"
    bad=1
  fi
done
exit $bad
