#!/usr/bin/env bash
# A worker killed from outside (kill -9, as the host's OOM killer would) is no finding:
# its seed is re-run in a fresh worker, journaled with its real outcome (here the
# planted failure, with a repro from the re-run), a note says the worker was killed
# from outside, and the journal equals an undisturbed campaign's.
set -eu
mmt="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(run --seeds 1..2 --ops 20000 --jobs 1 --quiet --set checks.selftest_plant_fork_after_op=19000 --set run.shrink=false)
rc=0; "$mmt" "${args[@]}" --out "$dir/whole" >"$dir/whole.log" || rc=$?
[ $rc -eq 1 ] || { echo "undisturbed campaign exited $rc"; cat "$dir/whole.log"; exit 1; }

# The campaign's children (its workers), read from /proc (procps may be absent).
children() {
  local stat pid comm state ppid
  for stat in /proc/[0-9]*/stat; do
    read -r pid comm state ppid _ 2>/dev/null <"$stat" || continue
    if [ "$ppid" = "$1" ]; then echo "$pid"; fi
  done
}
"$mmt" "${args[@]}" --out "$dir/cut" >"$dir/cut.log" &
campaign=$!
worker=""
for _ in $(seq 1 3000); do
  worker=$(children "$campaign" | head -n 1)
  if [ -n "$worker" ]; then break; fi
  sleep 0.01
done
[ -n "$worker" ] || { echo "no worker process appeared"; exit 1; }
kill -KILL "$worker"
rc=0; wait "$campaign" || rc=$?
[ $rc -eq 1 ] || { echo "campaign exited $rc"; cat "$dir/cut.log"; exit 1; }
grep -q '^note: seed 1: its worker ended (crash at SIGKILL) but a re-run in a fresh worker failed selftest.planted at vm_world.fork: the worker was killed from outside' \
  "$dir/cut.log" || { echo "no note about the killed worker"; cat "$dir/cut.log"; exit 1; }
if grep -q '"outcome":"crash"' "$dir/cut/journal.jsonl"; then
  echo "a killed worker was journaled as a crash"; cat "$dir/cut/journal.jsonl"; exit 1
fi
norm() { sed "s#$dir/[a-z]*/##" "$1"; }
diff <(norm "$dir/whole/journal.jsonl") <(norm "$dir/cut/journal.jsonl")
diff <(cd "$dir/whole" && find failures -type f | sort) <(cd "$dir/cut" && find failures -type f | sort)
cmp "$dir/whole/failures/"*/1.repro.json "$dir/cut/failures/"*/1.repro.json
echo "killed worker: re-run, journaled as the undisturbed campaign did"
