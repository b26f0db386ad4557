#!/usr/bin/env bash
# The report's job charts and the experiments' pages, each number
# checked against where it comes from:
# - a cma campaign: summary.json's per-policy totals equal the journal's per-seed
#   metrics added up (calls, retries, -EBUSY, p50/p99 recomputed from every call's
#   latency), and report.html draws exactly those: the latency histogram's bars, its
#   p50/p99 markers, the counts;
# - a nommu campaign on a 32 MiB board: the OOM rate and the largest-free-block
#   distribution, from the journal to summary.json to the charts;
# - cma-experiment --html and nommu-experiment --html: a bar per row of the printed
#   table, with the table's number; a bad --html path: one line, exit 2.
# Usage: report_charts.sh MMT CONFIGS_DIR
set -eu
mmt="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The data-value of the bar labelled $2 in <svg id="$1"> of page $3 (group $4 if given).
bar() { sed -n "/<svg id=\"$1\"/,/<\/svg>/p" "$3" | grep -o "data-group=\"${4:-[^\"]*}\" data-label=\"$2\" data-value=\"[^\"]*\"" \
  | sed -E 's/.*data-value="([^"]*)"/\1/'; }

# cma
rc=0; "$mmt" run "$configs/seed004-cma-policies.toml" --seeds 1..8 --jobs 2 --out "$dir/cma" --quiet --report \
  >"$dir/cma.log" || rc=$?
[ $rc -le 1 ] || { cat "$dir/cma.log"; exit 1; }
journal="$dir/cma/journal.jsonl"
summary="$dir/cma/summary.json"
page="$dir/cma/report.html"
[ "$(jq -s '[.[] | select(.metrics.cma)] | length' "$journal")" -eq 8 ]
policy=$(jq -r '.jobs.cma.policies[0].policy' "$summary")
[ "$policy" = "bounded(5,100ms)" ]
[ "$(jq '.jobs.cma.policies | length' "$summary")" -eq 1 ]
for key in calls failed retries busy interrupted enomem; do
  [ "$(jq -s "[.[].metrics.cma.$key] | add" "$journal")" -eq "$(jq ".jobs.cma.policies[0].$key" "$summary")" ] || {
    echo "$key: the journal and summary.json disagree"; exit 1; }
