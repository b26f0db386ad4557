#!/usr/bin/env bash
# Failures must not mask each other: a canary defect whose first
# failure leaves a world half torn down gives that one failure on every seed — no
# worker crashes in the teardown after it (terminate from a destructor, a freed VMA
# freed again, a check's dump reading the freed VMA it reports).
# Usage: no_masking.sh MMT CONFIGS_DIR [sanitized]. Each check: every seed fails, none as a crash,
# all with one signature.
set -eu
mmt="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() {
  local defect="$1" seeds="$2" count="$3"
  local out="$dir/$defect"
  local rc=0
  "$mmt" run "$configs/seed003-mremap-pressure.toml" --seeds "$seeds" --defect "$defect" --jobs 2 \
    --set run.shrink=false --out "$out" --quiet >"$out.log" 2>"$out.err" || rc=$?
  if [ $rc -ne 1 ]; then echo "$defect: exit $rc, expected 1"; cat "$out.err"; exit 1; fi
  local crashes signatures failing
  crashes=$(grep -c '"outcome":"crash"' "$out/journal.jsonl" || true)
  signatures=$(sed -E 's/.*"signature_id":"([0-9a-f]+)".*/\1/' "$out/journal.jsonl" | sort -u | wc -l)
  failing=$(grep -c '"outcome":"fail"' "$out/journal.jsonl" || true)
  if [ "$crashes" -ne 0 ] || [ "$signatures" -ne 1 ] || [ "$failing" -ne "$count" ]; then
    echo "$defect, seeds $seeds: $failing failing, $crashes crashes, $signatures signatures (want $count, 0, 1)"
    tail -8 "$out.log"
    exit 1
  fi
  if grep -q terminate "$out.err"; then echo "$defect: a worker called terminate"; cat "$out.err"; exit 1; fi
}
check mremap-account-leak 1..20 20
# Under ASan the planted use after free is ASan's report (the worker dies with it)
# before the slab's poison check can name it: that run is the sanitizer's, not ours.
if [ "${3:-}" != "sanitized" ]; then
  check mremap-uaf 1..300 300
fi
echo "one failure, one signature per defect"
