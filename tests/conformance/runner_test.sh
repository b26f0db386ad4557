#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# runner_test.sh RUNNER MODE [EXPECTED]: mmtorture-conformance against the kernel's own
# tree (the harness's proof; with EXPECTED, the checks listed there as failing against
# this version's own tree are skipped):
#   pass     every check the preprocessor kept passes (CI's assertion budget), none fails;
#   fail     a check made to fail (--fail inverts one of its assertions) is reported
#            failed with that assertion's file:line and text, and every other check
#            still runs and passes;
#   bad      an unknown check name is one line on stderr and exit 2;
#   userspace  tools/testing/radix-tree/maple.c's checks are listed, those that use the
#            tree's internals not applicable with the internal named; check_nomem (the
#            userspace slab's failing GFP_ATOMIC request) passes, and with one of its
#            assertions inverted fails naming maple.c's line;
# and against the model, with EXPECTED (the checks known to fail on it, with reasons):
#   model    exit 0: every failure is listed and every listed check fails;
#   model-new      a failure the list does not name is new: exit 1, named;
#   model-xpass    a passing check put on the list: exit 1, named;
#   model-bad      an expected-list line naming no check: file:line, exit 2;
#   model-userspace  as userspace, against the model.
set -euo pipefail
runner="$1"
mode="$2"
expected="${3:-}"
budget=2000000
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "runner_test ($mode): $*" >&2; cat "$dir/out" >&2 || true; exit 1; }

"$runner" --list >"$dir/list"
total=$(grep -c ' line [0-9]' "$dir/list")
compiled_out=$(grep -Ec 'compiled out|not applicable: ' "$dir/list" || true)
present=$((total - compiled_out))
[ "$present" -ge 20 ] || fail "only $present checks listed"

# The kernel modes with EXPECTED: the checks that fail against this version's own tree
# (tests/conformance/kernel-<version>.expected) are skipped.
skips=()
case "$mode" in
  pass | fail)
    if [ -n "$expected" ]; then
      while read -r name _; do skips+=(--skip "$name"); done < <(grep -Ev '^(#|$)' "$expected")
    fi
    ;;
esac
skipped=$((${#skips[@]} / 2))

case "$mode" in
  pass)
    rc=0; "$runner" --budget $budget "${skips[@]}" >"$dir/out" || rc=$?
    [ $rc -eq 0 ] || fail "exit $rc"
    present=$((present - skipped))
    [ "$(grep -c '^PASS ' "$dir/out")" -eq "$present" ] || fail "not every check passed"
    grep -q "^SUMMARY: $present passed, 0 failed, $compiled_out not applicable; " "$dir/out" || fail "summary"
    ;;
  fail)
    present=$((present - skipped))
    rc=0; "$runner" --budget $budget "${skips[@]}" --fail check_iteration:5 >"$dir/out" || rc=$?
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
  model)
    rc=0; "$runner" --tree model --expect "$expected" --budget $budget --cpu-limit-s 30 >"$dir/out" || rc=$?
    [ $rc -eq 0 ] || fail "exit $rc"
    listed=$(grep -cEv '^(#|$)' "$expected" || true)  # grep -c exits 1 when it counts 0
    [ "$(grep -c '^XFAIL ' "$dir/out")" -eq "$listed" ] || fail "not every listed check failed"
    [ "$(grep -c '^PASS ' "$dir/out")" -eq $((present - listed)) ] || fail "not every other check passed"
    grep -q "^EXPECTED: $listed of the failures are listed in .*; 0 new failure(s); 0 listed check(s) passed$" \
      "$dir/out" || fail "expected line"
    ;;
  model-new)
    # A failure the list does not name (one of check_iteration's assertions inverted) is
    # new, whatever the list holds.
    rc=0; "$runner" --tree model --expect "$expected" --fail check_iteration:5 --check check_iteration \
      --check check_seq --cpu-limit-s 30 >"$dir/out" || rc=$?
    [ $rc -eq 1 ] || fail "exit $rc, expected 1"
    grep -Eq "^FAIL +check_iteration .* test_maple_tree\.c:[0-9]+ " "$dir/out" || fail "no FAIL line for check_iteration"
    grep -q '; 1 new failure(s); 0 listed check(s) passed$' "$dir/out" || fail "expected line"
    ;;
  model-xpass)
    { cat "$expected"; echo "check_seq a check that passes on the model"; } >"$dir/list"
    rc=0; "$runner" --tree model --expect "$dir/list" --check check_seq --cpu-limit-s 30 >"$dir/out" || rc=$?
    [ $rc -eq 1 ] || fail "exit $rc, expected 1"
    grep -q '^XPASS check_seq .*(listed as failing in .*: take it off the list)$' "$dir/out" || fail "no XPASS line"
    grep -q '; 0 new failure(s); 1 listed check(s) passed$' "$dir/out" || fail "expected line"
    ;;
  model-bad)
    { cat "$expected"; echo "no_such_check some reason"; } >"$dir/list"
    n=$(wc -l <"$dir/list")
    rc=0; "$runner" --tree model --expect "$dir/list" >"$dir/out" 2>"$dir/err" || rc=$?
    [ $rc -eq 2 ] || fail "exit $rc, expected 2"
    [ "$(wc -l <"$dir/err")" -eq 1 ] && grep -q -- "list:$n: no_such_check: no such check in this test file" "$dir/err" ||
      fail "stderr: $(cat "$dir/err")"
    [ ! -s "$dir/out" ] || fail "output before the bad input was found"
    ;;
  userspace | model-userspace)
    tree=kernel
    [ "$mode" = userspace ] || tree=model
    grep -Eq '^maple\.c:check_new_node +line [0-9]+  \(not applicable: uses the tree.s internals: [a-z_]+ \(in check_new_node' \
      "$dir/list" || fail "check_new_node is not listed not applicable with the internal it uses"
    grep -Eq '^maple\.c:check_nomem +line [0-9]+$' "$dir/list" || fail "check_nomem is not listed applicable"
    rc=0; "$runner" --tree $tree --check maple.c:check_nomem --check maple.c:check_new_node >"$dir/out" || rc=$?
    [ $rc -eq 0 ] || fail "exit $rc"
    grep -Eq '^PASS maple\.c:check_nomem ' "$dir/out" && grep -Eq '^N/A +maple\.c:check_new_node +uses the tree' "$dir/out" ||
      fail "check_nomem did not pass or check_new_node was not N/A"
    grep -q '^SUMMARY: 1 passed, 0 failed, 1 not applicable; ' "$dir/out" || fail "summary"
    rc=0; "$runner" --tree $tree --check maple.c:check_nomem --fail maple.c:check_nomem:2 >"$dir/out" || rc=$?
    [ $rc -eq 1 ] || fail "exit $rc, expected 1"
    grep -Eq '^FAIL maple\.c:check_nomem .* maple\.c:[0-9]+ check_nomem: MT_BUG_ON\(mt, mtree_insert\(mt, 1, &ms, GFP_ATOMIC\) != -ENOMEM\) \[value 0\]$' \
      "$dir/out" || fail "no FAIL line naming maple.c's assertion"
    ;;
  *) fail "unknown mode" ;;
esac
echo "runner_test ($mode): ok"
