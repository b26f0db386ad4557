#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Splits the kernel's userspace maple tree tests (tools/testing/radix-tree/maple.c)
into separately runnable checks, keeping those that use only the tree's public and
advanced API.

maple.c is one translation unit with the kernel's lib/maple_tree.c (it includes the
tree's source, then lib/test_maple_tree.c), so its checks may reach into the tree's
internals: node types and pivots (mte_*, ma_pivots, mas_data_end), the walk's steps
(mas_descend, mas_dfs_preorder), node allocation (mas_allocated, mas_nomem). Those
cannot run against another implementation of the tree, and they are reported not
applicable with the internal they use. The rest is the conformance suite's second file.

This script reads the extracted copies (never edited) of maple.c, lib/maple_tree.c and
include/linux/maple_tree.h and writes two files into the build folder:

  - a copy of maple.c that includes the staged lib/test_maple_tree.c instead of the
    tree's source and the userspace harness (test.h), with the definitions of the
    functions no applicable check reaches blanked out (their lines kept empty, so every
    line keeps its number and the compiler names maple.c's own lines);
  - a C file that includes that copy (after src/conformance/conformance.h and
    conformance_userspace.h) and defines one function per check of maple.c's
    regression_tests() and farmer_tests(), split as split_seed.py splits
    maple_tree_seed() (a tree's mt_init*() to its mtree_destroy(), or a lone call of
    one of the file's functions), with the same table, each check named
    "maple.c:<functions>". A check is not applicable when a function it reaches (its
    own statements, maple.c's functions and macros it calls, transitively) names an
    identifier that lib/maple_tree.c defines and include/linux/maple_tree.h does not
    (the tree's internals), or one of the userspace harness's facilities that a kernel
    build has not got (threads, the slab's callbacks). The reason names the identifier
    and the chain of functions that reaches it.

Usage: split_userspace.py MAPLE_C TREE_C TREE_H TEST_C OUT_COPY OUT_C PREFIX
Bad input: one line on stderr, exit 2.
"""
import os
import re
import sys

import split_seed as seed
from split_seed import line_of

SEEDS = ("regression_tests", "farmer_tests")
NAME_PREFIX = "maple.c:"
# The userspace harness's own facilities (tools/testing/shared, liburcu, pthreads) that
# neither a kernel build nor the model's environment provides: a check that uses one
# tests the harness or needs real threads, and is not applicable.
HARNESS = {
    "pthread_create": "real threads (pthread_create)",
    "pthread_join": "real threads (pthread_join)",
    "pthread_barrier_init": "real threads (pthread_barrier)",
    "test_kmem_cache_bulk": "a test of the userspace slab itself (test_kmem_cache_bulk)",
    "kmem_cache_set_non_kernel": "the userspace slab (kmem_cache_set_non_kernel)",
    "mt_nr_allocated": "the userspace slab's allocation counters (mt_nr_allocated)",
    "mt_nr_tallocated": "the userspace slab's allocation counters (mt_nr_tallocated)",
    "mt_get_alloc_size": "the userspace slab's allocation counters (mt_get_alloc_size)",
}
# Names lib/maple_tree.c defines for the userspace harness (under #ifndef __KERNEL__)
# that the conformance runner's environment provides for both trees
# (conformance_userspace.h): the slab's budget of requests that may not sleep, its
# counters' reset, its after-failure callback; the kernel header declares the last.
PUBLIC_EXTRA = {"mt_set_non_kernel", "mt_zero_nr_tallocated", "mt_set_callback", "mt_set_private", "mt_cache_shrink"}
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case", "goto"}


class BadInput(Exception):
    pass


def directive_lines(code):
    """Offsets (start, end) of preprocessor lines, continuations included."""
    out = []
    for match in re.finditer(r"^[ \t]*#", code, re.M):
        end = match.start()
        while True:
            end = code.find("\n", end)
            if end < 0 or code[end - 1] != "\\":
                break
            end += 1
        out.append((match.start(), len(code) if end < 0 else end))
    return out


def top_level(code):
    """The file's top-level function definitions, name -> (head start, end after '}'),
    and its macros, name -> (start, end) of the #define line."""
    functions, macros = {}, {}
    directives = directive_lines(code)
    skip = {start: end for start, end in directives}
    for start, end in directives:
        match = re.match(r"[ \t]*#\s*define\s+(\w+)", code[start:end])
        if match:
            macros.setdefault(match.group(1), (start, end))
    i, n = 0, len(code)
    depth = 0
    boundary = 0
    body_start = None
    while i < n:
        if i in skip:
            if depth == 0:
                boundary = skip[i]
            i = skip[i]
            continue
        c = code[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "{":
            if depth == 0:
                head = code[boundary:i]
                if head.rstrip().endswith(")") and "=" not in head:
                    paren = _first_paren(head)
                    ident = re.findall(r"(\w+)\s*$", head[:paren]) if paren is not None else []
                    if ident:
                        body_start = (ident[0], boundary + len(head) - len(head.lstrip()))
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if body_start is not None:
                    functions.setdefault(body_start[0], (body_start[1], i + 1))
                    body_start = None
                boundary = i + 1
        elif c == ";" and depth == 0:
            boundary = i + 1
        i += 1
    if depth != 0:
        raise BadInput("unbalanced braces")
    return functions, macros


def _first_paren(head):
    match = re.search(r"\w+\s*\(", head)
    while match and match.group(0).split("(")[0].strip() in ("__attribute__",):
        match = re.search(r"\w+\s*\(", head[match.end():])
    return head.find("(", match.start()) if match else None


def identifiers(text):
    return set(re.findall(r"\b[A-Za-z_]\w*\b", text))


def internals(tree_code, header_code, test_code):
    """What lib/maple_tree.c defines (functions, macros) that neither the public header
    names nor lib/test_maple_tree.c (a kernel module, which sees only the header)
    defines for itself."""
    functions, macros = top_level(tree_code)
    test_functions, test_macros = top_level(test_code)
    public = identifiers(header_code) | PUBLIC_EXTRA | set(test_functions) | set(test_macros)
    return ({name for name in functions if name not in public}, {name for name in macros if name not in public})


def classify(check_text, functions, macros, code, internal):
    """None when the check is applicable, else the reason: the first internal or harness
    identifier found in a breadth-first walk of what it reaches, with the chain."""
    queue = [(check_text, [])]
    seen = set()
    while queue:
        text, chain = queue.pop(0)
        names = sorted(identifiers(text) - KEYWORDS)
        called = set(re.findall(r"\b(\w+)\s*\(", text))
        where = f" (in {' -> '.join(chain)})" if chain else ""
        for name in names:
            if name in HARNESS:
                return f"uses the userspace harness: {HARNESS[name]}{where}"
        # A function of the tree's counts when it is called (a local variable may
        # share its name: MA_STATE(mas_start, ...)); a macro wherever it is named.
        for name in names:
            if (name in internal[0] and name in called) or name in internal[1]:
                return f"uses the tree's internals: {name}{where}"
        for name in names:
            if name in seen:
                continue
            if name in functions:
                seen.add(name)
                start, end = functions[name]
                queue.append((code[start:end], chain + [name]))
            elif name in macros:
                seen.add(name)
                start, end = macros[name]
                queue.append((code[start:end], chain + [name]))
    return None


def reached(check_text, functions, macros, code):
    """maple.c's functions a check reaches."""
    out = set()
    queue = [check_text]
    while queue:
        text = queue.pop()
        for name in identifiers(text):
            if name in out:
                continue
            span = functions.get(name) or macros.get(name)
            if span is None:
                continue
            out.add(name)
            queue.append(code[span[0]:span[1]])
    return out


def blank(text, start, end):
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def split_if_blocks(text, code, stmts):
    """A seed statement 'if (COND) { ... }' (no else) becomes its inner statements,
    each under COND (a guard the emitted check keeps): maple.c puts a pair of checks
    under if (!MAPLE_32BIT)."""
    out = []
    for stmt in stmts:
        body = code[stmt[0]:stmt[1]]
        match = re.match(r"if\s*\(", body)
        if match and body.rstrip().endswith("}"):
            depth, k = 1, match.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(code[stmt[0] + k], 0)
                k += 1
            guard = text[stmt[0]:stmt[0] + k]
            brace = code.find("{", stmt[0] + k)
            if code[stmt[0] + k:brace].strip() == "":
                inner = seed.statements(text, code, brace + 1, stmt[1] - 1)
                for inner_stmt in inner:
                    cond = " && ".join(c for c in (stmt[2], inner_stmt[2]) if c)
                    out.append((inner_stmt[0], inner_stmt[1], cond, guard))
                continue
        out.append(stmt + (None,) if len(stmt) == 3 else stmt)
    return out


def main(argv):
    if len(argv) != 8 or not re.fullmatch(r"[A-Za-z_]\w*", argv[7]):
        print("usage: split_userspace.py MAPLE_C TREE_C TREE_H TEST_C OUT_COPY OUT_C PREFIX", file=sys.stderr)
        return 2
    maple_c, tree_c, tree_h, test_c, out_copy, out_c, prefix = argv[1:]
    try:
        texts = []
        for path in (maple_c, tree_c, tree_h, test_c):
            try:
                with open(path, encoding="utf-8") as f:
                    texts.append(f.read())
            except OSError as err:
                raise BadInput(f"{path}: {err.strerror}")
        text, tree_text, header_text, test_text = texts
        code = seed.blank_out(text)
        internal = internals(seed.blank_out(tree_text), seed.blank_out(header_text), seed.blank_out(test_text))
        functions, macros = top_level(code)
        # A lone call of one of the harness's own tests (test_kmem_cache_bulk()) is a
        # check too, not applicable.
        callable_names = (set(functions) | set(HARNESS)) - set(SEEDS) - {"main", "maple_tree_tests"}
        found = []
        if "farmer_tests" not in functions:
            raise BadInput(f"{maple_c}: no farmer_tests() definition")
        for name in SEEDS:
            if name not in functions:
                continue  # regression_tests() is new in 6.12
            start, end = functions[name]
            brace = code.find("{", start)
            stmts = split_if_blocks(text, code, seed.statements(text, code, brace + 1, end - 1))
            # Each seed function's checks start with its own declarations.
            declarations, checks = seed.checks(code, stmts, callable_names)
            for check in checks:
                check["declarations"] = declarations
            found += checks
        if not found:
            raise BadInput(f"{maple_c}: {' and '.join(SEEDS)} call none of the file's functions")
    except seed.BadInput as err:
        print(f"split_userspace.py: {maple_c}: {err}", file=sys.stderr)
        return 2
    except BadInput as err:
        print(f"split_userspace.py: {err}", file=sys.stderr)
        return 2

    keep = set()
    for check in found:
        check_text = "\n".join(code[s[0]:s[1]] for s in check["stmts"])
        check["not_applicable"] = classify(check_text, functions, macros, code, internal)
        check["name"] = NAME_PREFIX + check["name"]
        if check["not_applicable"] is None:
            keep |= reached(check_text, functions, macros, code)

    # The copy: the tree's source and the harness's headers out, test_maple_tree.c
    # staged beside it, every function no applicable check reaches blanked. The build's
    # CONFIG_ settings are the conformance build's (6.1's maple.c undefines
    # CONFIG_DEBUG_MAPLE_TREE before the test file, which would replace the runner's
    # MT_BUG_ON with the test file's own), and the module macros the test environment's.
    # So is dump_stack(): 6.1's maple.c makes it assert(0), which would redefine the
    # shim's (a named kernel.dump_stack failure carrying the dumped state).
    copy = text
    for name, (start, end) in functions.items():
        if name not in keep:
            copy = blank(copy, start, end)
    for start, end in directive_lines(code):
        line = text[start:end]
        if re.match(r"\s*#\s*include\s+\"(test\.h|\.\./\.\./\.\./lib/maple_tree\.c)\"", line) or \
           re.match(r"\s*#\s*include\s+[<\"]linux/init\.h[>\"]", line) or \
           re.match(r"\s*#\s*(define|undef)\s+(CONFIG_\w+|module_init|module_exit|MODULE_\w+|dump_stack)\b", line):
            copy = blank(copy, start, end)
    copy_name = os.path.basename(out_copy)
    include = re.search(r'^#include "\.\./\.\./\.\./lib/test_maple_tree\.c"$', copy, re.M)
    if not include:
        print(f"split_userspace.py: {maple_c}: no #include of lib/test_maple_tree.c", file=sys.stderr)
        return 2
    # What the userspace suite has that a kernel test module has not, after the test
    # module's own definitions (it makes mt_set_non_kernel() do nothing in a kernel
    # build): conformance_userspace.h. #line keeps the lines after it maple.c's.
    copy = (copy[:include.start()] + '#include "test_maple_tree.c"\n#include "conformance_userspace.h"\n'
            + f'#line {line_of(code, include.end()) + 1} "{copy_name}"' + copy[include.end():])
    result = seed.emit(text, code, [], found, copy_name, prefix,
                       init="mmtk_conformance_userspace_init",
                       source="tools/testing/radix-tree/maple.c",
                       seeds=" and ".join(f"{s}()" for s in SEEDS))
    for path, content in ((out_copy, copy), (out_c, result)):
        with open(path + ".partial", "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(path + ".partial", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
