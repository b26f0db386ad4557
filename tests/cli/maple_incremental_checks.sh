#!/usr/bin/env bash
# The maple job's checks between whole-tree passes look at what each op could change
# (checks.maple_full_check_every, maple/validate.h validate_tree_range); this shows they
# see what the whole-tree checks see:
# - with checks.maple_verify_incremental a whole-tree check follows every partial one
#   and a failure only it finds is check.incremental_missed: clean over 10^5 ops of
#   maple.toml (every classic op) and 2*10^4 of the RCU tree with the cursor and bulk
#   ops (paused, spanning, dup) in the mix;
# - the maple canaries fail at the same seed, op and check with whole-tree checks
#   after every op (full_check_every = 1) as with the default (in a sanitized build,
#   $3 = sanitized, destroy-frees-live-nodes is ASan's report, not the checks', and
#   only empty-area-skips-last-slot is compared);
# - the trace hashes are the same either way (the checks fold what they checked).
set -eu
mmt="$1"
configs="$2"
flavour="${3:-plain}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
verify=(--set checks.maple_verify_incremental=true --set run.shrink=false --quiet)
"$mmt" run "$configs/maple.toml" --seeds 1..10 --ops 10000 "${verify[@]}" --out "$dir/v1" >"$dir/v1.log" ||
  { cat "$dir/v1.log"; exit 1; }
grep -q '^SUMMARY: 10 seeds, 100000 ops .* 0 failing seeds' "$dir/v1.log" || { cat "$dir/v1.log"; exit 1; }
"$mmt" run "$configs/maple-rcu.toml" --seeds 1..4 --ops 5000 "${verify[@]}" --out "$dir/v2" \
  --set workload.maple_readers=0 --set workload.maple_mix_paused_store=10 \
  --set workload.maple_mix_spanning_store=10 --set workload.maple_mix_dup=5 >"$dir/v2.log" ||
  { cat "$dir/v2.log"; exit 1; }
grep -q '^SUMMARY: 4 seeds, 20000 ops .* 0 failing seeds' "$dir/v2.log" || { cat "$dir/v2.log"; exit 1; }

# seed, outcome, ops, check and trace hash of every seed of a run, one line each.
outcomes() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(j["seed"], j["outcome"], j["ops"], j["check"], j["trace_hash"])' "$1/journal.jsonl"
}
defects="destroy-frees-live-nodes empty-area-skips-last-slot"
[ "$flavour" = plain ] || defects="empty-area-skips-last-slot"
for defect in $defects; do
  for every in 1 64; do
    rc=0; "$mmt" run "$configs/maple.toml" --defect "$defect" --seeds 1..10 --set run.shrink=false --quiet \
      --set checks.maple_full_check_every=$every --out "$dir/$defect-$every" >"$dir/$defect-$every.log" || rc=$?
    [ $rc -eq 1 ] || { cat "$dir/$defect-$every.log"; exit 1; }
    outcomes "$dir/$defect-$every" >"$dir/$defect-$every.txt"
  done
  [ "$(grep -c ' fail ' "$dir/$defect-1.txt")" -eq 10 ] || { cat "$dir/$defect-1.txt"; exit 1; }
  diff "$dir/$defect-1.txt" "$dir/$defect-64.txt"
done
for every in 1 64; do
  "$mmt" run "$configs/maple.toml" --seeds 1..4 --ops 3000 --set checks.maple_full_check_every=$every --quiet \
    --set run.shrink=false --out "$dir/clean-$every" >"$dir/clean-$every.log"
  outcomes "$dir/clean-$every" >"$dir/clean-$every.txt"
done
[ "$(grep -c ' clean 3000 ' "$dir/clean-1.txt")" -eq 4 ] || { cat "$dir/clean-1.txt"; exit 1; }
diff "$dir/clean-1.txt" "$dir/clean-64.txt"
echo "maple incremental checks: verified clean, canaries and hashes identical"
