#!/usr/bin/env bash
# The timeline of a crash repro: replay runs it in a worker process,
# whose event log is mirrored into shared memory; --html and --perfetto are drawn from
# that history. The planted crash (selftest_crash) aborts right after the planted
# failure, so the same run without the abort, replayed in process, must give the same
# timeline: every trace event's name, phase, track, time and sequence number.
# Usage: crash_timeline.sh MMT
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
common=(--seeds 1..1 --ops 600 --set checks.selftest_plant_fork_after_op=100 --set run.shrink=false --quiet)

rc=0; "$mmt" run "${common[@]}" --set checks.selftest_crash=true --out "$dir/crash" >"$dir/crash.log" || rc=$?
[ $rc -eq 1 ] || { cat "$dir/crash.log"; exit 1; }
repro=$(ls "$dir"/crash/failures/*/1.repro.json)
rc=0; "$mmt" replay "$repro" --last 0 --html "$dir/crash.html" --perfetto "$dir/crash.json" >"$dir/replay.log" || rc=$?
[ $rc -eq 1 ]
grep -q '^the recorded failure ended its worker process: replaying in a worker process$' "$dir/replay.log"
grep -q '^SUMMARY: reproduced exactly: crash SIGABRT' "$dir/replay.log"
events=$(sed -nE 's/^timeline \(HTML, ([0-9]+) events, [0-9]+ threads\): .*/\1/p' "$dir/replay.log")
threads=$(sed -nE 's/^timeline \(HTML, [0-9]+ events, ([0-9]+) threads\): .*/\1/p' "$dir/replay.log")
[ -n "$events" ] || { cat "$dir/replay.log"; exit 1; }
[ "$events" -gt 100 ]
grep -q "^timeline (Chrome Trace Event JSON, $events events; open in ui.perfetto.dev or chrome://tracing): $dir/crash.json\$" \
  "$dir/replay.log"
[ "$(grep -o '<g class="lane"' "$dir/crash.html" | wc -l)" -eq "$threads" ]
grep -q 'mmtorture: FAIL crash ([0-9a-f]*) at SIGABRT' "$dir/crash.html"

rc=0; "$mmt" run "${common[@]}" --out "$dir/plain" >"$dir/plain.log" || rc=$?
[ $rc -eq 1 ]
repro=$(ls "$dir"/plain/failures/*/1.repro.json)
rc=0; "$mmt" replay "$repro" --last 0 --perfetto "$dir/plain.json" >"$dir/plain-replay.log" || rc=$?
[ $rc -eq 1 ]
grep -q "^timeline (Chrome Trace Event JSON, $events events;" "$dir/plain-replay.log"
project='.traceEvents[] | [.name, .ph, .pid, .tid, .ts, .args.seq, .args.end_seq]'
jq -c "$project" "$dir/plain.json" >"$dir/plain.events"
jq -c "$project" "$dir/crash.json" >"$dir/crash.events"
[ "$(wc -l <"$dir/crash.events")" -gt "$events" ]
cmp -s "$dir/plain.events" "$dir/crash.events" || { diff "$dir/plain.events" "$dir/crash.events" | head; exit 1; }
echo "crash timeline: $events events on $threads threads, the same as the in-process replay"
