#!/usr/bin/env bash
# Every command tells the truth about what it did:
# --version names the commit and the reference kernel; --budget-s stops starting seeds
# and says so, and --resume continues; SIGINT stops the workers, journals no killed
# worker as a crash, says how to resume and exits 130; an unusable --out is bad input.
set -eu
mmt="$1"
src="$2"
dir=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

# --version: tool, commit (12 hex digits, or "unknown" outside git), reference kernel.
version=$("$mmt" --version)
grep -Eq '^mmtorture [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown), reference kernel 6\.12 for the maple tree\)$' \
  <<<"$version" || { echo "bad --version: $version"; exit 1; }

# --budget-s: far more seeds than the budget holds; the running ones finish.
rc=0; "$mmt" run "$src/configs/smoke.toml" --seeds 1..100000 --ops 3000 --jobs 2 --budget-s 1 \
  --out "$dir/b" --quiet >"$dir/budget.log" || rc=$?
[ $rc -eq 0 ]
done1=$(wc -l <"$dir/b/journal.jsonl")
[ "$done1" -ge 1 ]
[ "$done1" -lt 100000 ]
grep -q "^budget: 1 s ran out after $done1 of 100000 seeds; the rest start with --resume\$" "$dir/budget.log"
grep -q "^SUMMARY: $done1 seeds," "$dir/budget.log"
rc=0; "$mmt" run "$src/configs/smoke.toml" --seeds 1..100000 --ops 3000 --jobs 2 --budget-s 1 --resume \
  --out "$dir/b" --quiet >"$dir/budget2.log" || rc=$?
[ $rc -eq 0 ]
done2=$(wc -l <"$dir/b/journal.jsonl")
[ "$done2" -gt "$done1" ]
grep -q "^resuming: $done1 seeds already in" "$dir/budget2.log"

# SIGINT mid-campaign: the workers stop, nothing is journaled as a crash, exit 130.
"$mmt" run "$src/configs/smoke.toml" --seeds 1..100000 --ops 3000 --jobs 2 --out "$dir/i" --quiet \
  >"$dir/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  if [ -f "$dir/i/journal.jsonl" ] && [ "$(wc -l <"$dir/i/journal.jsonl")" -ge 3 ]; then break; fi
  sleep 0.05
done
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
[ $rc -eq 130 ] || { echo "SIGINT: exit $rc"; cat "$dir/int.log"; exit 1; }
journaled=$(wc -l <"$dir/i/journal.jsonl")
grep -q "^interrupted (SIGINT): $journaled of 100000 seeds done and journaled, resume with --resume\$" "$dir/int.log" \
  || { cat "$dir/int.log"; exit 1; }
if grep -q '"outcome":"crash"' "$dir/i/journal.jsonl"; then echo "a stopped worker was journaled as a crash"; exit 1; fi
if [ -n "$(ls "$dir/i/failures" 2>/dev/null)" ]; then echo "an interrupted campaign wrote failures"; exit 1; fi

# An --out that cannot be a directory: bad input, one line.
: >"$dir/file"
rc=0; "$mmt" run --seeds 1..1 --ops 10 --out "$dir/file/sub" --quiet >/dev/null 2>"$dir/out.err" || rc=$?
[ $rc -eq 2 ]
[ "$(wc -l <"$dir/out.err")" -eq 1 ]
grep -q "^mmtorture: --out: $dir/file/sub: cannot create the directory: " "$dir/out.err"
echo "truthful: budget held $done1 seeds, then $((done2 - done1)) more on --resume; SIGINT after $journaled seeds"