done
# p50/p99 by nearest rank over every call of every seed, from the journal.
calls=$(jq -s '[.[].metrics.cma.latency_ms[] | .[1]] | add' "$journal")
rank() { jq -s --argjson p "$1" '[.[].metrics.cma.latency_ms[] | .[0] as $ms | range(.[1]) | $ms] | sort
  | .[((($p * length + 99) / 100 | floor) - 1)]' "$journal"; }
p50=$(rank 50)
p99=$(rank 99)
[ "$(jq '.jobs.cma.policies[0].latency_ms.calls' "$summary")" -eq "$calls" ]
[ "$(jq '.jobs.cma.policies[0].latency_ms.p50_ms' "$summary")" -eq "$p50" ]
[ "$(jq '.jobs.cma.policies[0].latency_ms.p99_ms' "$summary")" -eq "$p99" ]
[ "$p99" -gt "$p50" ] || { echo "p50 $p50 and p99 $p99: the run does not tell them apart"; exit 1; }
# The page: the histogram's bars are summary.json's buckets, in order; the markers.
grep -q "<svg id=\"cma-latency-0\" class=\"chart\"" "$page"
[ "$(sed -n '/<svg id="cma-latency-0"/,/<\/svg>/p' "$page" | grep -o 'data-value="[0-9]*"' | sed -E 's/[^0-9]//g' | tr '\n' ' ')" = \
  "$(jq -r '[.jobs.cma.policies[0].latency_ms.histogram[] | .[2] | tostring] | join(" ")' "$summary") " ] || {
  echo "the histogram's bars are not summary.json's buckets"; exit 1; }
grep -q "data-caption=\"p50 $p50 ms\"" "$page"
grep -q "data-caption=\"p99 $p99 ms\"" "$page"
grep -q "$calls calls; p50 $p50 ms, p99 $p99 ms" "$page"
[ "$(bar cma-counts-0 calls "$page")" -eq "$(jq '.jobs.cma.policies[0].calls' "$summary")" ]
[ "$(bar cma-counts-0 retries "$page")" -eq "$(jq '.jobs.cma.policies[0].retries' "$summary")" ]
[ "$(bar cma-counts-0 -EBUSY "$page")" -eq "$(jq '.jobs.cma.policies[0].busy' "$summary")" ]
[ "$(bar cma-counts-0 failed "$page")" -eq "$(jq '.jobs.cma.policies[0].failed' "$summary")" ]
if grep -q 'id="nommu-charts"' "$page"; then echo "a cma campaign drew nommu charts"; exit 1; fi

# nommu
rc=0; "$mmt" run "$configs/seed001-nommu-boot.toml" --seeds 1..20 --set nommu.memory_mib=32 --set nommu.oom_fails=false \
  --jobs 2 --out "$dir/nommu" --quiet --report >"$dir/nommu.log" || rc=$?
[ $rc -eq 0 ] || { cat "$dir/nommu.log"; exit 1; }
journal="$dir/nommu/journal.jsonl"
summary="$dir/nommu/summary.json"
page="$dir/nommu/report.html"
ooms=$(jq -s '[.[] | select(.metrics.nommu.oom)] | length' "$journal")
[ "$ooms" -ge 1 ]
[ "$(jq '.jobs.nommu.ooms' "$summary")" -eq "$ooms" ]
[ "$(jq '.jobs.nommu.seeds' "$summary")" -eq 20 ]
[ "$(bar nommu-oom OOM "$page")" -eq "$ooms" ]
[ "$(bar nommu-oom booted "$page")" -eq $((20 - ooms)) ]
grep -q "boots: $ooms of 20 ran out of memory" "$page"
# Seeds per largest free block: the journal's, summary.json's and the chart's agree.
want=$(jq -s -r '[.[].metrics.nommu.largest_free_kib] | group_by(.) | map("\(.[0]):\(length)") | join(" ")' "$journal")
[ "$(jq -r '[.jobs.nommu.largest_free_kib[] | "\(.[0]):\(.[1])"] | join(" ")' "$summary")" = "$want" ]
drawn=$(sed -n '/<svg id="nommu-largest-free"/,/<\/svg>/p' "$page" | grep -o 'data-value="[0-9]*"' | sed -E 's/[^0-9]//g' | tr '\n' ' ')
[ "$drawn" = "$(echo "$want" | tr ' ' '\n' | cut -d: -f2 | tr '\n' ' ')" ] || { echo "largest free block: drawn $drawn, journal $want"; exit 1; }
if grep -q 'id="cma-charts"' "$page"; then echo "a nommu campaign drew cma charts"; exit 1; fi

# The experiments: a bar per table row, with the table's number.
"$mmt" nommu-experiment --seeds 3 --html "$dir/nommu.html" >"$dir/nx.log"
grep -q "^charts (HTML, 12 rows): $dir/nommu.html\$" "$dir/nx.log"
[ "$(sed -n '/<svg id="nommu-oom-rate"/,/<\/svg>/p' "$dir/nommu.html" | grep -c '<rect ')" -eq 12 ]
while read -r mib order tail oom_pct; do
  label="$( [ "$order" = after ] && echo A || echo B )$( [ "$tail" = tail ] && echo t || echo h )"
  # The table rounds to a whole percent, the chart to a tenth.
  [ "$(printf '%.0f' "$(bar nommu-oom-rate "$label" "$dir/nommu.html" "$mib MiB")")" = "$oom_pct" ] || {
    echo "$mib MiB $order $tail: the table says $oom_pct%"; exit 1; }
done < <(sed -nE 's/^ *([0-9]+) MiB +(after|before) +to (head|tail) +[0-9]+ +[0-9]+ +([0-9.]+)%.*/\1 \2 \3 \4/p' "$dir/nx.log")
[ "$(sed -nE 's/^ *([0-9]+) MiB +(after|before) +to (head|tail) .*/x/p' "$dir/nx.log" | wc -l)" -eq 12 ]
"$mmt" cma-experiment --seeds 1 --html "$dir/cma.html" >"$dir/cx.log"
grep -q "^charts (HTML, 24 rows): $dir/cma.html\$" "$dir/cx.log"
for chart in cma-success cma-p99 cma-retries cma-busy cma-hangs; do
  [ "$(sed -n "/<svg id=\"$chart\"/,/<\/svg>/p" "$dir/cma.html" | grep -c '<rect ')" -eq 24 ] || { echo "$chart"; exit 1; }
done
# The first policy (P1) under the transient workload: the table's success rate and retries.
row=$(grep -E '^none +transient ' "$dir/cx.log")
[ "$(bar cma-success P1 "$dir/cma.html" transient)" = "$(echo "$row" | awk '{ sub(/%/, "", $5); print $5 }')" ]
[ "$(bar cma-retries P1 "$dir/cma.html" transient)" = "$(echo "$row" | awk '{ print $10 }')" ]
row=$(grep -E '^forever\(100ms\) +longterm ' "$dir/cx.log")
[ "$(bar cma-hangs P3 "$dir/cma.html" longterm)" = "$(echo "$row" | awk '{ print $11 }')" ]
[ "$(bar cma-p99 P3 "$dir/cma.html" longterm)" = "$(echo "$row" | awk '{ print $8 }')" ]
rc=0; "$mmt" cma-experiment --seeds 1 --html "$dir/no/such/dir/x.html" >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
[ $rc -eq 2 ]
[ "$(wc -l <"$dir/bad.err")" -eq 1 ]
[ ! -s "$dir/bad.out" ]
grep -q '^mmtorture: cma-experiment: --html: ' "$dir/bad.err"
echo "report charts: cma $calls calls (p50 $p50 ms, p99 $p99 ms), nommu $ooms of 20 OOM; experiments' pages"
