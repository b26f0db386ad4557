#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# split_seed.py on a stand-in for lib/test_maple_tree.c (seed_fixture.c): the checks are
# the seed's init..destroy runs and the lone calls of the file's functions, in order,
# named by the file functions they call, each under its #if conditions; the seed's own
# harness statements, gotos and labels are left out; bad input is one line and exit 2.
set -euo pipefail
split="$1"
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "split_seed_test: $*" >&2; exit 1; }

python3 "$split" "$here/seed_fixture.c" "$dir/checks.c" mmtk_test
table=$(grep -E '^	\{ "' "$dir/checks.c" | sed -E 's/^	\{ "([^"]*)", mmtk_conformance_check_([0-9]+), ([0-9]+), "([^"]*)",.*/\2 \1 \3 \4/')
expected='0 bench_x 27 (defined(BENCH_X))
1 check_a 33 
2 check_standalone 37 
3 check_b+helper_load+check_a 39 
4 check_b 49 (defined(CONFIG_64BIT))
5 check_b#2 53 !(defined(CONFIG_64BIT))'
[ "$table" = "$expected" ] || fail "checks table:
$table
expected:
$expected"
grep -q '^const unsigned int mmtk_test_nr_checks = 6;$' "$dir/checks.c" || fail "no check count of 6"
grep -q '^void mmtk_test_init(void)' "$dir/checks.c" || fail "no init function"
grep -q '^#include "seed_fixture.c"$' "$dir/checks.c" || fail "the test file is not included as it is"
# The seed's harness (banner, rcu_barrier, the return), gotos and labels are in no check.
if grep -Eq 'pr_info|rcu_barrier|return (0|-EINVAL)|goto|skip:' "$dir/checks.c"; then fail "a harness statement was kept"; fi
# Every check starts with the seed's declarations and keeps the test file's lines.
[ "$(grep -c '^	void \*ptr = &set;$' "$dir/checks.c")" -eq 6 ] || fail "declarations not in every check"
grep -q '^#line 41 "seed_fixture.c"$' "$dir/checks.c" || fail "no #line for the if statement"
# The if/else statement is one statement, with the string's brace ignored.
grep -q '	if (helper_load(&tree, 1)) {' "$dir/checks.c" || fail "if statement lost"

# Bad input: one line, exit 2, no output file.
printf 'static int other(void)\n{\n\treturn 0;\n}\n' >"$dir/bad.c"
rc=0; python3 "$split" "$dir/bad.c" "$dir/bad-checks.c" mmtk_test 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] || fail "bad input: exit $rc, expected 2"
[ "$(wc -l <"$dir/err")" -eq 1 ] || fail "bad input: not one line: $(cat "$dir/err")"
grep -q "bad.c: no 'static int maple_tree_seed(void)' definition" "$dir/err" || fail "bad input message: $(cat "$dir/err")"
[ ! -e "$dir/bad-checks.c" ] || fail "bad input left an output file"
rc=0; python3 "$split" "$dir/missing.c" "$dir/x.c" mmtk_test 2>"$dir/err" || rc=$?
[ $rc -eq 2 ] && grep -q 'missing.c: No such file' "$dir/err" || fail "missing file: exit $rc, $(cat "$dir/err")"
echo "split_seed_test: ok"
