#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Splits the kernel's lib/test_maple_tree.c into separately runnable checks.

The kernel runs its maple tree tests as one module init function, maple_tree_seed(),
that calls the file's check functions one after another on one static tree: the first
failure hides nothing (the kernel counts and carries on), but a crash or a hang ends
everything. mmtorture's conformance runner runs each check on its own, so this script
reads the file (an extracted copy, never edited) and writes a C file that

  - includes the test file as it is (after src/conformance/conformance.h, which counts
    each MT_BUG_ON/MAS_BUG_ON and makes the first failing one end the check);
  - defines one function per check: the seed function's local declarations, then the
    statements of that check in the seed's own order, each under the #if conditions it
    sits under in the seed, with #line directives so assertion lines are the test
    file's;
  - lists the checks in a table PREFIX_checks[PREFIX_nr_checks] (name, function, whether
    the preprocessor kept it, the condition that decides it, the seed line), with
    PREFIX_init() (the tree's maple_tree_init()) and PREFIX_assertions(passed) (the
    kernel's counters of assertions run and passed).

A check is a run of the seed's statements: from a tree's mt_init*() to its
mtree_destroy(), or a single statement outside such a pair that calls a function the
file defines (check_forking(), check_lower_bound_split(&tree), ...). Statements that call
none of the file's functions outside a pair (the banner, rcu_barrier(), the summary and
the return) are the seed's harness and are left out, as are goto statements and labels
(each check ends at its own end) and #define/#undef lines (they only name the benchmark
builds). A check is named by the file functions it calls, joined with '+'; a name seen
before gets '#2', '#3', ...

Usage: split_seed.py TEST_FILE OUT_C PREFIX
The generated file includes TEST_FILE by its base name (the build stages it beside).
Bad input (no seed function, unbalanced text): one line on stderr, exit 2.
"""
import os
import re
import sys

SEED = "maple_tree_seed"
INIT_CALLS = ("mt_init_flags", "mt_init")
DESTROY_CALLS = ("mtree_destroy", "__mt_destroy")
DECLARATION = re.compile(
    r"^(?:const\s+|static\s+|volatile\s+)*"
    r"(?:unsigned|signed|int|long|short|char|void|bool|size_t|u8|u16|u32|u64|struct\s+\w+|DEFINE_MTREE|MA_STATE)\b")


class BadInput(Exception):
    pass


def blank_out(text):
    """The text with comments, strings and character literals replaced by spaces
    (newlines kept), so offsets and line numbers stay those of the original."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BadInput("unterminated comment")
            for k in range(i, end + 2):
                if out[k] != "\n":
                    out[k] = " "
            i = end + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            for k in range(i, end):
                out[k] = " "
            i = end
        elif c in "\"'":
            k = i + 1
            while k < n and text[k] != c:
                k += 2 if text[k] == "\\" else 1
            if k >= n:
                raise BadInput("unterminated literal")
            for j in range(i + 1, k):
                if out[j] != "\n":
                    out[j] = " "
            i = k + 1
        else:
            i += 1
    return "".join(out)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def file_functions(code):
    """Names of the functions the file defines (static ... name(...) { )."""
    names = set()
    for match in re.finditer(r"^static\b", code, re.M):
        end = len(code)
        for stop in (";", "{", "="):
            at = code.find(stop, match.start())
            if 0 <= at < end:
                end = at
        if end >= len(code) or code[end] != "{":
            continue
        head = code[match.start():end]
        paren = head.find("(")
        if paren < 0:
            continue
        ident = re.findall(r"(\w+)\s*$", head[:paren])
        if ident:
            names.add(ident[0])
    names.discard(SEED)
    return names


def seed_body(code):
    match = re.search(r"^static\s+int\s+(?:__init\s+)?" + SEED + r"\s*\(\s*void\s*\)\s*\{", code, re.M)
    if not match:
        raise BadInput(f"no 'static int {SEED}(void)' definition")
    start = match.end()
    depth = 1
    i = start
    while i < len(code):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return start, i
        i += 1
    raise BadInput(f"{SEED}: unbalanced braces")


