#!/usr/bin/env bash
# Coverage does not drop: each shipped config in the floor file runs
# its seeds and ops, and the summary's coverage line must reach at least the recorded
# number of injection sites failed and error returns taken, over the same totals (a
# total that changed means the registry changed: re-record the floor on purpose), with
# nothing seen that the registry lacks.
# Usage: coverage_floor.sh MMT CONFIGS_DIR FLOOR_FILE
# Floor file lines: CONFIG SEEDS OPS SITES_FAILED/TOTAL ERRORS_TAKEN/TOTAL ('#' comments);
# CONFIG@JOB is one job of a config with a workload.job_mix (its "coverage, JOB job:"
# line; one run serves every job of the same config, seeds and ops).
set -eu
mmt="$1"
configs="$2"
floor="$3"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bad=0
checked=0
while read -r config seeds ops sites errors; do
  case "$config" in '' | '#'*) continue ;; esac
  checked=$((checked + 1))
  file=${config%@*} job=
  opening='coverage:'
  case "$config" in *@*) job=${config#*@} opening="coverage, $job job:" ;; esac
  run="$file.$seeds.$ops"
  if [ ! -e "$dir/$run.log" ]; then
    "$mmt" run "$configs/$file" --seeds "$seeds" --ops "$ops" --jobs 2 --set run.shrink=false \
      --out "$dir/$run" --quiet >"$dir/$run.log" 2>&1 || {
      echo "$config: the run failed (exit $?):"
      tail -5 "$dir/$run.log"
      bad=1
      continue
    }
  fi
  line=$(grep "^  $opening " "$dir/$run.log" || true)
  got=$(printf '%s\n' "$line" |
    sed -nE 's/.*injection sites ([0-9]+)\/([0-9]+) failed.*error returns ([0-9]+)\/([0-9]+) taken.*/\1 \2 \3 \4/p')
  if [ -z "$got" ]; then
    echo "$config: no coverage line in the summary: '$line'"
    bad=1
    continue
  fi
  read -r sites_got sites_total errors_got errors_total <<<"$got"
  want_sites=${sites%/*} want_sites_total=${sites#*/}
  want_errors=${errors%/*} want_errors_total=${errors#*/}
  echo "$config ($seeds x $ops ops): sites $sites_got/$sites_total (floor $sites), errors $errors_got/$errors_total (floor $errors)"
  if [ "$sites_total" -ne "$want_sites_total" ] || [ "$errors_total" -ne "$want_errors_total" ]; then
    echo "$config: the registry's totals changed ($sites_total sites, $errors_total error returns; the floor has" \
      "$want_sites_total and $want_errors_total): re-record $floor"
    bad=1
  fi
  if [ "$sites_got" -lt "$want_sites" ] || [ "$errors_got" -lt "$want_errors" ]; then
    echo "$config: coverage dropped below the floor"
    grep -A40 '^injection sites' "$dir/$run.log" || true
    bad=1
  fi
  case "$line" in *'not in the registry'*) echo "$config: $line" && bad=1 ;; esac
done <"$floor"
if [ "$checked" -eq 0 ]; then
  echo "no config in $floor"
  exit 1
fi
exit $bad
