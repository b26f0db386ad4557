#!/usr/bin/env bash
# Diagnostics through spdlog, reports through fmt: -v and --log add the campaign's events
# on stderr and in OUT/mmtorture.log without changing a line of what the run reports on
# stdout; -vv adds each worker and each shrink candidate; MMT_LOG_LEVEL is read when no
# flag is given; an unknown level is bad input (exit 2, one line naming where it came from).
# Usage: logging.sh MMT CONFIGS_DIR
set -eu
mmt="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
source "$(dirname "$0")/refusal.sh"

# A campaign that fails in seed 1 and shrinks its repro (a few seconds).
args=(run "$configs/smoke.toml" --seeds 1..3 --ops 300 --jobs 1 --quiet --defect fork-skips-vma-start-write)

rc=0
"$mmt" "${args[@]}" --out "$dir/quiet" >"$dir/quiet.out" 2>"$dir/quiet.err" || rc=$?
[ $rc -eq 1 ] || fail "the defect's campaign exited $rc, wanted 1"
[ ! -s "$dir/quiet.err" ] || fail "the default level printed diagnostics: $(head -3 "$dir/quiet.err")"

rc=0
"$mmt" "${args[@]}" --out "$dir/verbose" --log -v >"$dir/verbose.out" 2>"$dir/verbose.err" || rc=$?
[ $rc -eq 1 ] || fail "-v changed the exit code to $rc"
# Same report on stdout, byte for byte, but for the output directory's name and the
# wall-clock throughput.
normalize() { sed -E "s|$1|OUT|g; s|[0-9]+ checked ops/s \([0-9.]+ s wall|N checked ops/s (T s wall|" "$2"; }
diff <(normalize "$dir/quiet" "$dir/quiet.out") <(normalize "$dir/verbose" "$dir/verbose.out") ||
  fail "-v changed what the run reports on stdout"
grep -q '^info: campaign: 3 seeds to run in up to 1 workers' "$dir/verbose.err" || fail "no campaign event on stderr"
grep -q '^info: shrink: .* from .*/1.repro.json' "$dir/verbose.err" || fail "no shrink start on stderr"
grep -q '^info: shrink: done after [0-9]* replays' "$dir/verbose.err" || fail "no shrink end on stderr"
if grep -q '^debug:' "$dir/verbose.err"; then fail "-v printed debug lines"; fi
cmp "$dir/verbose.err" "$dir/verbose/mmtorture.log" || fail "OUT/mmtorture.log differs from stderr at info"

# -vv: each worker and each shrink candidate, kept or rejected.
"$mmt" "${args[@]}" --out "$dir/debug" -vv >/dev/null 2>"$dir/debug.err" || true
grep -q '^debug: seed 1: worker started' "$dir/debug.err" || fail "-vv: no worker start"
grep -Eq '^debug: seed 3: (clean|fail), [0-9]+ ops, trace [0-9a-f]{16}$' "$dir/debug.err" || fail "-vv: no worker end"
grep -q '^debug: shrink: .* attempt [0-9]*: [0-9]* choices.*: kept' "$dir/debug.err" || fail "-vv: no kept candidate"
grep -q '^debug: shrink: .* attempt [0-9]*: .*: rejected' "$dir/debug.err" || fail "-vv: no rejected candidate"

# The environment sets the level when no flag does; a flag wins over it.
MMT_LOG_LEVEL=info "$mmt" "${args[@]}" --out "$dir/env" >/dev/null 2>"$dir/env.err" || true
grep -q '^info: campaign:' "$dir/env.err" || fail "MMT_LOG_LEVEL=info was not read"
MMT_LOG_LEVEL=info "$mmt" "${args[@]}" --out "$dir/env2" --log-level off >/dev/null 2>"$dir/env2.err" || true
[ ! -s "$dir/env2.err" ] || fail "--log-level off did not win over MMT_LOG_LEVEL"

# An unknown level: exit 2, one line naming where it came from, nothing run.
expect_refusal "mmtorture: --log-level: unknown level 'loud' (one of trace, debug, info, warn, error, off)" \
  "$mmt" "${args[@]}" --out "$dir/bad1" --log-level loud
expect_refusal "mmtorture: MMT_LOG_LEVEL: unknown level 'loud'" env MMT_LOG_LEVEL=loud "$mmt" "${args[@]}" --out "$dir/bad2"
[ ! -e "$dir/bad1" ] && [ ! -e "$dir/bad2" ] || fail "a refused run created its output directory"
echo "logging: ok"