def condition_of(directive, stack):
    """Applies one #if/#ifdef/#ifndef/#elif/#else/#endif line to the condition stack
    (a list of [branch condition, conditions of the earlier branches])."""
    word, _, rest = directive.partition(" ")
    rest = rest.strip()
    if word in ("#if", "#ifdef", "#ifndef"):
        cond = {"#if": rest, "#ifdef": f"defined({rest})", "#ifndef": f"!defined({rest})"}[word]
        stack.append([cond, []])
    elif word == "#elif":
        stack[-1][1].append(stack[-1][0])
        stack[-1][0] = rest
    elif word == "#else":
        stack[-1][1].append(stack[-1][0])
        stack[-1][0] = None
    elif word == "#endif":
        stack.pop()
    else:
        return False
    return True


def flatten(stack):
    parts = []
    for cond, earlier in stack:
        parts += [f"!({c})" for c in earlier]
        if cond is not None:
            parts.append(f"({cond})")
    return " && ".join(parts)


def statements(text, code, start, end):
    """The seed body's statements: (first offset, end offset, condition) each."""
    out = []
    stack = []
    i = start
    stmt_start = None
    depth = 0
    while i < end:
        c = code[i]
        at_line_start = code[code.rfind("\n", 0, i) + 1:i].strip() == ""
        if c == "#" and at_line_start and depth == 0:
            line_end = i
            while True:
                line_end = code.find("\n", line_end)
                if line_end < 0 or code[line_end - 1] != "\\":
                    break
                line_end += 1
            line_end = end if line_end < 0 else line_end
            directive = " ".join(code[i:line_end].replace("\\\n", " ").split())
            directive = re.sub(r"^#\s*", "#", directive)
            if not condition_of(directive, stack) and not re.match(r"#(define|undef)\b", directive):
                raise BadInput(f"line {line_of(code, i)}: unexpected directive in {SEED}: {directive}")
            i = line_end
            continue
        if c.isspace():
            i += 1
            continue
        if stmt_start is None:
            stmt_start = i
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
            if depth < 0:
                raise BadInput(f"line {line_of(code, i)}: unbalanced brackets in {SEED}")
            if depth == 0 and c == "}":
                rest = code[i + 1:end].lstrip()
                if not re.match(r"(else|while)\b|;", rest):
                    out.append((stmt_start, i + 1, flatten(stack)))
                    stmt_start = None
        elif c == ";" and depth == 0:
            out.append((stmt_start, i + 1, flatten(stack)))
            stmt_start = None
        elif c == ":" and depth == 0 and re.fullmatch(r"\w+\s*", code[stmt_start:i]) and code[i + 1] != ":":
            stmt_start = None  # a label
        i += 1
    if stmt_start is not None:
        raise BadInput(f"line {line_of(code, stmt_start)}: unterminated statement in {SEED}")
    if stack:
        raise BadInput(f"{SEED}: unterminated #if")
    return out


def calls(code_text):
    return re.findall(r"\b(\w+)\s*\(", code_text)


def first_argument(code_text, name):
    match = re.search(r"\b" + name + r"\s*\(([^,)]*)", code_text)
    return match.group(1).strip() if match else None


def checks(code, stmts, functions):
    """Splits the statements into (declarations, checks); a check is a dict."""
    declarations = []
    i = 0
    while i < len(stmts) and DECLARATION.match(code[stmts[i][0]:stmts[i][1]]):
        declarations.append(stmts[i])
        i += 1
    groups = []
    open_group = None
    for stmt in stmts[i:]:
        text = code[stmt[0]:stmt[1]]
        if re.match(r"goto\b", text):
            continue
        called = calls(text)
        if open_group is not None:
            open_group["stmts"].append(stmt)
            if any(first_argument(text, d) == open_group["tree"] for d in DESTROY_CALLS if d in called):
                groups.append(open_group)
                open_group = None
            continue
        init = next((name for name in INIT_CALLS if name in called), None)
        if init:
            open_group = {"stmts": [stmt], "tree": first_argument(text, init)}
        elif any(name in functions for name in called):
            groups.append({"stmts": [stmt], "tree": None})
    if open_group is not None:
        groups.append(open_group)
    result = []
    seen = {}
    for group in groups:
        names = []
        condition = None
        for stmt in group["stmts"]:
            for name in calls(code[stmt[0]:stmt[1]]):
                if name in functions and name not in names:
                    names.append(name)
                    if condition is None:
                        condition = stmt[2]
        if not names:
            continue
        name = "+".join(names)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name += f"#{seen[name]}"
        result.append({"name": name, "stmts": group["stmts"], "condition": condition,
                       "line": line_of(code, group["stmts"][0][0])})
    return declarations, result


