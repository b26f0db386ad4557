#!/usr/bin/env bash
# schedules_bench's product is its ratio table. A short run of one program at 2 threads
# (every runner: the floor, the recorded floor, uniform, PCT, failing and discard_stack
# schedules, bounded exploration with and without sleep sets) must print that program's
# row with every column measured: no time of 0 and no ratio of 0.00, which is what the
# table prints for a benchmark that did not run. Not a timed test: no column's value is
# judged.
set -eu
bench="$1"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bench" --benchmark_filter='program:0/threads:2(/|$)' --benchmark_min_time=0.01 >"$out" 2>&1 || { cat "$out"; exit 1; }
row=$(grep -E '^lost_update +2 \|' "$out") || { cat "$out"; echo "no lost_update row for 2 threads"; exit 1; }
# program, n, then 16 measured columns between the bars.
values=$(echo "$row" | tr -d '|' | awk '{ for (i = 3; i <= NF; ++i) print $i }')
count=$(echo "$values" | wc -l)
[ "$count" -eq 16 ] || { echo "expected 16 columns, got $count: $row"; exit 1; }
if echo "$values" | grep -qxE '0|0\.00'; then
  echo "a column was not measured: $row"
  exit 1
fi
echo "$row"
