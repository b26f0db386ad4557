#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# split_userspace.py on stand-ins for tools/testing/radix-tree/maple.c, lib/maple_tree.c,
# include/linux/maple_tree.h and lib/test_maple_tree.c (userspace_fixture/): the checks
# are regression_tests()'s and farmer_tests()'s, named maple.c:<functions>; a check that
# reaches one of the tree's internals (a function it calls, not a variable of that name;
# a macro; through a helper of the file) or the harness's threads is not applicable,
# naming it and the chain; a seed 'if (COND) { ... }' is split with COND kept on each
# statement; the copy of maple.c keeps every line where it was, includes the staged test
# file instead of the tree's source and the harness, and blanks what no check reaches.
set -euo pipefail
split="$1"
here=$(cd "$(dirname "$0")" && pwd)/userspace_fixture
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "split_userspace_test: $*" >&2; exit 1; }

python3 "$split" "$here/maple.c" "$here/tree.c" "$here/tree.h" "$here/test_file.c" "$dir/maple.c" "$dir/checks.c" mmtk_test
table=$(grep -E '^	(\{ "|  [01],)' "$dir/checks.c" | paste - - |
  sed -E 's/^	\{ "([^"]*)", mmtk_conformance_check_([0-9]+), ([0-9]+), "[^"]*",[[:space:]]+[01], "([^"]*)" \},$/\2 \1 \3 \4/')
expected="0 maple.c:check_alone 53 
1 maple.c:check_public 61 
2 maple.c:check_indirect 65 uses the tree's internals: walk_down (in check_indirect -> helper_internal)
3 maple.c:check_macro 69 uses the tree's internals: node_type (in check_macro)
4 maple.c:check_threads 74 uses the userspace harness: real threads (pthread_create) (in check_threads)
5 maple.c:check_guarded 78 "
[ "$table" = "$expected" ] || fail "checks table:
$table
expected:
$expected"
grep -q '^const unsigned int mmtk_test_nr_checks = 6;$' "$dir/checks.c" || fail "no check count of 6"
grep -q '^void mmtk_test_init(void) { mmtk_conformance_userspace_init(); }$' "$dir/checks.c" || fail "init"
grep -q '^#include "maple.c"$' "$dir/checks.c" || fail "the copy is not included"
grep -q '^	if (!MAPLE_32BIT) check_guarded(&tree);$' "$dir/checks.c" || fail "the if block was not split under its guard"
[ "$(grep -c '^	DEFINE_MTREE(tree);$' "$dir/checks.c")" -eq 2 ] || fail "farmer_tests' declarations not in each of its applicable checks"
# A check that is not applicable has an empty body.
sed -n '/^static void mmtk_conformance_check_2(void)$/,/^}$/p' "$dir/checks.c" | grep -q 'check_indirect' &&
  fail "a check that is not applicable has statements"

# The copy: same lines, the tree's source and the harness out, the staged test file
# and conformance_userspace.h in, what no applicable check reaches blanked.
[ "$(wc -l <"$dir/maple.c")" -eq $(($(wc -l <"$here/maple.c") + 2)) ] || fail "the copy's lines moved"
grep -q '^#line 8 "maple.c"$' "$dir/maple.c" || fail "no #line after the inserted include"
grep -Eq 'test\.h|linux/init\.h|lib/maple_tree\.c|CONFIG_DEBUG' "$dir/maple.c" && fail "harness or tree kept"
grep -q '^#include "test_maple_tree.c"$' "$dir/maple.c" && grep -q '^#include "conformance_userspace.h"$' "$dir/maple.c" ||
  fail "includes"
grep -q 'static void check_public' "$dir/maple.c" || fail "a reached function was blanked"
grep -Eq 'helper_internal|check_indirect|farmer_tests|maple_tree_tests' "$dir/maple.c" && fail "an unreached function was kept"
grep -q '^#define check_twice' "$dir/maple.c" || fail "a macro was blanked"

# Bad input: one line, exit 2, no output.
rc=0; python3 "$split" "$here/test_file.c" "$here/tree.c" "$here/tree.h" "$here/test_file.c" "$dir/x.c" "$dir/y.c" \
  mmtk_test 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$dir/err")" -eq 1 ] && grep -q 'test_file.c: no farmer_tests() definition' "$dir/err" ||
  fail "bad input: exit $rc, $(cat "$dir/err")"
[ ! -e "$dir/y.c" ] || fail "bad input left an output file"
echo "split_userspace_test: ok"
