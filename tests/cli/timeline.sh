#!/usr/bin/env bash
# replay --trace, --perfetto and --html on the brk/kswapd canary's repro (items
# 1, 2 and 5): the trace numbers operations once and in order, names mms by id, prints
# addresses in hex and errors by name, and the FAIL block's op number is a trace line;
# the timelines are written whole (JSON that jq reads, one trace event per logged event)
# beside nothing half-written; a bad output path is one line, exit 2, and no file.
set -eu
mmt="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rc=0; "$mmt" run "$configs/seed002-brk-churn.toml" --defect brk-munmap-shortcut --seeds 1..3 --set run.shrink=false \
  --out "$dir/o" --quiet >"$dir/run.log" || rc=$?
[ $rc -eq 1 ] || { cat "$dir/run.log"; exit 1; }
repro=$(ls "$dir"/o/failures/*/1.repro.json)

# The text trace.
rc=0; "$mmt" replay "$repro" --trace >"$dir/trace.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^SUMMARY: reproduced exactly' "$dir/trace.log"
grep -E '^  op [0-9]+ ' "$dir/trace.log" >"$dir/ops.log"
[ "$(wc -l <"$dir/ops.log")" -ge 2 ]
if grep -Ev '^  op [0-9]+ worker[0-9]+ [a-z_]+ (mm [0-9]+|slot [0-9]+ \(empty: mm [0-9]+ starts there\))( |$)' "$dir/ops.log"; then
  echo "a trace line not in the op grammar"; exit 1
fi
# Numbered once and in order: 0, 1, 2, ...
if ! awk '{ if ($2 != NR - 1) { print "op numbers out of order at line " NR ": " $0; exit 1 } }' "$dir/ops.log"; then exit 1; fi
# Errors by name, addresses in hex: no negative number and no long decimal after "->".
if grep -E -- '-> -[0-9]|-> [0-9]{5,}|(addr|len|brk)=[0-9]+( |$)' "$dir/ops.log"; then
  echo "a result or argument that is not hex or an error name"; exit 1
fi
grep -Eq -- '(addr|brk)=0x[0-9a-f]+' "$dir/ops.log"
# One FAIL block, one op number, and that number is the last trace line (the operation
# the failure interrupted) or the one after it (a check after the last operation).
[ "$(grep -c '^mmtorture: FAIL ' "$dir/trace.log")" -eq 1 ]
fail_op=$(sed -nE 's/^  seed [0-9]+, op ([0-9]+), virtual [0-9]+ ms$/\1/p' "$dir/trace.log")
[ -n "$fail_op" ]
last_op=$(tail -1 "$dir/ops.log" | awk '{ print $2 }')
if [ "$fail_op" != "$last_op" ] && [ "$fail_op" != "$((last_op + 1))" ]; then
  echo "FAIL names op $fail_op, the trace ends at op $last_op"; exit 1
fi
# The mm the failure names is an mm of the trace, by the same name.
fail_mm=$(grep -m1 '^mmtorture: FAIL ' "$dir/trace.log" | grep -Eo 'of mm [0-9]+' | head -1 | sed 's/of //')
grep -q " $fail_mm " "$dir/ops.log"

# The timelines.
rc=0; "$mmt" replay "$repro" --perfetto "$dir/t.json" --html "$dir/t.html" >"$dir/timeline.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^SUMMARY: reproduced exactly' "$dir/timeline.log"
grep -q "^timeline (Chrome Trace Event JSON, [0-9]* events; .*): $dir/t.json\$" "$dir/timeline.log"
grep -q "^timeline (HTML, [0-9]* events, [0-9]* threads): $dir/t.html\$" "$dir/timeline.log"
events=$(sed -nE 's/^timeline \(Chrome Trace Event JSON, ([0-9]+) events.*/\1/p' "$dir/timeline.log")
[ "$events" -ge 10 ]
[ "$(jq '.otherData.events_in_log' "$dir/t.json")" -eq "$events" ]
[ "$(jq '[.traceEvents[] | select(.args.seq != null or .args.end_seq != null)] | length' "$dir/t.json")" -eq "$events" ]
[ "$(jq '[.traceEvents[] | select(.ph == "B")] | length' "$dir/t.json")" -eq \
  "$(jq '[.traceEvents[] | select(.ph == "E")] | length' "$dir/t.json")" ]
[ "$(jq '[.traceEvents[] | select(.args.kind == "fail")] | length' "$dir/t.json")" -eq 1 ]
jq -e '[.traceEvents[] | select(.ph == "M" and .name == "thread_name") | .args.name] | index("T1 kswapd0") != null' \
  "$dir/t.json" >/dev/null
grep -q '<rect class="op failing"' "$dir/t.html"
[ "$(tail -1 "$dir/t.html")" = "</body></html>" ]
if ls "$dir" | grep -q '\.tmp\.'; then echo "a temp file was left"; exit 1; fi

# Bad output paths: one line naming the flag, exit 2, nothing written, no replay run.
for flag in --perfetto --html; do
  rc=0; "$mmt" replay "$repro" "$flag" "$dir/no/such/dir/t.out" >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
  [ $rc -eq 2 ]
  [ "$(wc -l <"$dir/bad.err")" -eq 1 ]
  grep -q "^mmtorture: $flag: $dir/no/such/dir/t.out: the directory $dir/no/such/dir does not exist\$" "$dir/bad.err"
  [ ! -e "$dir/no" ]
  [ ! -s "$dir/bad.out" ]
  rc=0; "$mmt" replay "$repro" "$flag" "$dir" 2>"$dir/bad.err" >/dev/null || rc=$?
  [ $rc -eq 2 ]
  grep -q "^mmtorture: $flag: $dir: is a directory\$" "$dir/bad.err"
done
echo "timeline: trace grammar, perfetto ($events events) and html checked"