def c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def emit(text, code, declarations, found, include_name, prefix, init="maple_tree_init", source="lib/test_maple_tree.c",
         seeds=f"{SEED}()"):
    """The generated C file. A check may carry "not_applicable" (a reason): its function
    is empty and the table says why. A statement may carry a fourth element, a guard
    ("if (COND)") the check keeps in front of it."""
    out = [
        f"/* Generated by src/conformance/ from the kernel's {source}:",
        f" * the {len(found)} checks of {seeds}, each runnable on its own. Not a source file. */",
        '#include "conformance.h"',
        f'#include "{include_name}"',
        "",
    ]

    def statement(stmt):
        lines = []
        if stmt[2]:
            lines.append(f"#if {stmt[2]}")
        lines.append(f'#line {line_of(code, stmt[0])} "{include_name}"')
        guard = stmt[3] + " " if len(stmt) > 3 and stmt[3] else ""
        lines.append("\t" + guard + text[stmt[0]:stmt[1]])
        if stmt[2]:
            lines.append("#endif")
        return lines

    for index, check in enumerate(found):
        out.append(f"static void mmtk_conformance_check_{index}(void)")
        out.append("{")
        if not check.get("not_applicable"):
            check_declarations = check.get("declarations", declarations)
            for stmt in check_declarations:
                out += statement(stmt)
            for stmt in check["stmts"]:
                out += statement(stmt)
            for stmt in check_declarations:
                name = re.findall(r"(\w+)\s*(?:\[[^]]*\])?\s*=", code[stmt[0]:stmt[1]])
                if name:
                    out.append(f"\t(void){name[0]};")
        out.append("}")
        out.append("")
    # C linkage for what the runner looks up (the model's flavour is compiled as C++).
    out += ["#ifdef __cplusplus", 'extern "C" {', "#endif",
            f"extern const struct mmtk_conformance_check {prefix}_checks[];",
            f"extern const unsigned int {prefix}_nr_checks;",
            f"void {prefix}_init(void);",
            f"unsigned int {prefix}_assertions(int passed);",
            "#ifdef __cplusplus", "}", "#endif", ""]
    out.append(f"const struct mmtk_conformance_check {prefix}_checks[] = {{")
    for index, check in enumerate(found):
        cond = check["condition"]
        reason = c_string(check.get("not_applicable") or "")
        out.append(f"\t{{ {c_string(check['name'])}, mmtk_conformance_check_{index}, {check['line']}, {c_string(cond)},")
        if cond:
            out += [f"#if {cond}", f"\t  1, {reason} }},", "#else", f"\t  0, {reason} }},", "#endif"]
        else:
            out.append(f"\t  1, {reason} }},")
    out.append("};")
    out.append(f"const unsigned int {prefix}_nr_checks = {len(found)};")
    out.append("")
    out.append(f"void {prefix}_init(void) {{ {init}(); }}")
    out.append(f"unsigned int {prefix}_assertions(int passed)")
    out.append("{")
    out.append("\treturn atomic_read(passed ? &maple_tree_tests_passed : &maple_tree_tests_run);")
    out.append("}")
    out.append("")
    return "\n".join(out)


def main(argv):
    if len(argv) != 4 or not re.fullmatch(r"[A-Za-z_]\w*", argv[3]):
        print("usage: split_seed.py TEST_FILE OUT_C PREFIX", file=sys.stderr)
        return 2
    path, out_path, prefix = argv[1], argv[2], argv[3]
    include_name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        code = blank_out(text)
        start, end = seed_body(code)
        stmts = statements(text, code, start, end)
        declarations, found = checks(code, stmts, file_functions(code))
        if not found:
            raise BadInput(f"{SEED} calls none of the file's check functions")
    except OSError as err:
        print(f"split_seed.py: {path}: {err.strerror}", file=sys.stderr)
        return 2
    except BadInput as err:
        print(f"split_seed.py: {path}: {err}", file=sys.stderr)
        return 2
    result = emit(text, code, declarations, found, include_name, prefix)
    with open(out_path + ".partial", "w", encoding="utf-8") as f:
        f.write(result)
    os.replace(out_path + ".partial", out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
