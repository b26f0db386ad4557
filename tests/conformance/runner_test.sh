#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# mmtorture-conformance against the kernel's own tree (the harness's proof):
#   pass     every check the preprocessor kept passes (CI's assertion budget), none fails;
#   fail     a check made to fail (--fail inverts one of its assertions) is reported
#            failed with that assertion's file:line and text, and every other check
#            still runs and passes;
#   bad      an unknown check name is one line on stderr and exit 2.
set -euo pipefail
runner="$1"
mode="$2"
budget=2000000
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "runner_test ($mode): $*" >&2; cat "$dir/out" >&2 || true; exit 1; }

"$runner" --list >"$dir/list"
total=$(grep -c ' line [0-9]' "$dir/list")
compiled_out=$(grep -c 'compiled out' "$dir/list" || true)
present=$((total - compiled_out))
[ "$present" -ge 20 ] || fail "only $present checks listed"

case "$mode" in
  pass)
    rc=0; "$runner" --budget $budget >"$dir/out" || rc=$?
    [ $rc -eq 0 ] || fail "exit $rc"
    [ "$(grep -c '^PASS ' "$dir/out")" -eq "$present" ] || fail "not every check passed"
    grep -q "^SUMMARY: $present passed, 0 failed, $compiled_out not applicable; " "$dir/out" || fail "summary"
    ;;
  fail)
    rc=0; "$runner" --budget $budget --fail check_iteration:5 >"$dir/out" || rc=$?
    [ $rc -eq 1 ] || fail "exit $rc, expected 1"
    grep -Eq '^FAIL check_iteration .* test_maple_tree\.c:[0-9]+ check_iteration: MT_BUG_ON\(mt, .*\) \[value 0\]$' \
      "$dir/out" || fail "no FAIL line naming the assertion"
    [ "$(grep -c '^FAIL ' "$dir/out")" -eq 1 ] || fail "more than one failure"
    [ "$(grep -c '^PASS ' "$dir/out")" -eq $((present - 1)) ] || fail "the other checks did not all run and pass"
    grep -q "^SUMMARY: $((present - 1)) passed, 1 failed, " "$dir/out" || fail "summary"
    ;;
  bad)
    rc=0; "$runner" --check no_such_check >"$dir/out" 2>"$dir/err" || rc=$?
    [ $rc -eq 2 ] || fail "exit $rc, expected 2"
    [ "$(wc -l <"$dir/err")" -eq 1 ] && grep -q -- '--check no_such_check: no such check' "$dir/err" ||
      fail "stderr: $(cat "$dir/err")"
    ;;
  *) fail "unknown mode" ;;
esac
echo "runner_test ($mode): ok"
