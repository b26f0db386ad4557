#!/usr/bin/env bash
# mmtorture report and run --report: report.html lists every
# signature of summary.json with its replay command and a timeline page; a clean
# campaign's report says so; a directory that holds no campaign, and --report on a
# shard, are refused with one line and exit 2, writing nothing.
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rc=0; "$mmt" run --seeds 1..6 --ops 300 --set checks.selftest_plant_fork_after_op=200 --set run.shrink=false \
  --out "$dir/o" --quiet >"$dir/run.log" || rc=$?
[ $rc -eq 1 ]
rc=0; "$mmt" report "$dir/o" >"$dir/report.log" || rc=$?
[ $rc -eq 0 ] || { cat "$dir/report.log"; exit 1; }
signatures=$(jq '.signatures | length' "$dir/o/summary.json")
[ "$signatures" -ge 1 ]
grep -q "^report: $dir/o/report.html ($signatures signatures, $signatures timelines, 6 seeds)\$" "$dir/report.log"
for id in $(jq -r '.signatures[].signature_id' "$dir/o/summary.json"); do
  repro=$(jq -r ".signatures[] | select(.signature_id == \"$id\") | .first_repro" "$dir/o/summary.json")
  grep -q "<tr class=\"signature\" data-signature=\"$id\">" "$dir/o/report.html"
  grep -q "<code class=\"replay\">mmtorture replay $repro</code>" "$dir/o/report.html"
  grep -q "<a class=\"timeline\" href=\"timelines/$id.html\">" "$dir/o/report.html"
  [ -s "$dir/o/timelines/$id.html" ]
  # The command the report prints replays the failure.
  rc=0; "$mmt" replay "$repro" --last 0 >"$dir/replay.log" || rc=$?
  [ $rc -eq 1 ]
  grep -q '^SUMMARY: reproduced exactly' "$dir/replay.log"
done
[ "$(tail -1 "$dir/o/report.html")" = "</body></html>" ]

# A clean campaign, with run --report.
rc=0; "$mmt" run --seeds 1..3 --ops 100 --out "$dir/clean" --quiet --report >"$dir/clean.log" || rc=$?
[ $rc -eq 0 ] || { cat "$dir/clean.log"; exit 1; }
grep -q "^report: $dir/clean/report.html (0 signatures, 0 timelines, 3 seeds)\$" "$dir/clean.log"
grep -q '<p id="no-signatures">No failures: every seed ran clean.</p>' "$dir/clean/report.html"

# A crash signature (the planted abort after the planted failure) gets a timeline too:
# its repro is replayed in a worker and the threads' events up to the abort are drawn.
rc=0; "$mmt" run --seeds 1..1 --ops 600 --set checks.selftest_plant_fork_after_op=100 --set checks.selftest_crash=true \
  --set run.shrink=false --out "$dir/crash" --quiet --report >"$dir/crash.log" || rc=$?
[ $rc -eq 1 ] || { cat "$dir/crash.log"; exit 1; }
[ "$(jq -r '.signatures[0].check' "$dir/crash/summary.json")" = crash ]
grep -q "^report: $dir/crash/report.html (1 signatures, 1 timelines, 1 seeds)\$" "$dir/crash.log"
id=$(jq -r '.signatures[0].signature_id' "$dir/crash/summary.json")
grep -q "<a class=\"timeline\" href=\"timelines/$id.html\">" "$dir/crash/report.html"
[ "$(grep -o '<g class="lane"' "$dir/crash/timelines/$id.html" | wc -l)" -ge 2 ]
grep -q 'mmtorture: FAIL crash ([0-9a-f]*) at SIGABRT' "$dir/crash/timelines/$id.html"

# Refusals.
mkdir "$dir/empty"
rc=0; "$mmt" report "$dir/empty" >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
[ $rc -eq 2 ]
[ "$(wc -l <"$dir/bad.err")" -eq 1 ]
grep -q "^mmtorture: $dir/empty: no summary.json: not the output directory" "$dir/bad.err"
[ ! -e "$dir/empty/report.html" ]
rc=0; "$mmt" run --seeds 1..4 --ops 100 --shard 1/2 --out "$dir/shard" --quiet --report >/dev/null 2>"$dir/shard.err" || rc=$?
[ $rc -eq 2 ]
grep -q '^mmtorture: --report: a shard writes no summary.json' "$dir/shard.err"
echo "report: $signatures signatures with replay commands and timelines; clean and refused cases checked"
